"""Bulk actions on users as operations: activate, deactivate, activate and send links, delete, re-invite.

Each is set-based (a few statements whatever the number of users) and records one operation
(admin_app.services.operations): its counts, one item per user changed, one audit entry. The same functions
do one chunk of a background job's operation (admin_app/jobs/bulk.py) when given that operation.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, delete, func, literal, select, update
from sqlalchemy.orm import Session

from admin_app.authority import OUT_OF_PERIMETER, Perimeter, perimeter_of
from models import (
    HABILITATION_LABELS,
    Grant,
    Habilitation,
    Operation,
    OperationItem,
    OperationKind,
    User,
    utcnow,
)
from models.ids import IdList, in_ids
from models.queries import UserFilter
from models.wording import thousands, user_label

from . import audit, emails, operations
from .common import Actor, ServiceError, transaction
from .locks import decide_on
from .operations import OperationResult

UserIds = Sequence[int] | Select


MISSING_OR_STRANGERS = ("{count} utilisateur(s) sélectionné(s) {where} ou introuvable(s) (supprimé(s) entre-temps ?) : "
                        "aucun utilisateur n'a été modifié.")


def _checked_batch(session: Session, perimeter: Perimeter, ids: UserIds, verb: str, *, whole: bool) -> int:
    """How many existing users the batch names, once the actor may act on every one of them: one statement
    counts them and, for a delegated perimeter, those outside it and those it does not govern.

    `whole`: the batch is a selection someone made (ticked rows, typed ids): a user in it that does not
    exist (deleted since the page was drawn, or forged) refuses it, as one outside the perimeter does:
    acting on the rest would act on a selection nobody made. A job's chunk (`whole=False`) skips users
    deleted since its cursor read them.

    A writing service runs it after `locks.decide_on` locked the batch's users (in id order) and the actor:
    a statement of its own, so that it sees what was committed while it waited for those locks. (Written in
    the locking statement itself, its subqueries kept the snapshot taken before the wait.)
    """
    flags = [] if perimeter.unrestricted else [(~perimeter.users()).label("stranger"),
                                               perimeter.ungoverned_users().label("ungoverned")]
    batch = select(User.id, *flags).where(_id_filter(ids)).subquery()
    counts = [func.count()] + [func.count().filter(batch.c[name]) for name in ("stranger", "ungoverned") if flags]
    found, *refused = session.execute(select(*counts).select_from(batch)).one()
    strangers, ungoverned = refused or (0, 0)
    missing = len(IdList.of(ids)) - found if whole and not isinstance(ids, Select) else 0
    if missing or strangers:
        raise ServiceError(MISSING_OR_STRANGERS.format(count=thousands(missing + strangers), where=OUT_OF_PERIMETER))
    if ungoverned:
        raise ServiceError(
            f"Vous ne pouvez pas {verb} {ungoverned} des utilisateurs choisis : ils sont aussi rattachés à des "
            f"établissements {OUT_OF_PERIMETER}, ou Gestionnaires d'un établissement dont vous n'êtes pas Gestionnaire. "
            "Retirez-les plutôt de vos établissements (page d'édition). Aucun utilisateur n'a été modifié."
        )
    return found


# --- activation, deletion, invitations (set-based, for bulk actions) ---------------------------------

def _fixed(session: Session, ids: UserIds) -> IdList:
    """The batch as the users it names now. "Every matching user" is read once, before the check: each
    statement after it then acts on exactly the users the check saw. Its filter evaluated again by a later
    statement could take in a user who came into it meanwhile (a habilitation ticked at that moment), whom
    nothing checked. (A synchronous action stays under BULK_JOB_THRESHOLD users; a job's chunks are lists.)"""
    return IdList.of(session.scalars(ids)) if isinstance(ids, Select) else IdList.of(ids)


def _id_filter(ids: UserIds, column: ColumnElement[int] = User.id) -> ColumnElement[bool]:
    """The WHERE clause of a batch: a subquery ("every matching user") as is, a list as one parameter."""
    return column.in_(ids) if isinstance(ids, Select) else in_ids(column, ids)


def _locked_in_order(*where: ColumnElement[bool]) -> Select:
    """The ids of the users matching `where`, locked in id order (FOR UPDATE on PostgreSQL).

    Two overlapping bulk actions that each locked rows in the order their scan met them could each
    hold a row the other waits for: a deadlock. Taking every lock in one order, the second waits
    for the first and then sees its result (it skips the users the first already changed).
    """
    return select(User.id).where(*where).order_by(User.id).with_for_update()


def _protect_staff(session: Session, actor: Actor, ids: UserIds, verb: str) -> None:
    """Refuse acting on oneself, or removing the last active staff account."""
    active_staff = set(session.scalars(select(User.id).where(User.is_staff.is_(True), User.active.is_(True))))
    if isinstance(ids, Select):
        targeted = set(session.scalars(select(User.id).where(User.id.in_(ids), User.id.in_(active_staff | {actor.id or 0}))))
    else:
        targeted = (active_staff | {actor.id or 0}).intersection(map(int, ids))
    if actor.id is not None and actor.id in targeted:
        raise ServiceError(f"Vous ne pouvez pas vous {verb} vous-même. Aucun utilisateur n'a été modifié.")
    if active_staff and active_staff <= targeted:
        raise ServiceError(
            "Le dernier compte staff actif ne peut pas être désactivé ni supprimé. Aucun utilisateur n'a été modifié."
        )


def expire_users(session: Session) -> None:
    """After an UPDATE or DELETE of users in SQL: the users this session holds are read again when next used.
    Only them: expiring everything would also reload the actor and the operation being written (two queries)."""
    for instance in list(session.identity_map.values()):
        if isinstance(instance, User):
            session.expire(instance)


def _fresh_per_row() -> ColumnElement[str]:
    """A value no user held before, different for each row of one UPDATE: a fresh random token and the user's id
    (the token alone would be shared by every user of the statement)."""
    return literal(secrets.token_urlsafe(15), String()) + literal(".", String()) + cast(User.id, String())


def state_values(active: bool) -> dict[str, Any]:
    """What (de)activating writes on a user (bulk actions, a job's chunks, an undo): the flag, a new version, and
    on deactivation a new session token, which ends every open session of the user, a new link nonce, which
    voids every link sent before (a password link must not work again once the account is re-activated), and
    no pending nor kept previous address any more (the links of an email change die with them)."""
    values: dict[str, Any] = {"active": active, "version": User.version + 1, "updated_at": utcnow()}
    if not active:
        values["session_token"] = _fresh_per_row()
        values["link_nonce"] = _fresh_per_row()
        values["pending_email"] = values["pending_email_at"] = None
        values["previous_email"] = values["previous_email_until"] = None
    return values


def _flip(session: Session, actor: Actor, ids: UserIds, active: bool, *, whole: bool) -> tuple[int, list[int]]:
    """Set `active` on the batch's users not already so; return how many users the batch names and the ids
    this very statement changed (for a caller that records more than the flip: `activate_and_send_links`).

    One UPDATE ... RETURNING over rows locked in id order: under concurrent bulk actions a user someone
    else changed first is not counted, nor recorded, twice.
    """
    verb = "activer" if active else "désactiver"
    requested = _checked_batch(session, decide_on(session, actor, ids), ids, verb, whole=whole)
    if not active:
        _protect_staff(session, actor, ids, "désactiver")
    # Core, not the ORM's bulk update: the returned ids are read as plain rows; expire_users below stands for
    # the ORM's synchronisation.
    changed = list(session.connection().execute(
        update(User).where(User.id.in_(_locked_in_order(_id_filter(ids), User.active.is_not(active))))
        .values(**state_values(active)).returning(User.id)
    ).scalars().all())
    expire_users(session)
    return requested, changed


def set_active(session: Session, actor: Actor, ids: UserIds, active: bool, *, scope: str | None = None,
               operation: Operation | None = None) -> OperationResult:
    """Activate or deactivate users: one operation (its counts, one item per user changed, one audit
    entry), so that the message can say what was already so and the operation can be taken back.

    `scope` says in French what was asked ("filtre : …"); by default the selection's size. Given an
    `operation` (a background job's, admin_app/jobs/bulk.py), this is one chunk of it: its items are added
    and its counts grow in this transaction; its one audit entry is written when the job ends.
    """
    with transaction(session):
        chunk = operation is not None
        scope = scope or (None if chunk else operations.default_scope(session, ids))  # said of what was asked
        ids = _fixed(session, ids)
        requested = _checked_batch(session, decide_on(session, actor, ids), ids, "activer" if active else "désactiver",
                                   whole=not chunk)
        if not active:
            _protect_staff(session, actor, ids, "désactiver")
        kind = OperationKind.ACTIVATE if active else OperationKind.DEACTIVATE
        if operation is None:
            operation = operations.start(session, actor, kind, scope or "")
        # The items first (the batch's users not yet so, all of them locked by the check above), then the flip
        # of exactly the users they name.
        changed = operations.record_flips(session, operation, _id_filter(ids), active)
        recorded = select(OperationItem.user_id).where(OperationItem.operation_id == operation.id)
        if chunk:  # not the users of the job's earlier chunks
            recorded = recorded.where(_id_filter(ids, OperationItem.user_id))
        session.execute(update(User).where(User.id.in_(recorded)).values(**state_values(active))
                        .execution_options(synchronize_session=False))
        expire_users(session)
        unchanged = max(requested - changed, 0)
        if chunk:
            operations.add_chunk(session, operation, requested=requested, changed=changed, unchanged=unchanged)
            return OperationResult(operation.id, kind, requested, changed, unchanged)
        if not changed:
            operations.discard(session, operation)
            return OperationResult(None, kind, requested, 0, requested)
        operations.finish(session, actor, operation, requested=requested, changed=changed, unchanged=unchanged,
                          active=active)
        return OperationResult(operation.id, kind, requested, changed, unchanged)


def delete_users(session: Session, actor: Actor, ids: UserIds, *, scope: str | None = None) -> OperationResult:
    """Delete users (their grants go with them): one operation, definitive (no undo), whose items keep
    each deleted user's name and email.

    DELETE ... RETURNING tells which users this very statement deleted: those are the ones recorded.
    """
    with transaction(session):
        scope = scope or operations.default_scope(session, ids)  # of what was asked, before the rows are gone
        ids = _fixed(session, ids)
        requested = _checked_batch(session, decide_on(session, actor, ids), ids, "supprimer", whole=True)
        _protect_staff(session, actor, ids, "supprimer")
        id_filter = User.id.in_(_locked_in_order(_id_filter(ids)))
        doomed = select(User.id).where(id_filter)
        session.execute(delete(Grant).where(Grant.user_id.in_(doomed)).execution_options(synchronize_session=False))
        deleted = session.execute(
            delete(User).where(id_filter).returning(User.id, User.last_name, User.first_name, User.email, User.active)
            .execution_options(synchronize_session=False)
        ).all()
        session.expire_all()  # their grants too (deleted with them)
        if not deleted:
            return OperationResult(None, OperationKind.DELETE, requested, 0, requested)
        operation = operations.record(session, actor, OperationKind.DELETE, scope, requested=requested,
                                      changed=len(deleted), unchanged=max(requested - len(deleted), 0))
        operations.record_items(session, operation, [
            {"user_id": row.id, "user_label": user_label(row)[:300], "active_before": row.active}
            for row in deleted
        ])
        return OperationResult(operation.id, OperationKind.DELETE, requested, len(deleted), operation.unchanged)


def activate_and_send_links(session: Session, actor: Actor, ids: UserIds, *, scope: str | None = None,
                            operation: Operation | None = None) -> OperationResult:
    """The guide's "Désactiver/Activer un utilisateur en cas d'absence ou d'oubli de mot de passe": activate,
    then send each user the link their state calls for (verify the address, create or renew the password).
    One transaction, one operation: `changed` users activated, `emails` links sent (to the already active too).
    Given a job's `operation`, one chunk of it (as `set_active`)."""
    with transaction(session):
        scope = scope or (None if operation is not None else operations.default_scope(session, ids))
        ids = _fixed(session, ids)
        requested, activated_ids = _flip(session, actor, ids, True, whole=operation is None)
        activated = set(activated_ids)
        items = []
        for user in session.scalars(select(User).where(_id_filter(ids), User.active.is_(True)).order_by(User.id)):
            email = emails.enqueue_invitation(session, user)
            items.append((user, email.kind))
        session.flush()  # a new link renews the user's nonce: the version the items keep is the one after it
        kind = OperationKind.ACTIVATE_LINKS
        unchanged = max(requested - len(activated), 0)
        if operation is not None:
            operations.add_chunk(session, operation, requested=requested, changed=len(activated), unchanged=unchanged,
                                 emails=len(items))
        elif not items and not activated:
            return OperationResult(None, kind, requested, 0, requested)
        else:
            operation = operations.record(session, actor, kind, scope or "",
                                          requested=requested, changed=len(activated), unchanged=unchanged,
                                          emails=len(items), active=True)
        operations.record_items(session, operation, [
            {"user_id": user.id, "user_label": user_label(user)[:300], "active_before": user.id not in activated,
             "active_after": True, "version_after": user.version, "email_kind": email_kind}
            for user, email_kind in items
        ])
        return OperationResult(operation.id, kind, requested, len(activated), unchanged, len(items))


def resend_invitations(session: Session, actor: Actor, ids: UserIds) -> tuple[int, int]:
    """Queue the verification or password email for users without password; return (sent, skipped)."""
    with transaction(session):
        ids = _fixed(session, ids)
        _checked_batch(session, decide_on(session, actor, ids), ids, "inviter", whole=True)
        users = list(session.scalars(select(User).where(_id_filter(ids)).order_by(User.id)))
        sent = 0
        for user in users:
            if user.password_hash is not None or not user.active:
                continue
            email = emails.enqueue_invitation(session, user)
            audit.record(session, actor, "user.invite", "user", user.id, user_label(user), None, {"email": email.kind})
            sent += 1
        return sent, len(users) - sent


def refuse_before_job(session: Session, actor: Actor, ids: Select, active: bool) -> None:
    """What the synchronous action would refuse on the whole set, refused before a job's first chunk:
    a delegated manager's "every matching user" that holds one user they may not govern (or, to deactivate,
    themselves or the last active staff account) changes nobody, exactly as the synchronous action."""
    verb = "activer" if active else "désactiver"
    _checked_batch(session, perimeter_of(session, actor), ids, verb, whole=False)
    if not active:
        _protect_staff(session, actor, ids, "désactiver")


# --- "every matching user" in words, for the operation's scope --------------------------------------------

YES_NO = {"oui": "Oui", "non": "Non"}


def filter_in_words(wanted: UserFilter, search: str = "") -> str:
    """The users list's filters as a person reads them: « Actif : Non ; Dernière connexion : jamais connecté »."""
    parts = []
    if wanted.nom:
        parts.append(f"Nom / Prénom : « {wanted.nom} »")
    if search:
        parts.append(f"Recherche : « {search[:200]} »")
    if wanted.actif in YES_NO:
        parts.append(f"Actif : {YES_NO[wanted.actif]}")
    if wanted.habilitation in {h.value for h in Habilitation}:
        parts.append(f"Habilitation : {HABILITATION_LABELS[Habilitation(wanted.habilitation)]}")
    if wanted.entreprise:
        parts.append(f"Entreprise : « {wanted.entreprise} »")
    if wanted.etablissement:
        parts.append(f"Établissement : « {wanted.etablissement} »")
    if wanted.email:
        parts.append(f"Email : « {wanted.email} »")
    if wanted.connexion == "jamais":
        parts.append("Dernière connexion : jamais connecté")
    if wanted.connexion_avant:
        parts.append(f"Connecté pour la dernière fois avant le {_french_date(wanted.connexion_avant)}")
    if wanted.connexion_depuis:
        parts.append(f"Connecté depuis le {_french_date(wanted.connexion_depuis)}")
    if wanted.staff in YES_NO:
        parts.append(f"Staff : {YES_NO[wanted.staff]}")
    if wanted.mot_de_passe in YES_NO:
        parts.append(f"Mot de passe créé : {YES_NO[wanted.mot_de_passe]}")
    return " ; ".join(parts) if parts else "tous les utilisateurs"


def scope_of_filter(filter_args: Any, search: str = "") -> str:
    """An "every matching user" operation's scope: « filtre : Actif : Non »."""
    return "filtre : " + filter_in_words(UserFilter.from_args(filter_args), search or "")


def _french_date(value: str) -> str:
    year, _, rest = value.partition("-")
    month, _, day = rest.partition("-")
    return f"{day}/{month}/{year}" if day else value
