"""services.email_change called directly: an address becomes the account's only once its mailbox proved it."""

from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy.orm import Session

from admin_app.services import ServiceError, accounts, email_change, passwords, sessions
from admin_app.services import bulk as bulk_service
from admin_app.services import users as user_service
from admin_app.services.tokens import Purpose, TokenProblem, make_token, read_email_change_token, read_token
from models import Habilitation as H
from models import User

from . import factories as f

PASSWORD = "un long mot de passe sûr"


def holder(session) -> User:
    user = f.user(session, password_hash=passwords.hash_password(PASSWORD))
    session.commit()
    return user


def ask(session, user: User, new_email: str) -> None:
    accounts.update_profile(session, user, {"email": new_email, "phone": user.phone, "current_password": PASSWORD})


def link_of(session, kind: str) -> str:
    (email,) = f.outbox(session, kind)
    return email.body_text


def token_of(session, kind: str) -> str:
    body = link_of(session, kind)
    path = "/account/confirm-new-email/" if kind == "confirm_email_change" else "/account/cancel-email-change/"
    return body.split(path, 1)[1].split()[0]


def read(session, purpose: Purpose, token: str):
    return read_email_change_token(session, current_app.config["SECRET_KEY"], purpose, token,
                                   current_app.config["EMAIL_LINK_MAX_AGE"])


def fresh(session, user: User) -> User:
    session.expire_all()
    return session.get(User, user.id)


def test_the_new_mailbox_confirms_and_the_address_becomes_the_login(session):
    user = holder(session)
    old = user.email
    password_link = make_token(current_app.config["SECRET_KEY"], Purpose.SET_PASSWORD, user)
    ask(session, user, "nouvelle@example.org")
    found, old_email, new_email, problem = read(session, Purpose.CONFIRM_EMAIL_CHANGE, token_of(session, "confirm_email_change"))
    assert (found.id, old_email, new_email, problem) == (user.id, old, "nouvelle@example.org", None)
    email_change.confirm(session, found, old_email, new_email)
    saved = fresh(session, user)
    assert (saved.email, saved.pending_email, saved.pending_email_at) == ("nouvelle@example.org", None, None)
    assert saved.email_verified_at is not None
    (event,) = f.events(session, "user.email_changed")
    assert (event.before, event.after) == ({"email": old}, {"email": "nouvelle@example.org"})
    # A link sent to the old mailbox before the change no longer works.
    assert read_token(session, current_app.config["SECRET_KEY"], Purpose.SET_PASSWORD, password_link,
                      current_app.config["EMAIL_LINK_MAX_AGE"])[1] is TokenProblem.USED
    assert sessions.authenticate(session, "nouvelle@example.org", PASSWORD) is not None
    assert sessions.authenticate(session, old, PASSWORD) is None


def test_until_then_the_old_address_is_the_login_and_the_new_one_opens_nothing(session):
    user = holder(session)
    old = user.email
    ask(session, user, "nouvelle@example.org")
    assert sessions.authenticate(session, "nouvelle@example.org", PASSWORD) is None
    assert sessions.authenticate(session, old, PASSWORD).id == user.id


def test_a_second_request_replaces_the_first_whose_link_dies(session):
    user = holder(session)
    ask(session, user, "premiere@example.org")
    first = token_of(session, "confirm_email_change")
    ask(session, user, "seconde@example.org")
    found, old_email, new_email, _ = read(session, Purpose.CONFIRM_EMAIL_CHANGE, first)
    with pytest.raises(ServiceError, match="n'est plus en attente"):
        email_change.confirm(session, found, old_email, new_email)
    assert fresh(session, user).pending_email == "seconde@example.org"


def test_an_address_taken_meanwhile_is_not_confirmed(session):
    user = holder(session)
    ask(session, user, "convoitee@example.org")
    token = token_of(session, "confirm_email_change")
    other = f.user(session)
    other.email = "convoitee@example.org"
    session.commit()
    found, old_email, new_email, _ = read(session, Purpose.CONFIRM_EMAIL_CHANGE, token)
    with pytest.raises(ServiceError, match="désormais utilisée"):
        email_change.confirm(session, found, old_email, new_email)
    saved = fresh(session, user)
    assert (saved.email, saved.pending_email) == (old_email, "convoitee@example.org")


