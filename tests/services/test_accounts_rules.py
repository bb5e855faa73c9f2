"""The accounts service's rules as a person meets them: the exact French messages and the field they are
shown on, the job title's 200-character limit, the audit rows written, the emails queued."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.services import ServiceError, accounts, emails, passwords
from models import AuditEvent, OutboundEmail, User
from models.wording import user_label

from . import factories

PASSWORD = "un long mot de passe sûr"
NEW = "un tout nouveau mot de passe"
TAKEN = "Cette adresse email est déjà utilisée par un autre compte."
NOT_THE_SAME = "Les deux mots de passe ne sont pas identiques."


def member(session, *, verified: bool = True, password: bool = True, job_title: str | None = None) -> User:
    user = factories.user(session, password_hash=passwords.hash_password(PASSWORD) if password else None)
    user.job_title = job_title
    if not verified:
        user.email_verified_at = None
    session.commit()
    return user


def audit_rows(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def the_row(session) -> AuditEvent:
    rows = audit_rows(session)
    assert len(rows) == 1, [r.action for r in rows]
    return rows[0]


def by_the_user_on_the_user(row: AuditEvent, user: User) -> None:
    """An entry the user wrote about their own account, labelled as the history shows it."""
    label = user_label(user)
    assert (row.actor_id, row.actor_label, row.target_type, row.target_id, row.target_label) == (
        user.id, label, "user", user.id, label)


def refused(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value


def profile(user: User, **changes) -> dict:
    return {"email": user.email, "phone": user.phone, "job_title": user.job_title, **changes}


# --- confirm_email ----------------------------------------------------------------------------------

def test_confirm_email_writes_who_verified_which_address(session):
    user = member(session, verified=False)
    address = user.email
    assert accounts.confirm_email(session, user) is True
    row = the_row(session)
    assert row.action == "user.verify_email"
    by_the_user_on_the_user(row, user)
    assert (row.before, row.after) == (None, {"email": address})


# --- set_password -----------------------------------------------------------------------------------

def test_set_password_with_two_different_entries_says_so_on_the_confirmation(session):
    user = member(session, password=False)
    error = refused(lambda: accounts.set_password(session, user, PASSWORD, NEW))
    assert (error.message, error.field) == (NOT_THE_SAME, "confirmation")


@pytest.mark.parametrize("which", ["whole address", "part before the @"])
def test_set_password_refuses_the_email_address_as_password(session, which):
    user = factories.user(session, password_hash=None)
    user.email = "jeanne.longuemarche@example.org"
    session.commit()
    typed = user.email.upper() if which == "whole address" else "Jeanne.Longuemarche"
    error = refused(lambda: accounts.set_password(session, user, typed, typed))
    assert (error.message, error.field) == ("Le mot de passe ne doit pas être votre adresse email.", "password")
    session.expire_all()
    assert user.password_hash is None and audit_rows(session) == []


@pytest.mark.parametrize("had_one, action", [(False, "user.set_password"), (True, "user.reset_password")])
def test_set_password_is_written_in_the_history_as_the_user_acting_on_their_account(session, had_one, action):
    user = member(session, password=had_one)
    accounts.set_password(session, user, NEW, NEW)
    row = the_row(session)
    assert row.action == action
    by_the_user_on_the_user(row, user)


# --- change_password --------------------------------------------------------------------------------

def test_change_password_with_a_wrong_current_password_says_so_on_that_field(session):
    user = member(session)
    error = refused(lambda: accounts.change_password(session, user, "pas le bon mot de passe", NEW, NEW))
    assert (error.message, error.field) == ("Le mot de passe actuel est incorrect.", "current")


def test_change_password_with_two_different_entries_says_so_on_the_confirmation(session):
    user = member(session)
    error = refused(lambda: accounts.change_password(session, user, PASSWORD, NEW, PASSWORD + "!"))
    assert (error.message, error.field) == (NOT_THE_SAME, "confirmation")


def test_change_password_refuses_the_email_address_as_the_new_password(session):
    user = member(session)
    name = user.email.split("@")[0] + "-longer"
    user.email = f"{name}@example.org"
    session.commit()
    error = refused(lambda: accounts.change_password(session, user, PASSWORD, name, name))
    assert (error.message, error.field) == ("Le mot de passe ne doit pas être votre adresse email.", "new")
    assert passwords.verify_password(session.get(User, user.id).password_hash, PASSWORD)


def test_change_password_is_written_in_the_history_as_the_user_acting_on_their_account(session):
    user = member(session)
    accounts.change_password(session, user, PASSWORD, NEW, NEW)
    row = the_row(session)
    assert row.action == "user.change_password"
    by_the_user_on_the_user(row, user)


# --- request_password_link --------------------------------------------------------------------------

def test_request_password_link_names_the_account_in_the_history(session):
    user = member(session)
    accounts.request_password_link(session, user.email, "198.51.100.4")
    row = the_row(session)
    assert (row.actor_id, row.actor_label, row.target_type, row.target_id, row.target_label, row.ip) == (
        None, "Système", "user", user.id, user_label(user), "198.51.100.4")


def test_request_password_link_for_an_unknown_address_is_still_recorded_against_a_user(session):
    accounts.request_password_link(session, "Personne@Example.org")
    row = the_row(session)
    assert (row.action, row.target_type, row.target_id, row.target_label) == (
        "user.password_link", "user", None, "personne@example.org")


def test_without_an_account_the_email_written_then_dropped_is_addressed_to_the_typed_address(session, monkeypatch):
    written = []
    invite = emails.enqueue_invitation
    monkeypatch.setattr(emails, "enqueue_invitation", lambda s, user: written.append(invite(s, user)) or written[-1])
    assert accounts.request_password_link(session, "Personne@Example.org") is False
    (email,) = written
    assert (email.recipient, email.kind, email.subject) == ("personne@example.org", "set_password", "Créez votre mot de passe")
    assert "https://" in email.body_text or "http://" in email.body_text
    assert session.scalars(select(OutboundEmail)).all() == []


# --- update_profile ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field, message", [
    ("phone", "Le numéro de téléphone est obligatoire."),
    ("email", "L'adresse email est obligatoire."),
])
@pytest.mark.parametrize("emptied", ["missing", "empty"])
def test_update_profile_requires_phone_and_email(session, field, message, emptied):
    user = member(session)
    data = profile(user)
    if emptied == "missing":
        del data[field]
    else:
        data[field] = ""
    error = refused(lambda: accounts.update_profile(session, user, data))
    assert (error.message, error.field) == (message, field)


def test_update_profile_accepts_a_job_title_of_exactly_200_characters(session):
    user = member(session)
    assert accounts.update_profile(session, user, profile(user, job_title="a" * 200)) is True
    session.expire_all()
    assert user.job_title == "a" * 200


def test_update_profile_refuses_a_job_title_of_201_characters_on_that_field(session):
    user = member(session, job_title="Paie")
    error = refused(lambda: accounts.update_profile(session, user, profile(user, job_title="a" * 201)))
    assert (error.message, error.field) == ("La fonction ne doit pas dépasser 200 caractères.", "job_title")
    session.expire_all()
    assert user.job_title == "Paie" and audit_rows(session) == []


def test_update_profile_refuses_invisible_characters_in_the_job_title(session):
    user = member(session)
    error = refused(lambda: accounts.update_profile(session, user, profile(user, job_title="Pa\u200bie")))
    assert (error.message, error.field) == ("La fonction contient des caractères invisibles ou de contrôle non autorisés.", "job_title")


def test_update_profile_clears_the_job_title_when_left_empty(session):
    user = member(session, job_title="Paie")
    assert accounts.update_profile(session, user, profile(user, job_title="   ")) is True
    session.expire_all()
    assert user.job_title is None
    assert (the_row(session).before, the_row(session).after) == ({"job_title": "Paie"}, {"job_title": None})


def test_an_email_held_by_another_account_is_answered_as_a_free_one_and_never_sent_to(session):
    user, other = member(session), member(session)
    assert accounts.update_profile(session, user, profile(user, email=other.email.upper(), current_password=PASSWORD)) is True
    session.expire_all()
    assert (user.pending_email, other.email) == (other.email, other.email)
    # The notice to the holder's own address is written as for a free one; nothing reaches the other account.
    assert [e.recipient for e in session.scalars(select(OutboundEmail))] == [user.email]


def test_a_new_free_email_waits_while_other_accounts_exist(session):
    user, _other = member(session), member(session)
    old = user.email
    assert accounts.update_profile(session, user, profile(user, email="libre@example.org", current_password=PASSWORD)) is True
    session.expire_all()
    assert (user.email, user.pending_email) == (old, "libre@example.org")


def test_a_changed_email_is_confirmed_from_the_new_mailbox_with_its_own_wording(session):
    user = member(session)
    accounts.update_profile(session, user, profile(user, email="nouvelle@example.org", current_password=PASSWORD))
    email = session.scalars(select(OutboundEmail).where(OutboundEmail.recipient == "nouvelle@example.org")).one()
    assert email.subject == "Confirmez votre nouvelle adresse email"
    assert "/account/confirm-new-email/" in email.body_text
    assert "vient d'être créé" not in email.body_text


def test_changing_only_the_phone_leaves_the_job_title_out_of_the_history(session):
    user = member(session, job_title="Paie")
    accounts.update_profile(session, user, profile(user, phone="07 81 22 33 44"))
    row = the_row(session)
    assert row.action == "user.update"
    by_the_user_on_the_user(row, user)
    assert (row.before, row.after) == ({"phone": "+33612345678"}, {"phone": "+33781223344"})


def test_asking_for_a_new_email_records_the_pending_address_only(session):
    user = member(session)
    old = user.email
    accounts.update_profile(session, user, profile(user, email="nouvelle@example.org", current_password=PASSWORD))
    row = the_row(session)
    by_the_user_on_the_user(row, user)
    assert row.action == "user.email_change" and old in row.target_label
    assert (row.before, row.after) == (None, {"pending_email": "nouvelle@example.org"})


@pytest.mark.parametrize("was, asked", [(True, False), (False, True)])
def test_update_profile_saves_the_request_notification_choice(session, was, asked):
    user = member(session)
    user.notify_requests = was
    session.commit()
    assert accounts.update_profile(session, user, profile(user, notify_requests=asked)) is True
    session.expire_all()
    assert user.notify_requests is asked
    row = the_row(session)
    assert (row.before, row.after) == ({"notify_requests": was}, {"notify_requests": asked})


def test_the_notification_choice_is_left_alone_when_the_form_does_not_offer_it(session):
    user = member(session)
    user.notify_requests = False
    session.commit()
    assert accounts.update_profile(session, user, profile(user, phone="07 81 22 33 44")) is True
    session.expire_all()
    assert user.notify_requests is False
    assert "notify_requests" not in the_row(session).after


def test_an_unchanged_notification_choice_is_no_change(session):
    user = member(session)
    user.notify_requests = True
    session.commit()
    assert accounts.update_profile(session, user, profile(user, notify_requests="on")) is False
    assert audit_rows(session) == []
