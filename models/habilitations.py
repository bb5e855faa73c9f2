"""The seven habilitations and the feature matrix of the guide (section 5).

This module is the single source of truth: the grant editor's checkboxes, the
habilitation filter, the permission checks and the matrix page all read it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .accounts import Grant, User


class Habilitation(enum.StrEnum):
    """A habilitation; its value is the Grant column that stores it."""

    MANAGER = "manager"
    FUNDING = "funding"
    APPRENTICESHIP = "apprenticeship"
    SENSITIVE_DATA = "sensitive_data"
    PAYMENTS = "payments"
    REPORTING = "reporting"
    USER_ADMIN = "user_admin"

    @property
    def label(self) -> str:
        return HABILITATION_LABELS[self]


HABILITATION_LABELS: dict[Habilitation, str] = {
    Habilitation.MANAGER: "Gestionnaire",
    Habilitation.FUNDING: "Prise en charge",
    Habilitation.APPRENTICESHIP: "Contrat de professionnalisation",
    Habilitation.SENSITIVE_DATA: "Données sensibles",
    Habilitation.PAYMENTS: "Collecte / versements",
    Habilitation.REPORTING: "Données des reporting",
    Habilitation.USER_ADMIN: "Gestion des utilisateurs",
}

# The order of the guide's matrix columns (Gestionnaire last there, first in the editor).
MATRIX_COLUMNS: tuple[Habilitation, ...] = (
    Habilitation.FUNDING,
    Habilitation.APPRENTICESHIP,
    Habilitation.SENSITIVE_DATA,
    Habilitation.PAYMENTS,
    Habilitation.REPORTING,
    Habilitation.USER_ADMIN,
    Habilitation.MANAGER,
)

# Every habilitation except Gestionnaire, which implies all of them.
SPECIFIC_HABILITATIONS: tuple[Habilitation, ...] = tuple(h for h in Habilitation if h is not Habilitation.MANAGER)

ANY_GRANT = frozenset(SPECIFIC_HABILITATIONS)  # marker: any grant at all opens the feature
H = Habilitation

# Feature label -> the habilitations that open it (Gestionnaire opens every feature, added by `requires`).
FEATURES: dict[str, frozenset[Habilitation]] = {
    "Créer un dossier": frozenset({H.FUNDING}),
    "Créer un contrat de pro": frozenset({H.APPRENTICESHIP}),
    "Suivre les dossiers": frozenset({H.FUNDING}),
    "Suivre les contrats de pro": frozenset({H.APPRENTICESHIP}),
    "Gérer les salariés": frozenset({H.FUNDING, H.APPRENTICESHIP}),
    "Gérer le salaire horaire": frozenset({H.SENSITIVE_DATA}),
    "Visualiser les comptes": frozenset({H.REPORTING}),
    "Suivre et visualiser les factures": frozenset({H.REPORTING}),
    "Déclarer les contributions formations": frozenset({H.PAYMENTS}),
    "Déclencher les versements volontaires": frozenset({H.PAYMENTS}),
    "Gérer les mandats de prélèvement": frozenset({H.PAYMENTS}),
    "Visualiser le suivi financier de l'activité": frozenset({H.REPORTING}),
    "Télécharger les reportings DEFi Performance": frozenset({H.REPORTING}),
    "Accéder au catalogue Sélection DEFi Formations": ANY_GRANT,
    "Actualités": ANY_GRANT,
    "Gérer son profil": ANY_GRANT,
    "Gérer les utilisateurs": frozenset({H.USER_ADMIN}),
}

# Features that any grant opens, whatever its flags (even a grant with none ticked).
UNIVERSAL_FEATURES: frozenset[str] = frozenset(f for f, needs in FEATURES.items() if needs is ANY_GRANT)


def requires(feature: str) -> frozenset[Habilitation]:
    """Return the habilitations any one of which opens `feature` (Gestionnaire included)."""
    return FEATURES[feature] | {Habilitation.MANAGER}


def opens(habilitation: Habilitation, feature: str) -> bool:
    """Say whether holding `habilitation` alone opens `feature` (a cell of the matrix)."""
    return habilitation in requires(feature)


def implied(held: Iterable[Habilitation]) -> frozenset[Habilitation]:
    """Return what holding `held` amounts to: Gestionnaire implies every habilitation (the one place saying so)."""
    held = frozenset(held)
    return frozenset(Habilitation) if Habilitation.MANAGER in held else held


def grant_habilitations(grant: Grant) -> frozenset[Habilitation]:
    """Return the habilitations a grant gives (its ticked flags, Gestionnaire implying every other)."""
    return implied(h for h in Habilitation if getattr(grant, h.value))


def grant_features(grant: Grant) -> list[str]:
    """Return, in the guide's order, the features a grant opens on its establishment."""
    held = grant_habilitations(grant)
    return [f for f in FEATURES if f in UNIVERSAL_FEATURES or held & requires(f)]


def can(user: User, feature: str, establishment_id: int | None = None) -> bool:
    """Say whether `user` may use `feature`, on one establishment or on at least one.

    An inactive user can do nothing. Staff are back-office people, not portal
    users: they hold no feature through this matrix unless they have grants.
    """
    if feature not in FEATURES:
        raise KeyError(feature)
    if not user.active:
        return False
    grants: Iterable[Grant] = user.grants
    if establishment_id is not None:
        grants = [g for g in grants if g.establishment_id == establishment_id]
    return any(feature in grant_features(g) for g in grants)


# The matrix row that makes a delegated administrator: whoever holds one of these on an establishment
# administers that establishment's users (Gestion des utilisateurs, and Gestionnaire which implies it).
USER_ADMINISTRATION = "Gérer les utilisateurs"
ADMINISTERING: frozenset[Habilitation] = requires(USER_ADMINISTRATION)


def administering(held: Iterable[Habilitation]) -> frozenset[Habilitation]:
    """The administering habilitations that `held` amounts to; a larger set is a higher level
    (Gestionnaire gives both, Gestion des utilisateurs only itself), compared by inclusion."""
    return implied(held) & ADMINISTERING
