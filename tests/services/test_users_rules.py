"""Creating accounts as the person doing it meets it: the exact French refusal, the field it is shown on,
and the history entry naming the new account."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_app.services import SYSTEM_ACTOR, ServiceError
from admin_app.services import users as user_service
from models import AuditEvent, User

from . import factories as f


def person(**over) -> dict:
    return {"civility": "Mme", "last_name": "Organa", "first_name": "Leia", "email": "Leia.Organa@Example.org",
            "phone": "06 12 34 56 78", "job_title": "DRH", **over}


def refused(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("password, message", [
    ("court", "Le mot de passe doit comporter au moins 12 caractères."),
    ("leia.organa@example.org", "Le mot de passe ne doit pas être votre adresse email."),
    ("azertyuiop123", "Ce mot de passe est trop courant : choisissez-en un autre."),
])
def test_create_staff_refuses_a_weak_password_on_its_field(session, password, message):
    error = refused(lambda: user_service.create_staff(session, SYSTEM_ACTOR, person(), password))
    assert (error.message, error.field) == (message, "password")
    assert session.scalars(select(User)).all() == []


def test_create_staff_names_the_new_account_in_the_history(session):
    user = user_service.create_staff(session, SYSTEM_ACTOR, person(), "un mot de passe assez long")
    session.expire_all()
    (row,) = session.scalars(select(AuditEvent)).all()
    assert (row.action, row.actor_id, row.actor_label, row.target_type, row.target_id, row.target_label) == (
        "user.create", None, "Système", "user", user.id, "ORGANA Leia <leia.organa@example.org>")
    assert row.after["is_staff"] is True and row.after["email"] == "leia.organa@example.org"


def test_an_administrator_must_attach_the_new_user_to_one_of_their_establishments(session):
    where = f.establishment(session)
    manager = f.user(session, [(where, f.MANAGER)])
    session.commit()
    error = refused(lambda: user_service.create_user(session, f.actor(manager), person(), []))
    assert error.message == "Rattachez le nouvel utilisateur à au moins un de vos établissements."
    assert session.scalar(select(User.id).where(User.email == "leia.organa@example.org")) is None
