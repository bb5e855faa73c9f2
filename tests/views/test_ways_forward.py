"""The guide's dead ends, opened: "email déjà utilisée" offers to ask the holder to join, and activating a
user can send them the password link they need (the guide's "en cas d'absence ou d'oubli de mot de passe")."""

from __future__ import annotations

import re

from sqlalchemy import select

from models import AccountRequest, OutboundEmail, RequestStatus, User

from ..demo import LUKE, TEMPLE, eid
from ..http import csrf_token

LANDO = "lando.calrissian@example.org"  # works for another company (OPCA DEFI)


def create_post(client, **changes):
    url = "/admin/users/new/"
    data = {"civility": "M.", "last_name": "Calrissian", "first_name": "Lando", "email": LANDO, "phone": "0644332211",
            "job_title": "", "csrf_token": csrf_token(client, url)}
    data.update(changes)
    return client.post(url, data=data)


def test_an_existing_email_offers_to_ask_its_holder_to_join(as_user, db):
    luke = as_user(LUKE)
    page = create_post(luke, **{"grants-present": "1", "grants-establishment": str(eid(db, TEMPLE)),
                                "grants-primary": str(eid(db, TEMPLE))}).get_data(as_text=True)
    assert "Cette adresse email ne peut pas être utilisée pour un nouveau compte" in page and 'id="existing-account"' in page
    assert "Proposer le rattachement" in page and "ouvrez sa fiche" not in page  # Luke cannot see Lando
    token = re.search(r'id="existing-account".*?name="csrf_token" type="hidden" value="([^"]+)"', page, re.S).group(1)
    response = luke.post("/admin/users/claim-existing/", data={"csrf_token": token, "email": LANDO,
                                                               "establishment": str(eid(db, TEMPLE))})
    assert response.status_code == 302 and response.location == "/admin/users/"
    claim = db.session.scalar(select(AccountRequest).where(AccountRequest.email == LANDO))
    assert (claim.status, claim.siret) == (RequestStatus.UNCONFIRMED.value, TEMPLE)
    asked = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == LANDO))
    assert asked.kind == "confirm_attachment" and "SKYWALKER Luke" in asked.body_text
    # Nothing is attached until Lando confirms, and even a forged post cannot reach another company's site.
    lando = db.session.scalar(select(User).where(User.email == LANDO))
    assert [g.establishment.siret for g in lando.grants] == ["40282065800217"]
    forged = luke.post("/admin/users/claim-existing/", data={"csrf_token": token, "email": LANDO,
                                                             "establishment": str(eid(db, "40282065800217"))},
                       follow_redirects=True)
    assert "hors de votre périmètre" in forged.get_data(as_text=True)
    assert luke.post("/admin/users/claim-existing/", data={"email": LANDO, "establishment": "1"}).status_code == 400


def test_staff_are_pointed_to_the_existing_account(staff_client, db):
    page = create_post(staff_client).get_data(as_text=True)
    lando_id = db.session.scalar(select(User.id).where(User.email == LANDO))
    assert f"/admin/users/edit/?id={lando_id}" in page


def test_activating_with_a_password_link(as_user, db):
    luke = as_user(LUKE)
    padme = db.session.scalar(select(User).where(User.email == "padme.amidala@example.org"))
    assert not padme.active
    response = luke.post("/admin/users/action/", data={"action": "activate_links", "rowid": [str(padme.id)],
                                                       "csrf_token": csrf_token(luke, "/admin/users/")},
                         follow_redirects=True)
    assert "1 utilisateur activé ; 1 lien envoyé par email." in response.get_data(as_text=True).replace("&#39;", "'")
    db.session.expire_all()
    assert db.session.get(User, padme.id).active
    sent = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == padme.email))
    assert (sent.kind, sent.subject) == ("set_password", "Choisissez un nouveau mot de passe")
