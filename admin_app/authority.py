"""The authority model: who may see, govern and grant what, to whom. The only place a perimeter is computed.

Every surface asks it: the admin views (lists, counts, single records, lookups, exports), the services
(which never trust that a view checked), the CLI, and the surfaces still to come (SCIM tokens,
two-factor resets, access reviews, imports): they build a `Perimeter` with `perimeter_of(session, actor)`
and ask it.

- **Perimeter** of an actor: the system and active staff → everything. A *delegated administrator* (holds,
  on an establishment, a habilitation of the matrix's "Gérer les utilisateurs" row) → exactly those
  establishments. Anyone else, or an inactive account → nothing.
- **See** a user: one of their grants is in the perimeter; only the grants inside it are shown.
  See a request: its establishment is in the perimeter (and its holder confirmed it, for a claim).
- **Govern** a user (identity fields, links, activate, deactivate, delete): staff always; a delegated
  administrator when every grant of the target is in the perimeter, the target is not staff, and on each
  of those establishments the actor holds at least the administering habilitations the target holds
  (Gestion des utilisateurs never governs a Gestionnaire; Gestionnaires govern their peers).
- **Grant** (add, change or remove a grant on an establishment): on the perimeter only, never one's own,
  never a staff account's, and only the habilitations the actor holds there (the permission boundary:
  Gestionnaire holds every one). An account an actor created or governs can then never give them more
  than they had: what is not theirs to give, nobody they administer can give them either.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import ColumnElement, and_, exists, false, literal, not_, or_, select, true
from sqlalchemy.orm import Session

from models import AccountRequest, Company, Establishment, Grant, Habilitation, RequestStatus, User
from models.habilitations import (
    ADMINISTERING,
    HABILITATION_LABELS,
    administering,
    grant_habilitations,
    implied,
)
from models.ids import in_ids

from .services.common import SYSTEM, Actor

OUT_OF_PERIMETER = "hors de votre périmètre"
OTHER_ESTABLISHMENTS = "rattaché(e) à d'autres établissements hors de votre périmètre"
# Who a history's « Par » says acted, when this actor may not read the name (`Perimeter.actor_labels`).
UNNAMED_ACTOR = "un administrateur d'une autre entreprise"


class UserAction(enum.StrEnum):
    """What an actor may do to a user account."""

    SEE = "see"
    EDIT_IDENTITY = "edit_identity"  # civility, names, email, phone, job title
    # A new address hands the account over to whoever reads that mailbox (its links, then its password): the
    # permission boundary applies, as to a grant.
    CHANGE_EMAIL = "change_email"
    SEND_LINK = "send_link"  # invitation, verification or password link
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    DELETE = "delete"


# Acting on the account itself, not on one of its grants: the "govern" rule.
GOVERNING_ACTIONS = frozenset(UserAction) - {UserAction.SEE}


@dataclass(frozen=True)
class Decision:
    """An answer of the authority model; `reason` (French, shown as is) says why not."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)
REFUSED_STAFF = Decision(False, "Ce compte est un compte staff : seul le back-office peut le modifier.")
REFUSED_UNSEEN = Decision(False, f"Cet utilisateur est {OUT_OF_PERIMETER}.")
REFUSED_ELSEWHERE = Decision(
    False,
    f"Cet utilisateur est aussi {OTHER_ESTABLISHMENTS} : vous pouvez seulement modifier ses accès à vos "
    "établissements. Pour le reste, adressez-vous au back-office.",
)
REFUSED_HIGHER = Decision(
    False,
    "Cet utilisateur est Gestionnaire d'un établissement dont vous n'êtes pas vous-même Gestionnaire : "
    "seul un Gestionnaire de cet établissement ou le back-office peut modifier son compte.",
)
REFUSED_OWN_GRANTS = Decision(
    False, "Vous ne pouvez pas modifier vos propres rattachements : demandez-le à un autre gestionnaire."
)
REFUSED_MANAGER_GRANT = Decision(
    False,
    "Vous ne pouvez accorder ou retirer l'accès Gestionnaire que sur les établissements dont vous êtes "
    "vous-même Gestionnaire.",
)
BOUNDARY = ("Vous ne pouvez accorder ou retirer que les habilitations que vous détenez vous-même sur cet "
            "établissement : {labels}.")


def boundary_reason(habilitations: Iterable[Habilitation]) -> str:
    """Why these habilitations are not the actor's to grant or remove there (French, naming each of them)."""
    concerned = frozenset(habilitations)
    return BOUNDARY.format(labels=", ".join(HABILITATION_LABELS[h] for h in Habilitation if h in concerned))


