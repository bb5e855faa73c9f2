"""Create, edit, activate, deactivate and delete users, and edit their grants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models import Establishment, Grant, Habilitation, InvalidValue, User, utcnow
from models.accounts import Civility, new_session_token
from models.rules import clean_email, clean_phone

from . import audit, emails
from .common import Actor, ServiceError, transactional
from .passwords import hash_password, password_problem

PERSONAL_FIELDS = ("civility", "last_name", "first_name", "email", "phone", "job_title")

UserIds = Sequence[int] | Select


def user_label(user: User) -> str:
    return f"{user.full_name} <{user.email}>"


def _personal(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in PERSONAL_FIELDS}


def clean_personal_data(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the personal fields of the user form; raise ServiceError on the first problem."""
    cleaned: dict[str, Any] = {}
    civility = (data.get("civility") or "").strip()
    if civility not in {c.value for c in Civility}:
        raise ServiceError("Choisissez la civilité (M. ou Mme).", field="civility")
    cleaned["civility"] = civility
    for name, label in (("last_name", "Le nom"), ("first_name", "Le prénom")):
        value = " ".join((data.get(name) or "").split())
        if not value:
            raise ServiceError(f"{label} est obligatoire.", field=name)
        if len(value) > 100:
            raise ServiceError(f"{label} ne doit pas dépasser 100 caractères.", field=name)
        cleaned[name] = value
    try:
        cleaned["email"] = clean_email(data.get("email") or "")
    except InvalidValue as exc:
        raise ServiceError(str(exc), field="email") from None
    try:
        cleaned["phone"] = clean_phone(data.get("phone") or "")
    except InvalidValue as exc:
        raise ServiceError(str(exc), field="phone") from None
    job_title = " ".join((data.get("job_title") or "").split()) or None
    if job_title and len(job_title) > 200:
        raise ServiceError("La fonction ne doit pas dépasser 200 caractères.", field="job_title")
    cleaned["job_title"] = job_title
    return cleaned


def _check_email_free(session: Session, email: str, user_id: int | None = None) -> None:
    query = select(User.id).where(User.email == email)
    if user_id is not None:
        query = query.where(User.id != user_id)
    if session.scalar(query) is not None:
        raise ServiceError("Cette adresse email est déjà utilisée par un autre utilisateur.", field="email")


@transactional
def create_user(session: Session, actor: Actor, data: dict[str, Any], *, is_staff: bool = False) -> User:
    """Create a user without password and queue the "Validez votre adresse email" email."""
    cleaned = clean_personal_data(data)
    _check_email_free(session, cleaned["email"])
    user = User(**cleaned, is_staff=is_staff, active=True)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise ServiceError("Cette adresse email est déjà utilisée par un autre utilisateur.", field="email") from None
    audit.record(session, actor, "user.create", "user", user.id, user_label(user), None, {**cleaned, "is_staff": is_staff})
    emails.enqueue_verify_email(session, user)
    return user


@transactional
def create_staff(session: Session, actor: Actor, data: dict[str, Any], password: str) -> User:
    """Create a verified staff account with a password (the `create-staff` command)."""
    cleaned = clean_personal_data(data)
    problem = password_problem(password, cleaned["email"])
    if problem:
        raise ServiceError(problem, field="password")
    _check_email_free(session, cleaned["email"])
    user = User(**cleaned, is_staff=True, active=True, email_verified_at=utcnow(), password_hash=hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, user_label(user), None, {**cleaned, "is_staff": True})
    return user


@transactional
def update_user(session: Session, actor: Actor, user: User, expected_version: int, data: dict[str, Any]) -> User:
    """Save personal data, refusing if someone else saved the user since `expected_version`."""
    if user.version != expected_version:
        raise ServiceError(
            "Cet utilisateur a été modifié par quelqu'un d'autre depuis que vous avez ouvert la page. "
            "Rechargez la page pour voir ses données actuelles, puis refaites votre modification."
        )
    cleaned = clean_personal_data(data)
    _check_email_free(session, cleaned["email"], user.id)
    before = _personal(user)
    email_changed = cleaned["email"] != user.email
    for name, value in cleaned.items():
        setattr(user, name, value)
    if email_changed:
        user.email_verified_at = None
    old, new = audit.changes(before, _personal(user))
    if not new:
        return user
    try:
        session.flush()
    except StaleDataError:
        raise ServiceError(
            "Cet utilisateur a été modifié par quelqu'un d'autre pendant votre saisie. "
            "Rechargez la page, puis refaites votre modification."
        ) from None
    audit.record(session, actor, "user.update", "user", user.id, user_label(user), old, new)
    if email_changed:
        emails.enqueue_verify_email(session, user)
    return user


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


def check_grant_rows(rows: Sequence[GrantInput]) -> None:
    """Apply the editor's rules: no establishment twice, exactly one primary when any grant."""
    seen: set[int] = set()
    for row in rows:
        if row.establishment_id in seen:
            raise ServiceError("Un même établissement ne peut être ajouté qu'une seule fois.")
        seen.add(row.establishment_id)
    primaries = sum(1 for row in rows if row.is_primary)
    if rows and primaries != 1:
        raise ServiceError("Choisissez un et un seul établissement principal.")


