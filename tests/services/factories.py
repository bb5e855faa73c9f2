"""Small factories for service tests: a company, an establishment, a user with given grants.

Each call makes fresh, valid identifiers (Luhn-valid SIREN/SIRET, unique emails), so a test
builds exactly the cast it needs instead of leaning on the demo data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum import luhn

from admin_app.services import Actor
from admin_app.services.passwords import hash_password
from models import AuditEvent, Company, Establishment, Grant, Habilitation, OutboundEmail, User, utcnow

_counter = itertools.count(1)


def _letters(n: int) -> str:
    """A counter written in letters (names refuse digits): 1 -> "b", 27 -> "bb"."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[digit] + out
        if n == 0:
            return out


def _valid(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


def company(session: Session, name: str | None = None) -> Company:
    n = next(_counter)
    made = Company(name=name or f"Entreprise {n}", siren=_valid(f"{70000000 + n:08d}"))
    session.add(made)
    session.flush()
    return made


def establishment(session: Session, of: Company | None = None, name: str | None = None) -> Establishment:
    of = of or company(session)
    n = next(_counter)
    made = Establishment(company=of, name=name or f"Site {n}", siret=_valid(of.siren + f"{n % 10000:04d}"),
                         postal_code="75001", city="Paris")
    session.add(made)
    session.flush()
    return made


def user(
    session: Session,
    grants: Iterable[tuple[Establishment, Iterable[Habilitation]]] = (),
    *,
    staff: bool = False,
    active: bool = True,
    name: str | None = None,
    password_hash: str | None = None,
) -> User:
    """A user with one grant per (establishment, habilitations); the first grant is the primary one."""
    n = next(_counter)
    made = User(
        civility="Mme",
        last_name=name or f"Nom {_letters(n)}",
        first_name=f"Prénom {_letters(n)}",
        email=f"user{n}@example.org",
        phone="0612345678",
        is_staff=staff,
        active=active,
        email_verified_at=utcnow(),
        password_hash=password_hash,
    )
    session.add(made)
    for index, (where, held) in enumerate(grants):
        grant = Grant(establishment=where, is_primary=index == 0)
        held = set(held)
        if Habilitation.MANAGER in held:
            held = set(Habilitation)
        for habilitation in Habilitation:
            setattr(grant, habilitation.value, habilitation in held)
        made.grants.append(grant)
    session.flush()
    return made



def big_company(session: Session, name: str = "Réseau National", size: int = 1500) -> Company:
    """A company with `size` establishments spread over three cities, added in one flush (not one per site)."""
    made = company(session, name=name)
    cities = [("69001", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse")]
    for n in range(1, size + 1):
        code, city = cities[n % 3]
        stem = f"{made.siren}{n:04d}"
        session.add(Establishment(company=made, name=f"{name} {city} {n:04d}", siret=stem + luhn.calc_check_digit(stem),
                                  postal_code=code, city=city))
    session.flush()
    return made


PASSWORD = "un mot de passe de test sûr"  # every member's: the tests through HTTP log in with it


def member(session: Session, grants: Iterable[tuple[Establishment, Iterable[Habilitation]]] = (), **kwargs) -> User:
    """A user who logs in with PASSWORD (the `as_member` fixture's client), made as `user` makes one."""
    return user(session, grants, password_hash=hash_password(PASSWORD), **kwargs)

# --- reading back what a service wrote ---------------------------------------------------------------

def events(session, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))


def outbox(session, kind: str | None = None) -> list[OutboundEmail]:
    query = select(OutboundEmail).order_by(OutboundEmail.id)
    if kind is not None:
        query = query.where(OutboundEmail.kind == kind)
    return list(session.scalars(query))


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def actor(who: User | None) -> Actor:
    return Actor(who)


MANAGER = (Habilitation.MANAGER,)
USER_ADMIN = (Habilitation.USER_ADMIN,)
NONE: tuple[Habilitation, ...] = ()
