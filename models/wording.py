"""How the product words counts and people, once, free of Flask: services, jobs, views and Jinja filters use it.

A count is written the French way (13 555, thousands apart by a narrow no-break space) with words that agree
with it; a person is named « Nom Prénom <email> » wherever a record names them (audit entries, operation items,
an actor), in Python and, for set-based writes, in SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, literal

from .accounts import User


def thousands(value: int | None) -> str:
    """A count the French way, thousands apart by a narrow no-break space: 100\u202f001 ("" for None)."""
    if value is None:
        return ""
    return f"{value:,}".replace(",", "\u202f")


def plural(count: int, singular: str, plural_form: str) -> str:
    """"1 demande refusée", "13\u202f555 demandes refusées": the number the French way, the words agreeing with it
    (in French, 0 takes the singular: « 0 utilisateur »)."""
    return f"{thousands(count)} {plural_form if count > 1 else singular}"


def label(last_name: str, first_name: str, email: str) -> str:
    """« Skywalker Luke <luke.skywalker@example.org> »."""
    return f"{last_name} {first_name} <{email}>"


def user_label(person: Any) -> str:
    """How a record names a user, or whoever has a last name, a first name and an email (a request, a row)."""
    return label(person.last_name, person.first_name, person.email)


def user_label_sql(
    last_name: Any = User.last_name, first_name: Any = User.first_name, email: Any = User.email,
) -> ColumnElement[str]:
    """`user_label` as SQL, for the writes that name thousands of users without loading them."""
    return last_name + literal(" ") + first_name + literal(" <") + email + literal(">")


def request_label(request: Any) -> str:
    """How a record names an account request: its person, then the SIRET it is for."""
    return f"{user_label(request)} – {request.siret}"
