"""models.wording: counts and people worded once, the Python label and the SQL label alike."""

from __future__ import annotations

from sqlalchemy import select

from admin_app.services.common import Actor
from models import AccountRequest, User
from models.wording import label, plural, request_label, thousands, user_label, user_label_sql

from . import factories as f


def test_counts_the_french_way():
    assert (thousands(None), thousands(0), thousands(999), thousands(13_555), thousands(1_000_001)) == (
        "", "0", "999", "13\u202f555", "1\u202f000\u202f001")
    assert [plural(n, "lien envoyé", "liens envoyés") for n in (0, 1, 2, 13_555)] == [
        "0 lien envoyé", "1 lien envoyé", "2 liens envoyés", "13\u202f555 liens envoyés"]


def test_a_user_is_named_alike_in_python_in_sql_and_as_an_actor(session):
    user = f.user(session)
    session.commit()
    expected = f"{user.last_name} {user.first_name} <{user.email}>"
    assert user_label(user) == label(user.last_name, user.first_name, user.email) == expected
    assert session.scalar(select(user_label_sql()).where(User.id == user.id)) == expected
    assert Actor(user).label == expected


def test_a_request_is_named_by_its_person_and_its_siret():
    request = AccountRequest(last_name="SOLO", first_name="Han", email="han@example.org", siret="73282932000074")
    assert request_label(request) == "SOLO Han <han@example.org> – 73282932000074"
