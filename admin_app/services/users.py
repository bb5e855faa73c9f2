"""Create, edit, activate, deactivate and delete users, and edit their grants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin_app.authority import OUT_OF_PERIMETER, UserAction
from models import Establishment, Grant, Habilitation, User, utcnow
from models.accounts import Civility
from models.habilitations import grant_habilitations, implied
from models.rules import clean_email, clean_phone, clean_text
from models.wording import user_label

from . import audit, email_change, emails
from .common import EMAIL_TAKEN, Actor, ServiceError, checked, transaction
from .locks import decide_on
from .passwords import hash_password, password_problem

STALE_FORM = (
    "Cet utilisateur a été modifié par quelqu'un d'autre depuis que vous avez ouvert la page. "
    "Rechargez la page pour voir ses données actuelles, puis refaites votre modification."
)

PERSONAL_FIELDS = ("civility", "last_name", "first_name", "email", "phone", "job_title")

def _personal(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in PERSONAL_FIELDS}


def clean_personal_data(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the personal fields of the user form; raise ServiceError on the first problem."""
    cleaned: dict[str, Any] = {}
    civility = (data.get("civility") or "").strip()
    if civility not in {c.value for c in Civility}:
        raise ServiceError("Choisissez la civilité (M. ou Mme).", field="civility")
    cleaned["civility"] = civility
    cleaned["last_name"] = checked("last_name", clean_text, data.get("last_name"), "Le nom", 100, name=True)
    cleaned["first_name"] = checked("first_name", clean_text, data.get("first_name"), "Le prénom", 100, name=True)
    cleaned["email"] = checked("email", clean_email, data.get("email") or "")
    cleaned["phone"] = checked("phone", clean_phone, data.get("phone") or "")
    cleaned["job_title"] = checked("job_title", clean_text, data.get("job_title"), "La fonction", 200, required=False) or None
    return cleaned


# What a delegated administrator creating a user is told of an address in use: the same words whoever holds it
# (staff or not, proven or not); staff read EMAIL_TAKEN.
EMAIL_UNAVAILABLE = "Cette adresse email ne peut pas être utilisée pour un nouveau compte."


def _check_email_free(session: Session, email: str, user_id: int | None = None, message: str = EMAIL_TAKEN) -> None:
    if email_change.address_in_use(session, email, user_id):
        raise ServiceError(message, field="email")


def create_user(
    session: Session, actor: Actor, data: dict[str, Any], grant_rows: Sequence[GrantInput] = (), *, is_staff: bool = False
) -> User:
    """Create a user without password, with `grant_rows`, and queue the "Validez votre adresse email" email."""
    with transaction(session):
        perimeter = decide_on(session, actor)
        decision = perimeter.may_create(staff=is_staff)
        if not decision:
            raise ServiceError(decision.reason)
        if not perimeter.unrestricted and not grant_rows:
            raise ServiceError("Rattachez le nouvel utilisateur à au moins un de vos établissements.")
        check_grant_rows(grant_rows)
        for row in grant_rows:  # before anything is written: a refused row refuses the whole creation
            _require(perimeter.may_change_grant(None, row.establishment_id, None, row.habilitations))
        cleaned = clean_personal_data(data)
        _check_email_free(session, cleaned["email"], message=EMAIL_TAKEN if perimeter.unrestricted else EMAIL_UNAVAILABLE)
        user = User(**cleaned, is_staff=is_staff, active=True)
        session.add(user)
        session.flush()  # a concurrent creation with the same email: IntegrityError, told as EMAIL_TAKEN
        audit.record(session, actor, "user.create", "user", user.id, user_label(user), None, {**_personal(user), "is_staff": is_staff})
        if grant_rows:
            save_grants(session, actor, user, grant_rows)
        emails.enqueue_verify_email(session, user)
        return user


def create_staff(session: Session, actor: Actor, data: dict[str, Any], password: str) -> User:
    """Create a verified staff account with a password (the `create-staff` command)."""
    with transaction(session):
        cleaned = clean_personal_data(data)
        problem = password_problem(password, cleaned["email"])
        if problem:
            raise ServiceError(problem, field="password")
        _check_email_free(session, cleaned["email"])
        user = User(**cleaned, is_staff=True, active=True, email_verified_at=utcnow(), password_hash=hash_password(password))
        session.add(user)
        session.flush()
        audit.record(session, actor, "user.create", "user", user.id, user_label(user), None, {**_personal(user), "is_staff": True})
        return user


def update_user(session: Session, actor: Actor, user: User, expected_version: int, data: dict[str, Any]) -> User:
    """Save personal data, refusing if someone else saved the user since `expected_version`. A new email is
    only asked for (services.email_change): the account keeps its address until the new mailbox proves it."""
    with transaction(session):
        perimeter = decide_on(session, actor, [user.id])
        _require(perimeter.may(UserAction.EDIT_IDENTITY, user))
        if user.version != expected_version:
            raise ServiceError(STALE_FORM)
        cleaned = clean_personal_data(data)
        new_email = cleaned.pop("email")
        before = _personal(user)
        for name, value in cleaned.items():
            setattr(user, name, value)
        old, new = audit.changes(before, _personal(user))
        if new:
            session.flush()  # someone saved meanwhile: StaleDataError, told as a conflict by `transaction`
            audit.record(session, actor, "user.update", "user", user.id, user_label(user), old, new)
        if new_email != user.email:
            decision = perimeter.may(UserAction.CHANGE_EMAIL, user)
            if not decision:
                raise ServiceError(decision.reason, field="email")
        email_change.ask(session, actor, user, new_email, precise=perimeter.unrestricted)
        return user