def test_ce_n_etait_pas_moi_cancels_ends_every_session_and_asks_for_a_new_password(session):
    user = holder(session)
    old, old_session = user.email, user.session_token
    ask(session, user, "pirate@example.org")
    found, old_email, new_email, _ = read(session, Purpose.CANCEL_EMAIL_CHANGE, token_of(session, "email_change_notice"))
    email_change.cancel(session, found, old_email, new_email)
    saved = fresh(session, user)
    assert (saved.email, saved.pending_email, saved.password_hash) == (old, None, None)
    assert saved.session_token != old_session
    (event,) = f.events(session, "user.email_change_cancelled")
    assert event.before == {"email": old, "pending_email": "pirate@example.org"}
    (password_email,) = f.outbox(session, "set_password")
    assert password_email.recipient == old
    assert sessions.authenticate(session, old, PASSWORD) is None  # the password the intruder knew is gone


def test_ce_n_etait_pas_moi_after_the_intruder_confirmed_gives_the_address_back(session):
    user = holder(session)
    old = user.email
    ask(session, user, "pirate@example.org")
    confirm, cancel = token_of(session, "confirm_email_change"), token_of(session, "email_change_notice")
    email_change.confirm(session, *read(session, Purpose.CONFIRM_EMAIL_CHANGE, confirm)[:3])
    assert fresh(session, user).email == "pirate@example.org"
    email_change.cancel(session, *read(session, Purpose.CANCEL_EMAIL_CHANGE, cancel)[:3])
    saved = fresh(session, user)
    assert (saved.email, saved.pending_email, saved.password_hash) == (old, None, None)
    # Used once: the same link again finds nothing to cancel.
    with pytest.raises(ServiceError, match="n'est plus en attente"):
        email_change.cancel(session, *read(session, Purpose.CANCEL_EMAIL_CHANGE, cancel)[:3])


def test_links_of_an_address_change_are_bound_to_their_purpose(session):
    user = holder(session)
    ask(session, user, "nouvelle@example.org")
    confirm = token_of(session, "confirm_email_change")
    assert read(session, Purpose.CANCEL_EMAIL_CHANGE, confirm)[3] is TokenProblem.INVALID
    assert read_token(session, current_app.config["SECRET_KEY"], Purpose.SET_PASSWORD, confirm,
                      current_app.config["EMAIL_LINK_MAX_AGE"])[1] is TokenProblem.INVALID


def test_a_deactivation_voids_the_change_even_once_the_account_is_active_again(session):
    user = holder(session)
    ask(session, user, "nouvelle@example.org")
    token = token_of(session, "confirm_email_change")
    staff = f.user(session, staff=True)
    session.commit()
    bulk_service.set_active(session, f.actor(staff), [user.id], False)
    assert read(session, Purpose.CONFIRM_EMAIL_CHANGE, token)[3] is TokenProblem.INACTIVE
    assert fresh(session, user).pending_email is None
    bulk_service.set_active(session, f.actor(staff), [user.id], True)
    found, old_email, new_email, problem = read(session, Purpose.CONFIRM_EMAIL_CHANGE, token)
    assert problem is None
    with pytest.raises(ServiceError, match="n'est plus en attente"):
        email_change.confirm(session, found, old_email, new_email)
    assert fresh(session, user).email == old_email


def test_a_delegated_administrator_asking_for_a_taken_address_is_answered_as_for_a_free_one(session):
    a = f.establishment(session)
    manager, owner = f.user(session, [(a, f.MANAGER)]), f.user(session)
    session.commit()
    seen = []
    for address in ("libre@example.org", owner.email):
        target = f.user(session, [(a, [H.REPORTING])])
        session.commit()
        before = len(f.outbox(session))
        edit_as(session, manager, target, address)  # no refusal either way
        seen.append((fresh(session, target).pending_email == address, [e.kind for e in f.outbox(session)[before:]]))
    # The same state and answer; for the taken address, only the notice to the account's own address leaves.
    assert seen == [(True, ["confirm_email_change", "email_change_notice"]), (True, ["email_change_notice"])]


def test_staff_are_told_that_an_address_is_taken(session):
    staff, owner = f.user(session, staff=True), f.user(session)
    target = f.user(session, [(f.establishment(session), [H.REPORTING])])
    session.commit()
    with pytest.raises(ServiceError, match="déjà utilisée") as refused:
        edit_as(session, staff, target, owner.email)
    assert refused.value.field == "email"
    assert fresh(session, target).pending_email is None


