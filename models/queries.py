"""Criteria of the users list, as SQL clauses both the list and the bulk actions use.

Filters on grants are written as `User.id IN (SELECT user_id FROM grants ...)`
starting from the selective side, never as a join: a user with several grants
stays one row, and counts and pages stay exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    ColumnElement,
    and_,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from .accounts import Grant, User, search_key
from .audit import AuditEvent
from .habilitations import Habilitation
from .ids import IdList, in_ids
from .outbox import EmailStatus, OutboundEmail
from .reference import Company, Establishment
from .requests import AccountRequest

PARIS = ZoneInfo("Europe/Paris")
_NOT_DIGITS = re.compile(r"[\s.\-]")


def _like_term(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column, text: str) -> ColumnElement[bool]:
    return column.like(_like_term(text), escape="\\")


def _paris_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=PARIS)


def _on_days(column, since: str, until: str) -> list[ColumnElement[bool]]:
    """"Du ... au ..." (YYYY-MM-DD, either may be empty or wrong): whole days, Paris time, both included.

    `_date` clamps far days, so the day after `until` always exists (`until` is 9998-12-31 at the latest).
    """
    out: list[ColumnElement[bool]] = []
    if first := _date(since):
        out.append(column >= _paris_midnight(first))
    if last := _date(until):
        out.append(column < _paris_midnight(last + timedelta(days=1)))
    return out


def holding(habilitation: Habilitation, grants_seen: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """Users who hold `habilitation` on at least one establishment (Gestionnaire holds them all), among
    the grants `grants_seen` lets the viewer see (UserFilter.clauses says why).

    A correlated EXISTS through the (user_id, establishment_id) index: habilitations are not
    selective (a third of the grants), so the other filters choose the users and this one checks them.
    """
    flag = getattr(Grant, habilitation.value)
    condition = flag.is_(True) if habilitation is Habilitation.MANAGER else or_(flag.is_(True), Grant.manager.is_(True))
    return select(Grant.id).where(Grant.user_id == User.id, condition, _seen(grants_seen)).exists()


# The label the company pickers show, "Name – SIREN": its SIREN is what it designates.
_LABEL_SIREN = re.compile(r"[–—-]\s*(\d{3}\s?\d{3}\s?\d{3})\s*$")


def company_siren(term: str) -> str:
    """The SIREN a company term designates without doubt: a SIREN, a SIRET (its first 9 digits) or a picker's
    label "Name – SIREN"; "" for a part of a name."""
    digits = _NOT_DIGITS.sub("", term)
    if digits.isascii() and digits.isdigit() and len(digits) in (9, 14):
        return digits[:9]
    found = _LABEL_SIREN.search(term)
    return _NOT_DIGITS.sub("", found.group(1)) if found else ""


def _seen(grants_seen: ColumnElement[bool] | None) -> ColumnElement[bool]:
    return true() if grants_seen is None else grants_seen


def in_company(term: str, grants_seen: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """Users attached to a company given by SIREN (or SIRET, or the pickers' "Name – SIREN") or by a part of its name.

    The company's establishments are found first (establishments_first): for a large company PostgreSQL
    otherwise hashed them and scanned the whole grants table instead of reading their grants off the index
    (docs/measurements.md).
    """
    establishments = select(Establishment.id)
    if siren := company_siren(term):
        establishments = establishments.where(Establishment.siren == siren)
    else:
        companies = select(Company.id).where(_contains(func.lower(Company.name), term.strip().lower()))
        establishments = establishments.where(Establishment.company_id.in_(companies))
    return User.id.in_(select(Grant.user_id).where(establishments_first(establishments), _seen(grants_seen)))


def in_establishment(term: str, grants_seen: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """Users attached to an establishment given by SIRET (14 digits) or by a part of its name."""
    digits = _NOT_DIGITS.sub("", term)
    if digits.isdigit() and len(digits) == 14:
        establishments = select(Establishment.id).where(Establishment.siret == digits)
    else:
        establishments = select(Establishment.id).where(_contains(func.lower(Establishment.name), term.strip().lower()))
    return User.id.in_(select(Grant.user_id).where(Grant.establishment_id.in_(establishments), _seen(grants_seen)))


# What separates words in a name as people type it: spaces, hyphens, apostrophes (straight or curly).
_NAME_SEPARATORS = re.compile(r"[\s\-'’‘`´]+")


def name_words(text: str) -> list[str]:
    """The words of a name search: "Obi-Wan" and "obi wan", "D'Artagnan" and "d artagnan" give the same."""
    return [w for w in _NAME_SEPARATORS.split(text) if w]


def name_or_email(text: str) -> ColumnElement[bool]:
    """The one name search ("Nom / Prénom"): every word, in any order, must appear in the name (accents,
    case, hyphens and apostrophes ignored) or in the email."""
    clauses = []
    for word in name_words(text):
        clauses.append(or_(_contains(User.search_text, search_key(word)), _contains(User.email, word.lower())))
    return searched_first(clauses_and(clauses))


class searched_first(ColumnElement[bool]):  # noqa: N801 (used like a function, as SQLAlchemy's own constructs)
    """`users.id IN (the users matching this text search)`, the matches computed first, then sorted.

    Left to itself, the planner pages a search by walking the name index until 50 rows match, which is
    instant for a first name (spread over the alphabet) and slow for a last name, whose matches sit
    together (docs/measurements.md). Matching first costs what the matches cost, whatever the word. On PostgreSQL the
    matches go through ARRAY(...), which its planner cannot fold back into the outer query.
    """

    type = Boolean()
    _is_implicitly_boolean = True  # a condition already: SQLite must not get `... = 1` (no index then)
    inherit_cache = True
    _traverse_internals = [("where", InternalTraversal.dp_clauseelement)]

    def __init__(self, where: ColumnElement[bool]):
        self.where = where


@compiles(searched_first)
def _searched_first(element, compiler, **kw):
    return compiler.process(User.id.in_(select(User.id).where(element.where).correlate(None)), **kw)


@compiles(searched_first, "postgresql")
def _searched_first_postgresql(element, compiler, **kw):
    matches = compiler.process(select(User.id).where(element.where).correlate(None), **kw)
    return f"{compiler.process(User.id, **kw)} = ANY(ARRAY({matches}))"


class establishments_first(ColumnElement[bool]):  # noqa: N801 (used like a function, as SQLAlchemy's own constructs)
    """`grants.establishment_id IN (the establishments)`, the establishments found first.

    `IN (subquery)` everywhere but PostgreSQL, whose planner joins a subquery of several hundred establishments
    by hashing them and scanning every grant; there `= ANY(ARRAY(subquery))`, computed once (an InitPlan), reads
    the grants of those establishments off the (establishment_id, user_id) index.
    """

    type = Boolean()
    _is_implicitly_boolean = True  # a condition already: SQLite must not get `... = 1` (no index then)
    inherit_cache = True
    _traverse_internals = [("establishments", InternalTraversal.dp_clauseelement)]

    def __init__(self, establishments):
        self.establishments = establishments


@compiles(establishments_first)
def _establishments_first(element, compiler, **kw):
    return compiler.process(Grant.establishment_id.in_(element.establishments), **kw)


@compiles(establishments_first, "postgresql")
def _establishments_first_postgresql(element, compiler, **kw):
    establishments = compiler.process(element.establishments.correlate(None), **kw)
    return f"{compiler.process(Grant.establishment_id, **kw)} = ANY(ARRAY({establishments}))"


def clauses_and(clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(true(), *clauses)


def _yes_no(value: str | None) -> bool | None:
    return {"oui": True, "non": False}.get((value or "").strip().lower())


# Dates typed in a filter are clamped to these days. Outside them there is no data, and the
# arithmetic fails: 9999-12-31 + 1 day overflows, and 0001-01-01 at midnight in Paris (LMT, +0:09)
# is before year 1 in UTC. Clamping keeps each filter's meaning: "au 9999-12-31" still means
# "no end", "connexion avant 0001-01-01" still matches nobody.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)


def _date(value: str | None) -> date | None:
    """The day in a YYYY-MM-DD filter, clamped to FIRST_DAY..LAST_DAY; None if empty or not a date."""
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return min(max(day, FIRST_DAY), LAST_DAY)


class UrlFilter:
    """A list's filters as plain URL arguments (bookmarkable); each field is one argument."""

    @classmethod
    def from_args(cls, args):
        """Read the filters from request arguments: spaces tidied, at most 200 characters each."""
        return cls(**{f.name: " ".join((args.get(f.name) or "").split())[:200] for f in fields(cls)})

    def as_args(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass(frozen=True)
class UserFilter(UrlFilter):
    """The users list's filters, as kept in the URL (so a filtered list can be bookmarked)."""

    nom: str = ""  # Nom / Prénom, contains, accents and case ignored
    email: str = ""
    actif: str = ""  # oui / non
    habilitation: str = ""
    entreprise: str = ""  # name or SIREN
    etablissement: str = ""  # name or SIRET
    connexion: str = ""  # "jamais" for users who never logged in
    connexion_avant: str = ""  # YYYY-MM-DD: last login before that day
    connexion_depuis: str = ""  # YYYY-MM-DD: last login on or after that day
    staff: str = ""  # oui / non
    mot_de_passe: str = ""  # oui / non: whether the user has created a password


    def clauses(self, grants_seen: ColumnElement[bool] | None = None) -> list[ColumnElement[bool]]:
        """The WHERE clauses of these filters. `grants_seen` (the viewer's perimeter's grants, from the
        authority model) bounds the filters on grants: a company, an establishment or a habilitation is
        tested on the grants the viewer may see, or typing "Cantina" would list a Temple user also attached
        there, and spell out, letter by letter, a company the details page hides."""
        out: list[ColumnElement[bool]] = []
        if self.nom:
            out.append(name_or_email(self.nom))
        if self.email:
            out.append(searched_first(_contains(User.email, self.email.lower())))
        if (active := _yes_no(self.actif)) is not None:
            out.append(User.active.is_(active))
        if self.habilitation in {h.value for h in Habilitation}:
            out.append(holding(Habilitation(self.habilitation), grants_seen))
        if self.entreprise:
            out.append(in_company(self.entreprise, grants_seen))
        if self.etablissement:
            out.append(in_establishment(self.etablissement, grants_seen))
        if self.connexion == "jamais":
            out.append(User.last_login_at.is_(None))
        if before := _date(self.connexion_avant):
            out.append(User.last_login_at < _paris_midnight(before))
        if since := _date(self.connexion_depuis):
            out.append(User.last_login_at >= _paris_midnight(since))
        if (staff := _yes_no(self.staff)) is not None:
            out.append(User.is_staff.is_(staff))
        if (has_password := _yes_no(self.mot_de_passe)) is not None:
            out.append(User.password_hash.is_not(None) if has_password else User.password_hash.is_(None))
        return out


@dataclass(frozen=True)
class RequestFilter(UrlFilter):
    """The requests tab's filters, kept in the URL; pending requests unless told otherwise."""

    statut: str = "en_cours"  # en_cours / validees / refusees / toutes
    type: str = ""  # ouverture / rattachement
    entreprise: str = ""
    email: str = ""
    du: str = ""  # YYYY-MM-DD, requested on or after
    au: str = ""  # YYYY-MM-DD, requested on or before

    STATUSES = {"en_cours": "pending", "validees": "approved", "refusees": "refused"}
    KINDS = {"ouverture": "opening", "rattachement": "attachment"}

    @classmethod
    def from_args(cls, args) -> RequestFilter:
        found = super().from_args(args)
        return found if found.statut else replace(found, statut="en_cours")  # pending requests first

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.statut in self.STATUSES:
            out.append(AccountRequest.status == self.STATUSES[self.statut])
        if self.type in self.KINDS:
            out.append(AccountRequest.kind == self.KINDS[self.type])
        if self.entreprise:
            out.append(_contains(func.lower(AccountRequest.company_name), self.entreprise.lower()))
        if self.email:
            out.append(_contains(AccountRequest.email, self.email.lower()))
        return out + _on_days(AccountRequest.requested_at, self.du, self.au)


@dataclass(frozen=True)
class AuditFilter(UrlFilter):
    """The audit trail's filters, kept in the URL."""

    par: str = ""  # actor, part of their label (name or email)
    action: str = ""
    cible: str = ""  # target type
    sur: str = ""  # part of the target's label
    id: str = ""  # target id
    du: str = ""
    au: str = ""


    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.par:
            out.append(_contains(func.lower(AuditEvent.actor_label), self.par.lower()))
        if self.action:
            out.append(AuditEvent.action == self.action)
        if self.cible:
            out.append(AuditEvent.target_type == self.cible)
        if self.sur:
            out.append(_contains(func.lower(AuditEvent.target_label), self.sur.lower()))
        if self.id.isdigit():
            out.append(AuditEvent.target_id == int(self.id))
        return out + _on_days(AuditEvent.created_at, self.du, self.au)


@dataclass(frozen=True)
class EmailFilter(UrlFilter):
    """The outbox list's filters, kept in the URL."""

    statut: str = ""  # pending / sent / failed
    type: str = ""  # the email's kind, e.g. verify_email
    destinataire: str = ""  # part of the recipient's address

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.statut in {s.value for s in EmailStatus}:
            out.append(OutboundEmail.status == self.statut)
        if self.type:
            out.append(OutboundEmail.kind == self.type)
        if self.destinataire:
            out.append(_contains(OutboundEmail.recipient, self.destinataire.lower()))
        return out


__all__ = ["AuditFilter", "EmailFilter", "IdList", "RequestFilter", "UserFilter", "company_siren", "holding", "in_company", "in_establishment",
           "in_ids", "name_or_email", "searched_first"]
