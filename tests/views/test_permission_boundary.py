"""The permission boundary through HTTP: the grant editor draws, and the service enforces, the same answer.

Obi-Wan (demo) holds Prise en charge, Contrat de professionnalisation and Gestion des utilisateurs on Temple JEDI
00015: those are all he may give or take there. Luke is Gestionnaire there: he may touch every box.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from admin_app.services.passwords import hash_password
from models import Grant, User, utcnow

from ..databases import snapshot
from ..demo import LUKE, OBIWAN, TEMPLE, eid, uid
from ..http import csrf_token, grants_post, login, text

BOUNDARY = "que les habilitations que vous détenez vous-même sur cet établissement"
LOCKED_FOR_OBIWAN = {"manager", "sensitive_data", "payments", "reporting"}


@pytest.fixture
def rey(db, demo):
    """A user of Temple JEDI holding Prise en charge and Données sensibles there."""
    user = User(civility="Mme", last_name="Skywalker", first_name="Rey", email="rey@example.org", phone="0611223344",
                email_verified_at=utcnow())
    user.grants.append(Grant(establishment_id=eid(db, TEMPLE), is_primary=True, funding=True, sensitive_data=True))
    db.session.add(user)
    db.session.commit()
    return user.id


def flags_on_temple(db, user_id: int) -> set[str]:
    db.session.expire_all()
    grant = db.session.scalar(select(Grant).where(Grant.user_id == user_id, Grant.establishment_id == eid(db, TEMPLE)))
    return set() if grant is None else {name for name, ticked in grant.flags().items() if ticked}


def test_a_sock_puppet_cannot_give_obiwan_what_he_never_held(app, as_user, db):
    obiwan, temple = as_user(OBIWAN), eid(db, TEMPLE)
    url = "/admin/users/new/"
    created = obiwan.post(url, data={"civility": "M.", "last_name": "Marionnette", "first_name": "Ben",
                                     "email": "ben.puppet@example.org", "phone": "0611223355", "csrf_token": csrf_token(obiwan, url),
                                     "grants-present": "1", "grants-establishment": [str(temple)], "grants-primary": str(temple),
                                     f"grants-{temple}-user_admin": "1"})
    assert created.status_code == 302 and "/admin/users/edit/" in created.location
    puppet_id = uid(db, "ben.puppet@example.org")
    assert flags_on_temple(db, puppet_id) == {"user_admin"}
    # He controls the address: the puppet gets its password and its proven email (as the links would give them).
    puppet = db.session.get(User, puppet_id)
    puppet.password_hash, puppet.email_verified_at = hash_password("marionnette-2026-longue"), utcnow()
    db.session.commit()
    client = app.test_client()
    assert login(client, "ben.puppet@example.org", "marionnette-2026-longue").status_code == 302
    obiwan_id = uid(db, OBIWAN[0])
    before = snapshot(db), flags_on_temple(db, obiwan_id)
    response = grants_post(client, db, obiwan_id,
                           [(temple, ["funding", "apprenticeship", "user_admin", "sensitive_data", "payments", "reporting"])], temple)
    assert response.status_code == 200
    assert BOUNDARY in text(response) and "Données sensibles, Collecte / versements, Données des reporting" in text(response)
    assert (snapshot(db), flags_on_temple(db, obiwan_id)) == before
    assert flags_on_temple(db, obiwan_id) == {"funding", "apprenticeship", "user_admin"}


def test_obiwan_takes_away_nothing_he_does_not_hold(as_user, db, rey):
    obiwan, temple = as_user(OBIWAN), eid(db, TEMPLE)
    # Detaching her from Temple JEDI would take away her Données sensibles: refused, nothing changed.
    detached = grants_post(obiwan, db, rey, [], "")
    assert detached.status_code == 200 and BOUNDARY in text(detached) and "Données sensibles" in text(detached)
    assert flags_on_temple(db, rey) == {"funding", "sensitive_data"}
    # A forged post giving what he does not hold is refused whole (his own Prise en charge change included).
    forged = grants_post(obiwan, db, rey, [(temple, ["sensitive_data", "payments"])], temple)
    assert forged.status_code == 200 and text(forged).count(BOUNDARY) >= 1 and "Collecte / versements" in text(forged)
    assert flags_on_temple(db, rey) == {"funding", "sensitive_data"}
    # The browser does not send the disabled, ticked box: saving what he may change keeps it.
    saved = grants_post(obiwan, db, rey, [(temple, ["apprenticeship"])], temple)
    assert saved.status_code == 302
    assert flags_on_temple(db, rey) == {"apprenticeship", "sensitive_data"}
    # Nor does leaving Luke's Gestionnaire box out take it away (tests/views/test_delegation.py: detaching him is refused).
    luke = uid(db, LUKE[0])
    grants_post(obiwan, db, luke, [(temple, ["funding"])], temple)
    assert "manager" in flags_on_temple(db, luke)


def test_luke_gives_and_takes_every_habilitation_on_his_establishments(as_user, db, rey):
    luke, temple = as_user(LUKE), eid(db, TEMPLE)
    everything = ["funding", "apprenticeship", "sensitive_data", "payments", "reporting", "user_admin"]
    assert grants_post(luke, db, rey, [(temple, everything)], temple).status_code == 302
    assert flags_on_temple(db, rey) == set(everything)
    assert grants_post(luke, db, rey, [(temple, ["manager"])], temple).status_code == 302
    assert flags_on_temple(db, rey) == set(everything) | {"manager"}
    assert grants_post(luke, db, rey, [(temple, [])], temple).status_code == 302
    assert flags_on_temple(db, rey) == set()


def boxes(html: str, row: str) -> dict[str, str]:
    """Each checkbox of one editor row (establishment id or "__ID__"): habilitation -> its tag."""
    return {m.group(1): m.group(0) for m in re.finditer(rf'<input[^>]*name="grants-{row}-(\w+)"[^>]*>', html)}


def test_the_editor_draws_the_boundary_for_obiwan_and_none_for_luke(as_user, db, rey):
    temple = eid(db, TEMPLE)
    html = text(as_user(OBIWAN).get(f"/admin/users/edit/?id={rey}"))
    for row in (str(temple), "__ID__"):  # her row, and a row still to add (he administers Temple JEDI only)
        drawn = boxes(html, row)
        assert {h for h, tag in drawn.items() if " disabled" in tag} == LOCKED_FOR_OBIWAN, row
        for h in LOCKED_FOR_OBIWAN:
            assert "data-locked" in drawn[h] and f'aria-describedby="grant-{row}-boundary"' in drawn[h]
            assert 'title="Vous ne pouvez accorder ou retirer' in drawn[h]
        note = re.search(rf'<p [^>]*id="grant-{row}-boundary">([^<]*)</p>', html)
        assert note and note.group(1) == ("Vous ne pouvez accorder ou retirer que les habilitations que vous détenez vous-même sur "
                                          "cet établissement : Gestionnaire, Données sensibles, Collecte / versements, "
                                          "Données des reporting.")
    assert 'checked disabled data-locked' in boxes(html, str(temple))["sensitive_data"]  # ticked, kept, untouchable
    # Removing her row would take away her Données sensibles: the button is disabled, saying why.
    remove = re.search(r'<button[^>]*class="[^"]*grant-remove[^>]*>', html).group(0)
    assert " disabled" in remove and f"grant-{temple}-boundary" in remove
    luke = text(as_user(LUKE).get(f"/admin/users/edit/?id={rey}"))
    assert "data-locked" not in luke and "grant-boundary" not in luke
    assert not any(" disabled" in tag for tag in boxes(luke, str(temple)).values())


def test_a_refused_save_draws_the_disabled_ticked_box_again_as_stored(as_user, db, rey):
    temple = eid(db, TEMPLE)
    stale = grants_post(as_user(OBIWAN), db, rey, [(temple, ["apprenticeship"])], temple, version="0")
    assert stale.status_code == 200
    drawn = boxes(text(stale), str(temple))
    assert "checked disabled data-locked" in drawn["sensitive_data"] and "checked" in drawn["apprenticeship"]
    assert flags_on_temple(db, rey) == {"funding", "sensitive_data"}