def edit_as(session, actor: User, target: User, address: str) -> None:
    data = {name: getattr(target, name) for name in ("civility", "last_name", "first_name", "phone", "job_title")}
    user_service.update_user(session, f.actor(actor), target, target.version, {**data, "email": address})


def test_a_delegated_administrator_hands_over_only_an_account_that_holds_nothing_beyond_them(session):
    """A new address gives the account to whoever reads it: Obi-Wan (Gestion des utilisateurs and Prise en charge
    on A) may move a user who holds Prise en charge, not one who also holds Données sensibles."""
    a = f.establishment(session)
    obiwan = f.user(session, [(a, [H.USER_ADMIN, H.FUNDING])])
    plain, sensitive = f.user(session, [(a, [H.FUNDING])]), f.user(session, [(a, [H.FUNDING, H.SENSITIVE_DATA])])
    session.commit()
    edit_as(session, obiwan, plain, "ailleurs@example.net")
    assert fresh(session, plain).pending_email == "ailleurs@example.net"
    before = len(f.outbox(session))
    with pytest.raises(ServiceError, match=r"habilitations que vous n'avez pas vous-même \(Données sensibles\)") as refused:
        edit_as(session, obiwan, sensitive, "ailleurs2@example.net")
    assert refused.value.field == "email"
    assert fresh(session, sensitive).pending_email is None and len(f.outbox(session)) == before


def test_after_a_confirmed_change_the_old_address_stays_the_account_s(session):
    """Nobody may take the address a change replaced while its « ce n'était pas moi » lives: not a creation, not
    another account's change."""
    user, other = holder(session), holder(session)
    old = user.email
    ask(session, user, "nouvelle@example.org")
    email_change.confirm(session, *read(session, Purpose.CONFIRM_EMAIL_CHANGE, token_of(session, "confirm_email_change"))[:3])
    assert email_change.address_in_use(session, old)
    staff = f.user(session, staff=True)
    session.commit()
    with pytest.raises(ServiceError, match="déjà utilisée"):
        edit_as(session, staff, other, old)


def test_chained_changes_keep_the_first_address_and_tell_it(session):
    """An intruder who confirms a second change cannot void the first « ce n'était pas moi »: the first address is
    kept, and told of the second change too."""
    user = holder(session)
    old = user.email
    ask(session, user, "pirate1@example.net")
    cancel = token_of(session, "email_change_notice")
    email_change.confirm(session, *read(session, Purpose.CONFIRM_EMAIL_CHANGE, token_of(session, "confirm_email_change"))[:3])
    accounts.update_profile(session, fresh(session, user), {"email": "pirate2@example.net", "phone": user.phone,
                                                            "current_password": PASSWORD})
    notices = [e.recipient for e in f.outbox(session, "email_change_notice")]
    assert notices == [old, "pirate1@example.net", old]
    second = [e for e in f.outbox(session, "confirm_email_change") if e.recipient == "pirate2@example.net"][0].body_text
    token = second.split("/account/confirm-new-email/", 1)[1].split()[0]
    email_change.confirm(session, *read(session, Purpose.CONFIRM_EMAIL_CHANGE, token)[:3])
    assert fresh(session, user).email == "pirate2@example.net"
    email_change.cancel(session, *read(session, Purpose.CANCEL_EMAIL_CHANGE, cancel)[:3])
    saved = fresh(session, user)
    assert (saved.email, saved.previous_email, saved.password_hash) == (old, None, None)


def test_a_link_of_an_account_deleted_since_it_was_opened_says_so(session):
    user = holder(session)
    ask(session, user, "nouvelle@example.org")
    found, old_email, new_email, _ = read(session, Purpose.CONFIRM_EMAIL_CHANGE, token_of(session, "confirm_email_change"))
    staff = f.user(session, staff=True)
    session.commit()
    with Session(bind=session.get_bind()) as other:  # deleted by someone else while the link's page was open
        bulk_service.delete_users(other, f.actor(other.get(User, staff.id)), [user.id])
    with pytest.raises(ServiceError, match="n'est plus en attente"):
        email_change.confirm(session, found, old_email, new_email)