def refused_beyond_boundary(habilitations: Iterable[Habilitation]) -> Decision:
    """The refusal of a change touching habilitations the actor does not hold there, naming them."""
    concerned = frozenset(habilitations)
    if Habilitation.MANAGER in concerned:
        return REFUSED_MANAGER_GRANT  # its own words: Gestionnaire is the one the boundary most often meets
    return Decision(False, boundary_reason(concerned))


REFUSED_GRANT_ELSEWHERE = Decision(
    False,
    f"Vous ne pouvez rattacher un utilisateur qu'à vos établissements : un établissement choisi est {OUT_OF_PERIMETER}.",
)
REFUSED_HAND_OVER = (
    "Cet utilisateur détient des habilitations que vous n'avez pas vous-même ({labels}) : seul un Gestionnaire de "
    "ses établissements ou le back-office peut changer son adresse email."
)
REFUSED_STAFF_CREATION = Decision(False, "Seul le back-office peut créer un compte staff.")
REFUSED_NOT_ADMIN = Decision(False, "Vous n'administrez les utilisateurs d'aucun établissement.")
REFUSED_REFERENCE = Decision(False, "Seul le back-office peut modifier les entreprises et les établissements.")


@dataclass(frozen=True)
class Perimeter:
    """What one actor administers: everything, or a set of establishments with the habilitations held there."""

    actor_id: int | None
    unrestricted: bool
    # establishment id -> the administering habilitations the actor holds there (never empty); the governing
    # rule compares these, and the statements cached per perimeter are keyed on them (`fingerprint`)
    held: Mapping[int, frozenset[Habilitation]] = field(default_factory=dict)
    # establishment id (of `held`) -> every habilitation the actor holds there, Gestionnaire implying the rest:
    # the permission boundary of what they may grant there. Missing: what `held` implies (never more).
    holds: Mapping[int, frozenset[Habilitation]] = field(default_factory=dict)

    # --- facts ------------------------------------------------------------------------------------
    @cached_property  # a request asks it of its one perimeter for each statement it reuses
    def fingerprint(self) -> frozenset | None:
        """Equal for perimeters whose SQL restrictions (`users()`, `requests()`, the list's columns) are the same:
        the key of a statement built for one perimeter and reused for the next (None: unrestricted)."""
        return None if self.unrestricted else frozenset(self.held.items())

    def may_follow(self, author_id: int | None) -> bool:
        """Whether the actor may follow what someone started (a job, an operation: its page, progress, file,
        undo): its author and staff only. The perimeter is not enough: another manager's operation names their filter."""
        return self.unrestricted or (author_id is not None and author_id == self.actor_id)

    def followed(self, author_column: ColumnElement[int]) -> ColumnElement[bool]:
        """`may_follow` as SQL, for lists of jobs or operations (`author_column`: their actor_id)."""
        return true() if self.unrestricted else author_column == self.actor_id

    @property
    def administers_users(self) -> bool:
        """Whether the actor may open "Mes utilisateurs" at all."""
        return self.unrestricted or bool(self.held)

    @property
    def establishment_ids(self) -> frozenset[int]:
        """The establishments of a delegated perimeter (empty for an unrestricted one: use `unrestricted`)."""
        return frozenset(self.held)

    def contains(self, establishment_id: int) -> bool:
        return self.unrestricted or establishment_id in self.held

    def may_give(self, establishment_id: int, habilitations: Iterable[Habilitation]) -> bool:
        """Whether the actor holds, on that establishment, every administering habilitation of `habilitations`."""
        if self.unrestricted:
            return True
        mine = self.held.get(establishment_id)
        return bool(mine) and mine >= administering(habilitations)

    def grantable(self, establishment_id: int | None) -> frozenset[Habilitation]:
        """The habilitations this actor may tick or untick on a grant on that establishment (the permission
        boundary): every one for staff and the system, none outside the perimeter, else those held there.
        `None`, an establishment still to be chosen: those held on at least one establishment of the perimeter."""
        if self.unrestricted:
            return frozenset(Habilitation)
        if establishment_id is None:
            return frozenset().union(*(self.grantable(e) for e in self.held))
        if establishment_id not in self.held:
            return frozenset()
        return implied(self.holds.get(establishment_id, self.held[establishment_id]))

    # --- SQL: the rows this actor sees ------------------------------------------------------------
    def _ids(self, column) -> ColumnElement[bool]:
        return true() if self.unrestricted else in_ids(column, self.held)

    def establishments(self) -> ColumnElement[bool]:
        return self._ids(Establishment.id)

    def companies(self) -> ColumnElement[bool]:
        if self.unrestricted:
            return true()
        return Company.id.in_(select(Establishment.company_id).where(self.establishments()))

    def grants(self) -> ColumnElement[bool]:
        """Grant rows shown to this actor (the others are hidden, only counted)."""
        return self._ids(Grant.establishment_id)

    def users(self) -> ColumnElement[bool]:
        """Users with a grant in the perimeter (everyone, for an unrestricted one)."""
        if self.unrestricted:
            return true()
        return User.id.in_(select(Grant.user_id).where(self.grants()))

    def requests(self) -> ColumnElement[bool]:
        """Requests for an establishment of the perimeter; a claim on an account awaiting its holder's
        confirmation is nobody's yet."""
        confirmed = AccountRequest.status != RequestStatus.UNCONFIRMED.value
        if self.unrestricted:
            return confirmed
        return and_(confirmed, AccountRequest.siret.in_(select(Establishment.siret).where(self.establishments())))

    def _governed_grant(self) -> ColumnElement[bool]:
        """A grant row the actor governs: on the perimeter, holding no administering habilitation the actor
        lacks there. Written from the held sets, so it says in SQL what `may_give` says in Python."""
        groups: dict[frozenset[Habilitation], list[int]] = {}
        for establishment_id, mine in self.held.items():
            groups.setdefault(mine, []).append(establishment_id)
        clauses = []
        for mine, establishment_ids in groups.items():
            lacking = ADMINISTERING - mine
            # A grant gives h when h is ticked or Gestionnaire is (models.habilitations.implied).
            gives_none = [getattr(Grant, h.value).is_(False) for h in lacking]
            if lacking:
                gives_none.append(Grant.manager.is_(False))
            clauses.append(and_(in_ids(Grant.establishment_id, establishment_ids), *gives_none))
        return or_(false(), *clauses)

    def ungoverned_users(self) -> ColumnElement[bool]:
        """Users this actor may NOT govern (for refusing a whole batch): the SQL form of `governs`."""
        if self.unrestricted:
            return false()
        outside = exists().where(Grant.user_id == User.id, not_(self._governed_grant()))
        return or_(User.is_staff.is_(True), not_(self.users()), outside)

    # --- SQL: the list's columns, as this actor may see them ----------------------------------------
    def is_manager_column(self) -> ColumnElement[bool]:
        """"Gestionnaire" in the list: on an establishment the actor sees."""
        return exists().where(Grant.user_id == User.id, Grant.manager.is_(True), self.grants()).correlate_except(Grant)

    def primary_establishment_column(self) -> ColumnElement[str]:
        """"Établissement principal" in the list: its name and SIRET, when the actor may see it."""
        shown = (
            select(Establishment.name + literal(" ") + Establishment.siret)
            .join(Grant, Grant.establishment_id == Establishment.id)
            .where(Grant.user_id == User.id, Grant.is_primary.is_(True), self.grants())
            .correlate_except(Grant, Establishment)
            .scalar_subquery()
        )
        return shown

    # --- predicates on loaded users ---------------------------------------------------------------
    def visible_grants(self, user: User) -> list[Grant]:
        return [g for g in user.grants if self.contains(g.establishment_id)]

    def hides_grants_of(self, user: User) -> bool:
        """Whether `user` also has grants this actor must not see (another company's, say)."""
        return any(not self.contains(g.establishment_id) for g in user.grants)

    def sees(self, user: User) -> bool:
        return self.unrestricted or bool(self.visible_grants(user))

    def governs(self, user: User) -> Decision:
        """May this actor act on the account itself (identity, links, activation, deletion)?"""
        if self.unrestricted:
            return ALLOWED
        if user.is_staff:
            return REFUSED_STAFF
        if not self.sees(user):
            return REFUSED_UNSEEN
        for grant in user.grants:
            if grant.establishment_id not in self.held:
                return REFUSED_ELSEWHERE
            if not self.may_give(grant.establishment_id, grant_habilitations(grant)):
                return REFUSED_HIGHER
        return ALLOWED

    def may(self, action: UserAction, user: User) -> Decision:
        if action is UserAction.SEE:
            return ALLOWED if self.sees(user) else REFUSED_UNSEEN
        if action is UserAction.CHANGE_EMAIL:
            return self.may_hand_over(user)
        return self.governs(user)

    def may_hand_over(self, user: User) -> Decision:
        """May this actor give `user`'s account a new address (and so, whoever reads it, the account)? Only one
        they govern whose habilitations they hold themselves, establishment by establishment: taking over an
        account must never give an administrator more than they had."""
        decision = self.governs(user)
        if not decision or self.unrestricted:
            return decision
        beyond = sorted({h for g in user.grants for h in grant_habilitations(g) - self.grantable(g.establishment_id)},
                        key=list(Habilitation).index)
        if beyond:
            return Decision(False, REFUSED_HAND_OVER.format(labels=", ".join(h.label for h in beyond)))
        return ALLOWED

    def may_change_grant(
        self,
        user: User | None,
        establishment_id: int,
        before: Iterable[Habilitation] | None,
        after: Iterable[Habilitation] | None,
    ) -> Decision:
        """May this actor add (before None), change, or remove (after None) `user`'s grant on an establishment?
        `user` None is a user being created."""
        if self.unrestricted:
            return ALLOWED
        if user is not None and user.is_staff:
            return REFUSED_STAFF
        if user is not None and user.id == self.actor_id:
            return REFUSED_OWN_GRANTS
        if establishment_id not in self.held:
            return REFUSED_GRANT_ELSEWHERE
        # What the change adds or removes (all of a grant added or removed): a primary flag moved alone touches none.
        beyond = (set(before or ()) ^ set(after or ())) - self.grantable(establishment_id)
        if beyond:
            return refused_beyond_boundary(beyond)
        return ALLOWED

    def may_create(self, *, staff: bool) -> Decision:
        if self.unrestricted:
            return ALLOWED
        if staff:
            return REFUSED_STAFF_CREATION
        return ALLOWED if self.held else REFUSED_NOT_ADMIN

    def may_change_reference_data(self) -> Decision:
        """Companies and establishments (the référentiel) are the back office's."""
        return ALLOWED if self.unrestricted else REFUSED_REFERENCE

    def may_claim(self, user: User) -> Decision:
        """May this actor attach an existing account (whose holder confirmed the request) to the perimeter?"""
        if self.unrestricted:
            return ALLOWED
        if user.is_staff:
            return REFUSED_STAFF
        return ALLOWED if self.held else REFUSED_NOT_ADMIN

    def may_decide(self, request: AccountRequest, establishment_id: int | None) -> Decision:
        """May this actor approve or refuse a request for that establishment (None: unknown SIRET)?"""
        if request.status == RequestStatus.UNCONFIRMED.value:
            return Decision(False, "Cette demande attend la confirmation du titulaire du compte.")
        if self.unrestricted:
            return ALLOWED
        if establishment_id is None or establishment_id not in self.held:
            return Decision(False, f"Cette demande concerne un établissement {OUT_OF_PERIMETER} : aucune demande n'a été modifiée.")
        return ALLOWED

    def actor_labels(self, session: Session, actors: Iterable[tuple[int | None, str]]) -> dict[tuple[int | None, str], str]:
        """How a history this actor reads names each author (id, label) of its entries. Staff read every name; a
        delegated administrator reads their own, staff's, the system's and those of the users they see. Not another
        company's administrator who changed a user both companies share, nor a deleted account (nobody can tell
        whose it was any more): those read UNNAMED_ACTOR."""
        actors = set(actors)
        if self.unrestricted:
            return {actor: actor[1] for actor in actors}
        ids = {actor_id for actor_id, _ in actors if actor_id is not None}
        named = set(session.scalars(select(User.id).where(
            in_ids(User.id, ids), or_(User.id == self.actor_id, User.is_staff.is_(True), self.users())))) if ids else set()
        return {(actor_id, label): label if actor_id in named or (actor_id is None and label == SYSTEM.label)
                else UNNAMED_ACTOR for actor_id, label in actors}

    def redact_grant_snapshot(self, snapshot: dict | None, visible_labels: set[str]) -> dict | None:
        """An audit snapshot of grants (establishment label -> values) cut to what this actor may see."""
        if self.unrestricted or not isinstance(snapshot, dict):
            return snapshot
        return {label: value for label, value in snapshot.items() if label in visible_labels}