@transactional
def save_grants(session: Session, actor: Actor, user: User, rows: Sequence[GrantInput]) -> bool:
    """Replace the user's grants by `rows`; return whether anything changed."""
    check_grant_rows(rows)
    wanted = {row.establishment_id: row for row in rows}
    establishments = {
        e.id: e for e in session.scalars(select(Establishment).where(Establishment.id.in_(list(wanted))))
    }
    missing = set(wanted) - set(establishments)
    if missing:
        raise ServiceError("Un des établissements choisis n'existe pas ou plus.")
    current = {g.establishment_id: g for g in user.grants}
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
        flags = set(row.habilitations)
        if Habilitation.MANAGER in flags:
            flags = set(Habilitation)  # Gestionnaire ticks (and locks) every other box
        for habilitation in Habilitation:
            setattr(grant, habilitation.value, habilitation in flags)
        grant.is_primary = row.is_primary
    session.flush()

    after = _grant_snapshot(sorted(user.grants, key=lambda g: g.establishment.label))
    if before == after:
        return False
    user.updated_at = utcnow()
    audit.record(session, actor, "user.grants", "user", user.id, user_label(user), before, after)
    return True


# --- activation, deletion, invitations (set-based, for bulk actions) ---------------------------------

def _id_filters(ids: UserIds):
    """Yield WHERE clauses covering `ids`: a subquery as is, a list in chunks."""
    if isinstance(ids, Select):
        yield User.id.in_(ids)
        return
    for chunk in _chunks(sorted({int(i) for i in ids})):
        yield User.id.in_(chunk)


def _targets(session: Session, ids: UserIds, *extra) -> list[tuple[int, str, bool]]:
    targets = []
    for id_filter in _id_filters(ids):
        rows = session.execute(
            select(User.id, User.last_name, User.first_name, User.email, User.is_staff)
            .where(id_filter, *extra)
            .order_by(User.id)
        )
        targets += [(r.id, f"{r.last_name} {r.first_name} <{r.email}>", r.is_staff) for r in rows]
    return targets


def _protect_staff(session: Session, actor: Actor, targets: list[tuple[int, str, bool]], verb: str) -> None:
    """Refuse acting on oneself, or removing the last active staff account."""
    target_ids = {t[0] for t in targets}
    if actor.id is not None and actor.id in target_ids:
        raise ServiceError(f"Vous ne pouvez pas vous {verb} vous-même. Aucun utilisateur n'a été modifié.")
    staff_targets = {t[0] for t in targets if t[2]}
    if staff_targets:
        remaining = session.scalar(
            select(func.count()).select_from(User).where(
                User.is_staff.is_(True), User.active.is_(True), User.id.not_in(staff_targets)
            )
        )
        if not remaining:
            raise ServiceError(
                "Le dernier compte staff actif ne peut pas être désactivé ni supprimé. "
                "Aucun utilisateur n'a été modifié."
            )


@transactional
def set_active(session: Session, actor: Actor, ids: UserIds, active: bool) -> int:
    """Activate or deactivate users with one UPDATE; return how many changed."""
    targets = _targets(session, ids, User.active.is_not(active))
    if not active:
        _protect_staff(session, actor, targets, "désactiver")
    if not targets:
        return 0
    changed_ids = [t[0] for t in targets]
    values: dict[str, Any] = {"active": active, "version": User.version + 1, "updated_at": utcnow()}
    if not active:
        values["session_token"] = new_session_token()  # ends every open session of these users
    for chunk in _chunks(changed_ids):
        session.execute(
            update(User).where(User.id.in_(chunk)).values(**values).execution_options(synchronize_session=False)
        )
    action = "user.activate" if active else "user.deactivate"
    audit.record_many(
        session, actor, action, "user", [(t[0], t[1]) for t in targets], {"active": not active}, {"active": active}
    )
    session.expire_all()
    return len(targets)


@transactional
def delete_users(session: Session, actor: Actor, ids: UserIds) -> int:
    """Delete users (their grants go with them); return how many were deleted."""
    targets = _targets(session, ids)
    _protect_staff(session, actor, targets, "supprimer")
    if not targets:
        return 0
    deleted_ids = [t[0] for t in targets]
    for chunk in _chunks(deleted_ids):
        session.execute(delete(Grant).where(Grant.user_id.in_(chunk)).execution_options(synchronize_session=False))
        session.execute(delete(User).where(User.id.in_(chunk)).execution_options(synchronize_session=False))
    audit.record_many(session, actor, "user.delete", "user", [(t[0], t[1]) for t in targets])
    session.expire_all()
    return len(targets)


@transactional
def resend_invitations(session: Session, actor: Actor, ids: UserIds) -> tuple[int, int]:
    """Queue the verification or password email for users without password; return (sent, skipped)."""
    users = [u for f in _id_filters(ids) for u in session.scalars(select(User).where(f).order_by(User.id))]
    sent = 0
    for user in users:
        if user.password_hash is not None or not user.active:
            continue
        email = emails.enqueue_invitation(session, user)
        audit.record(session, actor, "user.invite", "user", user.id, user_label(user), None, {"email": email.kind})
        sent += 1
    return sent, len(users) - sent


def _chunks(ids: list[int], size: int = 5000):
    # SQLite caps bound parameters per statement; PostgreSQL is happy either way.
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@transactional
def edit_user(
    session: Session,
    actor: Actor,
    user: User,
    expected_version: int,
    data: dict[str, Any],
    grant_rows: Sequence[GrantInput] | None,
) -> User:
    """Save the edit page: personal data and (when the editor was sent) grants, in one transaction."""
    if grant_rows is not None:
        check_grant_rows(grant_rows)  # refuse before anything is written
    update_user(session, actor, user, expected_version, data)
    if grant_rows is not None:
        save_grants(session, actor, user, grant_rows)
    return user