# --- the authority model's answers, as refusals ---------------------------------------------------------

def _require(decision) -> None:
    if not decision:
        raise ServiceError(decision.reason)


# --- grants ---------------------------------------------------------------------------------------

@dataclass
class GrantInput:
    """One row of the grant editor."""

    establishment_id: int
    is_primary: bool = False
    habilitations: set[Habilitation] = field(default_factory=set)


def _grant_snapshot(grants: Sequence[Grant]) -> dict[str, Any]:
    out = {}
    for grant in grants:
        held = sorted(h.value for h in Habilitation if getattr(grant, h.value))
        out[grant.establishment.label] = {"principal": grant.is_primary, "habilitations": held}
    return out


def check_grant_rows(rows: Sequence[GrantInput], primary_elsewhere: bool = False, others: int = 0) -> None:
    """Apply the editor's rules: no establishment twice, exactly one primary when any grant.

    `others` grants the editor does not show still count, one of them primary if `primary_elsewhere`.
    """
    seen: set[int] = set()
    for row in rows:
        if row.establishment_id in seen:
            raise ServiceError("Un même établissement ne peut être ajouté qu'une seule fois.")
        seen.add(row.establishment_id)
    primaries = sum(1 for row in rows if row.is_primary) + (1 if primary_elsewhere else 0)
    if (rows or others) and primaries != 1:
        raise ServiceError("Choisissez un et un seul établissement principal.")


def save_grants(session: Session, actor: Actor, user: User, rows: Sequence[GrantInput]) -> bool:
    """Replace the grants the actor may see by `rows`; return whether anything changed.

    A client manager sees and changes only the grants on their own establishments:
    the user's other grants are kept as they are, and count for the primary rule.
    """
    with transaction(session):
        perimeter = decide_on(session, actor, [user.id])  # both sides of a race on this user meet on its row
        kept = [g for g in user.grants if not perimeter.contains(g.establishment_id)]
        if not perimeter.unrestricted:
            # Every grant this save adds, changes (habilitations or primary flag) or removes is asked for.
            current_held = {g.establishment_id: (grant_habilitations(g), g.is_primary) for g in user.grants if g not in kept}
            wanted_held = {row.establishment_id: (implied(row.habilitations), row.is_primary) for row in rows}
            for establishment_id in current_held.keys() | wanted_held.keys():
                before, after = current_held.get(establishment_id), wanted_held.get(establishment_id)
                if before != after:
                    _require(perimeter.may_change_grant(
                        user, establishment_id, before[0] if before else None, after[0] if after else None))
        kept_primary = any(g.is_primary for g in kept)
        promote = None
        if kept and not rows and not kept_primary:
            # A manager detaching the user from all their establishments: the user's next establishment
            # (outside the manager's scope) becomes the primary one.
            promote = min(kept, key=lambda g: g.id)
            kept_primary = True
        if kept_primary and any(row.is_primary for row in rows):
            raise ServiceError(f"L'établissement principal de cet utilisateur est {OUT_OF_PERIMETER} : il ne peut pas changer ici.")
        check_grant_rows(rows, primary_elsewhere=kept_primary, others=len(kept))
        wanted = {row.establishment_id: row for row in rows}
        establishments = {
            e.id: e for e in session.scalars(select(Establishment).where(Establishment.id.in_(list(wanted))))
        }
        missing = set(wanted) - set(establishments)
        if missing:
            raise ServiceError("Un des établissements choisis n'existe pas ou plus.")
        current = {g.establishment_id: g for g in user.grants if g not in kept}
        before = _grant_snapshot(list(current.values()))

        # Clear every primary flag first: the one-primary index would reject a swap done in one flush.
        for grant in current.values():
            if grant.is_primary and not (grant.establishment_id in wanted and wanted[grant.establishment_id].is_primary):
                grant.is_primary = False
        session.flush()

        for establishment_id, grant in list(current.items()):
            if establishment_id not in wanted:
                user.grants.remove(grant)
        session.flush()
        for establishment_id, row in wanted.items():
            grant = current.get(establishment_id)
            if grant is None:
                grant = Grant(establishment=establishments[establishment_id])
                user.grants.append(grant)
            flags = implied(row.habilitations)  # Gestionnaire ticks (and locks) every other box
            for habilitation in Habilitation:
                setattr(grant, habilitation.value, habilitation in flags)
            grant.is_primary = row.is_primary
        session.flush()
        if promote is not None:
            promote.is_primary = True
            session.flush()

        after = _grant_snapshot(sorted((g for g in user.grants if g not in kept), key=lambda g: g.establishment.label))
        if before == after:
            return False
        user.updated_at = utcnow()
        audit.record(session, actor, "user.grants", "user", user.id, user_label(user), before, after)
        return True


def edit_user(
    session: Session,
    actor: Actor,
    user: User,
    expected_version: int,
    data: dict[str, Any] | None,
    grant_rows: Sequence[GrantInput] | None,
) -> User:
    """Save the edit page: personal data (None when the actor may only change grants) and, when the
    editor was sent, grants, in one transaction."""
    with transaction(session):
        # The version as it is now, under the row lock held to the end of this save: a form opened before someone
        # else's save is refused even when, read afterwards, its grants would change nothing.
        decide_on(session, actor, [user.id])
        if user.version != expected_version:
            raise ServiceError(STALE_FORM)
        if data is not None:
            update_user(session, actor, user, expected_version, data)
        if grant_rows is not None:
            save_grants(session, actor, user, grant_rows)
        return user