def administrators_of(establishment_id: int) -> ColumnElement[bool]:
    """Active users whose perimeter holds this establishment: those who see and decide its requests.
    (Staff see everything; they are not counted here.)"""
    holds = or_(*(getattr(Grant, h.value).is_(True) for h in ADMINISTERING))
    return and_(
        User.active.is_(True),
        User.id.in_(select(Grant.user_id).where(Grant.establishment_id == establishment_id, holds)),
    )


def everything(actor_id: int | None = None) -> Perimeter:
    return Perimeter(actor_id, unrestricted=True)


def perimeter_of(session: Session, actor: Actor) -> Perimeter:
    """Build the actor's perimeter from the database as it is in this transaction."""
    user = actor.user
    if user is None:
        return everything()
    if not user.active:
        return Perimeter(user.id, unrestricted=False)
    if user.is_staff:
        return everything(user.id)
    flags = [getattr(Grant, h.value) for h in Habilitation]
    held: dict[int, frozenset[Habilitation]] = {}
    holds: dict[int, frozenset[Habilitation]] = {}
    for row in session.execute(select(Grant.establishment_id, *flags).where(Grant.user_id == user.id)):
        everything_held = implied(h for h, ticked in zip(Habilitation, row[1:], strict=True) if ticked)
        if mine := administering(everything_held):
            held[row[0]] = mine
            holds[row[0]] = everything_held
    return Perimeter(user.id, unrestricted=False, held=held, holds=holds)
