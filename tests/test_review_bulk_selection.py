"""Hostile review of the users' bulk actions once the service, not the view, checks the ticked selection
(admin_app.services.bulk._checked_batch): every action, posted by a client manager through HTTP with ticked,
forged, repeated or malformed ids, acts on the whole selection or on nobody, and says why in French.

Probes that held, kept as regressions."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from models import Establishment, Grant, Operation, OperationItem, User

from .databases import snapshot
from .demo import CANTINA, LUKE, OBIWAN, STAFF, TEMPLE, eid, uid
from .http import csrf_token, flashed

ACTIONS = ("activate", "deactivate", "activate_links", "delete", "invite")
VERBS = {"activate": "activer", "deactivate": "désactiver", "activate_links": "activer", "delete": "supprimer",
         "invite": "inviter"}


def post_action(client, token, action, rowids, query=""):
    return client.post(f"/admin/users/action/{query}", data={"csrf_token": token, "action": action,
                                                             "url": "/admin/users/", "rowid": rowids})


@pytest.fixture
def zed(db, demo):
    """A user on Temple JEDI (no habilitation) and on the Cantina: Luke sees him but does not govern him."""
    user = User(civility="M.", last_name="Zed", first_name="Zeta", email="zed@example.org", phone="0611223344")
    user.grants.append(Grant(establishment_id=eid(db, TEMPLE), is_primary=True))
    user.grants.append(Grant(establishment_id=eid(db, CANTINA), payments=True))
    db.session.add(user)
    db.session.commit()
    return user.id


@pytest.mark.parametrize("action", ACTIONS)
def test_a_staff_account_ticked_by_a_manager_refuses_the_whole_selection(as_user, db, action):
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    before = snapshot(db)
    for rowids in ([str(uid(db, STAFF[0]))], [str(uid(db, OBIWAN[0])), str(uid(db, STAFF[0]))]):
        response = post_action(luke, token, action, rowids)
        assert response.status_code == 302
        messages = flashed(luke)
        assert [category for category, _ in messages] == ["error"], messages
        assert "1 utilisateur(s) sélectionné(s) hors de votre périmètre" in messages[0][1], messages
    assert snapshot(db) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_a_user_the_manager_does_not_govern_refuses_the_whole_selection(as_user, db, zed, action):
    """Zed is on Luke's Temple JEDI and on the Cantina; Luke (Gestionnaire) is above Obi-Wan: each, ticked beside a
    user the actor governs, refuses the batch with the « ungoverned » message."""
    before = snapshot(db)
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    post_action(luke, token, action, [str(uid(db, OBIWAN[0])), str(zed)])
    messages = flashed(luke)
    assert len(messages) == 1 and messages[0][0] == "error", messages
    assert f"Vous ne pouvez pas {VERBS[action]} 1 des utilisateurs choisis" in messages[0][1], messages
    obiwan = as_user(OBIWAN)
    token = csrf_token(obiwan, "/admin/users/")
    post_action(obiwan, token, action, [str(uid(db, LUKE[0]))])  # Gestionnaire, above Gestion des utilisateurs
    messages = flashed(obiwan)
    assert len(messages) == 1 and messages[0][0] == "error", messages
    assert f"Vous ne pouvez pas {VERBS[action]} 1 des utilisateurs choisis" in messages[0][1], messages
    # Padmé is on the Annexe only, outside Obi-Wan's perimeter: beside Luke, she is counted as a stranger first.
    post_action(obiwan, token, action, [str(uid(db, LUKE[0])), str(uid(db, "padme.amidala@example.org"))])
    messages = flashed(obiwan)
    assert len(messages) == 1 and "1 utilisateur(s) sélectionné(s) hors de votre périmètre" in messages[0][1], messages
    assert snapshot(db) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_an_id_naming_nobody_refuses_the_whole_selection(as_user, db, action):
    """Id 0 and the id of a user gone (never reused): the selection is refused whole, Obi-Wan left as he was."""
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    before = snapshot(db)
    gone = db.session.scalar(select(func.max(User.id))) + 1000
    for rowids in ([str(uid(db, OBIWAN[0])), "0"], [str(uid(db, OBIWAN[0])), str(gone)], ["0"]):
        post_action(luke, token, action, rowids)
        messages = flashed(luke)
        assert len(messages) == 1 and messages[0][0] == "error", (rowids, messages)
        assert "introuvable(s)" in messages[0][1] and "n'a été modifié" in messages[0][1], messages
    assert snapshot(db) == before


@pytest.mark.parametrize("rowid", ["-1", "abc", "2147483648", "99999999999999999999999", "1e3", " 5", "5 ", "+5", "٣",
                                   "1_000", "", "0x10"])
def test_a_malformed_id_gets_the_french_400_and_changes_nothing(as_user, db, rowid):
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    before = snapshot(db)
    response = post_action(luke, token, "deactivate", [str(uid(db, OBIWAN[0])), rowid])
    assert response.status_code == 400
    assert "pas un nombre valide" in response.get_data(as_text=True)
    assert snapshot(db) == before


def test_an_id_ticked_twice_is_one_user_in_the_counts_items_and_message(as_user, db):
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    obiwan = uid(db, OBIWAN[0])
    post_action(luke, token, "deactivate", [str(obiwan), str(obiwan), f"{obiwan:09d}"])
    assert flashed(luke) == [("success", "1 utilisateur désactivé.")]
    db.session.expire_all()
    operation = db.session.scalars(select(Operation).order_by(Operation.id.desc())).first()
    assert (operation.requested, operation.changed, operation.unchanged) == (1, 1, 0)
    assert db.session.scalars(select(OperationItem.user_id).where(OperationItem.operation_id == operation.id)).all() == [obiwan]
    assert db.session.get(User, obiwan).active is False


def test_percent_encoded_ids_and_fields_read_as_werkzeug_reads_them(as_user, db):
    """A raw url-encoded body (the app's own parser): escaped digits are the id, '+' a space, a NUL the French 400."""
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    obiwan = uid(db, OBIWAN[0])
    escaped = "".join(f"%{ord(c):02X}" for c in str(obiwan))
    from urllib.parse import quote

    body = f"csrf_token={quote(token, safe='')}&action=deactivate&url=%2Fadmin%2Fusers%2F%3Fnom%3Dkenobi+x&rowid={escaped}"
    response = luke.post("/admin/users/action/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302 and response.location == "/admin/users/?nom=kenobi%20x"
    assert flashed(luke) == [("success", "1 utilisateur désactivé.")]
    before = snapshot(db)
    body = f"csrf_token={quote(token, safe='')}&action=activate&url=%2Fadmin%2Fusers%2F&rowid={obiwan}%00"
    response = luke.post("/admin/users/action/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "caractère nul" in response.get_data(as_text=True)
    body = f"csrf_token={quote(token, safe='')}x&action=activate&url=%2Fadmin%2Fusers%2F&rowid={obiwan}"
    luke.post("/admin/users/action/", data=body, content_type="application/x-www-form-urlencoded")
    assert snapshot(db) == before  # a CSRF token one character off activates nobody


@pytest.mark.parametrize("action", ["activate", "deactivate", "activate_links", "delete", "invite"])
def test_every_matching_user_holding_one_not_governed_changes_nobody(as_user, db, zed, action):
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    before = snapshot(db)
    response = luke.post("/admin/users/action/", data={"csrf_token": token, "action": action, "url": "/admin/users/",
                                                       "all_matching": "1"})
    assert response.status_code == 302
    messages = flashed(luke)
    assert len(messages) == 1 and messages[0][0] == "error", messages
    # Luke himself is among every matching user: deactivating or deleting says so first; otherwise Zed refuses it.
    assert ("vous-même" in messages[0][1]) or (f"Vous ne pouvez pas {VERBS[action]} 1 des utilisateurs choisis" in messages[0][1])
    assert snapshot(db) == before


# --- found by the review, fixed ------------------------------------------------------------------------

def test_an_id_holding_a_comma_gets_the_french_400_not_a_500(as_user, db):
    """ids_to_int checks the ids joined by commas: one id "3,3" must not pass for two."""
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    obiwan = uid(db, OBIWAN[0])
    before = snapshot(db)
    response = post_action(luke, token, "deactivate", [f"{obiwan},{obiwan}"])
    assert response.status_code == 400 and "pas un nombre valide" in response.get_data(as_text=True)
    response = post_action(luke, token, "deactivate", [str(obiwan), f"{obiwan},{obiwan}"])
    assert response.status_code == 400
    assert snapshot(db) == before


def committed_just_before(engine, prefixes, work):
    """Run `work` in a transaction of its own, committed just before the first statement starting with one of
    `prefixes`: what another person's request does in the window between a check and the first write.

    On SQLite the service holds the database's write lock from its first statement (BEGIN IMMEDIATE): that
    window does not exist, and the other writer is refused ("database is locked") instead of committing."""
    fired = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith(prefixes):
            fired.append(True)
            with engine.connect() as other:
                sqlite = other.dialect.name == "sqlite"
                if sqlite:
                    other.exec_driver_sql("PRAGMA busy_timeout=50")
                    other.commit()
                try:
                    with other.begin():
                        work(other)
                except OperationalError as exc:
                    assert sqlite and "locked" in str(exc)
                finally:
                    if sqlite:
                        other.exec_driver_sql("PRAGMA busy_timeout=5000")
                        other.commit()

    event.listen(engine, "before_cursor_execute", hook)
    return lambda: event.remove(engine, "before_cursor_execute", hook)


@pytest.mark.parametrize("action", ["deactivate", "delete", "activate_links"])
def test_every_matching_user_never_takes_in_a_user_who_came_into_the_filter_since_the_check(db, demo, action):
    """Luke runs « every matching user » on Zed + Paiements while, at that very moment, Paiements is ticked on Zed's
    Temple grant: Zed, whom Luke may not govern (he is on the Cantina too), came into the filter after the check.
    The action acts on the users the check saw, never on him."""
    from admin_app.authority import perimeter_of
    from admin_app.services import ServiceError
    from admin_app.services import bulk as bulk_service
    from models.queries import UserFilter

    from .services import factories as f

    temple, cantina = eid(db, TEMPLE), eid(db, CANTINA)
    session = db.session
    zed = f.user(session, [(session.get(Establishment, cantina), f.NONE), (session.get(Establishment, temple), f.NONE)],
                 name="Zed")
    session.commit()
    zed_id = zed.id
    actor = f.actor(session.scalar(select(User).where(User.email == LUKE[0])))
    perimeter = perimeter_of(session, actor)
    assert not perimeter.governs(zed)
    matching = select(User.id).where(perimeter.users(), *UserFilter(nom="Zed", habilitation="payments").clauses(perimeter.grants()))
    temple_grant = session.scalar(select(Grant.id).where(Grant.user_id == zed_id, Grant.establishment_id == temple))
    first_write = ("INSERT INTO OPERATIONS", "UPDATE USERS", "DELETE FROM GRANTS")
    stop = committed_just_before(db.engine, first_write, lambda other: other.execute(
        update(Grant).where(Grant.id == temple_grant).values(payments=True)))
    try:
        run = {"deactivate": lambda: bulk_service.set_active(session, actor, matching, False, scope="filtre : Zed"),
               "delete": lambda: bulk_service.delete_users(session, actor, matching, scope="filtre : Zed"),
               "activate_links": lambda: bulk_service.activate_and_send_links(session, actor, matching, scope="filtre : Zed")}
        run[action]()
    except ServiceError:
        pass  # refused whole: fine too
    finally:
        stop()
    session.expire_all()
    still = session.get(User, zed_id)
    assert still is not None and still.active
    assert sorted(session.scalars(select(Grant.establishment_id).where(Grant.user_id == zed_id))) == sorted([temple, cantina])
    assert session.scalar(select(func.count()).select_from(OperationItem).where(OperationItem.user_id == zed_id)) == 0
