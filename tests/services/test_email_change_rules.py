"""services.email_change, rule by rule: what the history says of each step (who, about whom, from where), the
wording of the link sent when an unproven address is replaced, and a « ce n'était pas moi » that cannot take back
an address another account holds since. The journey itself: tests/services/test_email_change.py."""

from __future__ import annotations

import pytest
from flask import current_app

from admin_app.services import ServiceError, accounts, email_change, passwords
from admin_app.services import users as user_service
from admin_app.services.tokens import Purpose, read_email_change_token
from models import Habilitation as H
from models import User

from . import factories as f

PASSWORD = "un long mot de passe sûr"
IP = "203.0.113.7"


def holder(session) -> User:
    user = f.user(session, [(f.establishment(session), [H.REPORTING])], password_hash=passwords.hash_password(PASSWORD))
    session.commit()
    return user


def ask(session, user: User, new_email: str) -> None:
    accounts.update_profile(session, user, {"email": new_email, "phone": user.phone, "current_password": PASSWORD})


def link(session, kind: str, purpose: Purpose) -> tuple[User, str, str]:
    (email,) = f.outbox(session, kind)
    path = "/account/confirm-new-email/" if kind == "confirm_email_change" else "/account/cancel-email-change/"
    token = email.body_text.split(path, 1)[1].split()[0]
    found, old, new, problem = read_email_change_token(session, current_app.config["SECRET_KEY"], purpose, token,
                                                       current_app.config["EMAIL_LINK_MAX_AGE"])
    assert problem is None
    return found, old, new


def history(session, action: str) -> tuple:
    (event,) = f.events(session, action)
    return (event.actor_id, event.ip, event.target_type, event.target_id, event.target_label, event.before, event.after)


def test_an_unproven_address_replaced_by_staff_is_recorded_and_the_new_one_told_why(session):
    staff = f.user(session, staff=True)
    target = f.user(session, [(f.establishment(session), [H.REPORTING])])
    target.email_verified_at = None
    session.commit()
    old = target.email
    data = {name: getattr(target, name) for name in ("civility", "last_name", "first_name", "phone", "job_title")}
    user_service.update_user(session, f.actor(staff), target, target.version, {**data, "email": "neuve@example.org"})
    session.expire_all()
    saved = session.get(User, target.id)
    assert (saved.email, saved.pending_email) == ("neuve@example.org", None)
    assert history(session, "user.update") == (
        staff.id, None, "user", target.id, f"{saved.full_name} <neuve@example.org>",
        {"email": old}, {"email": "neuve@example.org"})
    (verify,) = f.outbox(session, "verify_email")
    assert verify.recipient == "neuve@example.org"
    assert "vient d'être modifiée" in verify.body_text and "vient d'être créé" not in verify.body_text


def test_a_confirmed_change_is_recorded_as_the_account_holders_own_act(session):
    user = holder(session)
    old = user.email
    ask(session, user, "nouvelle@example.org")
    email_change.confirm(session, *link(session, "confirm_email_change", Purpose.CONFIRM_EMAIL_CHANGE))
    assert history(session, "user.email_changed") == (
        user.id, None, "user", user.id, f"{user.full_name} <nouvelle@example.org>",
        {"email": old}, {"email": "nouvelle@example.org"})


def test_a_cancellation_is_recorded_as_the_account_holders_own_act_from_their_address(session):
    user = holder(session)
    old = user.email
    ask(session, user, "pirate@example.org")
    email_change.cancel(session, *link(session, "email_change_notice", Purpose.CANCEL_EMAIL_CHANGE), ip=IP)
    assert history(session, "user.email_change_cancelled") == (
        user.id, IP, "user", user.id, f"{user.full_name} <{old}>",
        {"email": old, "pending_email": "pirate@example.org"}, {"email": old, "pending_email": None})
    (event,) = f.events(session, "user.email_change_cancelled")
    assert event.actor_label == f"{user.full_name} <{old}>"


def test_ce_n_etait_pas_moi_cannot_take_back_an_address_another_account_holds_since(session):
    user = holder(session)
    old = user.email
    ask(session, user, "pirate@example.org")
    cancel = link(session, "email_change_notice", Purpose.CANCEL_EMAIL_CHANGE)
    email_change.confirm(session, *link(session, "confirm_email_change", Purpose.CONFIRM_EMAIL_CHANGE))
    other = f.user(session)
    other.email = old
    session.commit()
    with pytest.raises(ServiceError, match="n'est plus en attente"):
        email_change.cancel(session, *cancel, ip=IP)
    session.expire_all()
    saved = session.get(User, user.id)
    assert (saved.email, saved.password_hash is not None) == ("pirate@example.org", True)
    assert f.events(session, "user.email_change_cancelled") == []
