"""Jinja filters for dates and identifiers, shown the French way."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for
from markupsafe import Markup

from models import EMAIL_KIND_LABELS, HABILITATION_LABELS, Habilitation, RequestKind, RequestStatus
from models.habilitations import grant_features
from models.rules import format_phone, format_siret
from models.wording import thousands

PARIS = ZoneInfo("Europe/Paris")
# An aware datetime as the audit log stores it (isoformat()): naive ones are left as they are, their zone unknown.
_ISO_AWARE_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


DATETIME_FORMAT = "%d/%m/%Y %H:%M"  # the one date format of every screen and export: 02/05/2018 18:22


def paris_datetime(value: datetime | None, fmt: str = DATETIME_FORMAT) -> str:
    """Format a UTC datetime in Paris time ("" when None)."""
    if value is None:
        return ""
    return value.astimezone(PARIS).strftime(fmt)


def yes_no(value: bool | None) -> str:
    return "Oui" if value else "Non"


# French names of the audit actions (a list of pairs: bandit reads dict keys with "password" as secrets).
AUDIT_ACTIONS = dict([
    ("user.create", "Création"),
    ("user.update", "Modification"),
    ("user.grants", "Rattachements"),
    ("user.activate", "Activation"),
    ("user.deactivate", "Désactivation"),
    ("user.delete", "Suppression"),
    ("user.activate_links", "Activation avec envoi de lien"),
    ("operation.undo", "Annulation d'opération"),
    ("user.invite", "Invitation envoyée"),
    ("user.verify_email", "Email validé"),
    ("user.email_change", "Nouvelle adresse email demandée"),
    ("user.email_changed", "Nouvelle adresse email confirmée"),
    ("user.email_change_cancelled", "Changement d'adresse email annulé"),
    ("user.set_password", "Mot de passe créé"),
    ("user.reset_password", "Mot de passe réinitialisé"),
    ("user.change_password", "Mot de passe changé"),
    ("user.password_link", "Lien de mot de passe demandé"),
    ("email.retry", "Email remis en file"),
    ("login.success", "Connexion"),
    ("login.failure", "Échec de connexion"),
    ("logout", "Déconnexion"),
    ("company.create", "Entreprise créée"),
    ("company.update", "Entreprise modifiée"),
    ("company.delete", "Entreprise supprimée"),
    ("establishment.create", "Établissement créé"),
    ("establishment.update", "Établissement modifié"),
    ("establishment.delete", "Établissement supprimé"),
    ("request.create", "Demande reçue"),
    ("request.confirm", "Demande confirmée par le titulaire du compte"),
    ("request.notify", "Demande signalée par email"),
    ("request.approve", "Demande validée"),
    ("request.refuse", "Demande refusée"),
    ("email.sent", "Email envoyé"),
    ("email.suppressed", "Emails non envoyés : limite atteinte"),
    ("seed.demo", "Données de démonstration"),
])


def audit_action(action: str) -> str:
    return AUDIT_ACTIONS.get(action, action)


# The screen label of every field an audit entry records (a list of pairs, as AUDIT_ACTIONS).
AUDIT_FIELDS = dict([
    ("civility", "Civilité"),
    ("last_name", "Nom"),
    ("first_name", "Prénom"),
    ("email", "Email"),
    ("phone", "Téléphone"),
    ("job_title", "Fonction"),
    ("is_staff", "Compte du personnel"),
    ("active", "Actif"),
    ("notify_requests", "Être prévenu(e) des nouvelles demandes"),
    ("kind", "Type de demande"),
    ("status", "Statut"),
    ("siret", "SIRET"),
    ("siren", "SIREN"),
    ("company_name", "Raison sociale"),
    ("company", "Entreprise"),
    ("name", "Nom"),
    ("postal_code", "Code postal"),
    ("city", "Ville"),
    ("confirmed", "Confirmée par le titulaire du compte"),
    ("asked_by", "Demandée par"),
    ("user", "Utilisateur"),
    ("motif", "Motif"),
    ("destinataires", "Destinataires"),
    ("limite", "Limite atteinte"),
    ("rows", "Lignes ajoutées"),
    ("principal", "Établissement principal"),
    ("habilitations", "Habilitations"),
    # an operation's counts (admin_app.services.operations)
    ("requested", "Utilisateurs visés"),
    ("changed", "Modifiés"),
    ("unchanged", "Déjà dans cet état"),
    ("emails", "Liens envoyés"),
    ("restored", "Rétablis"),
    ("changed_since", "Modifiés depuis, laissés tels quels"),
    ("out_of_scope", "Hors du périmètre, laissés tels quels"),
])
NOTHING = "(vide)"


def _value_labels(key: str) -> dict[str, str]:
    """The French words of the coded values a field stores (habilitations, request kinds and statuses, email kinds)."""
    if key == "habilitations":
        return {h.value: label for h, label in HABILITATION_LABELS.items()}
    if key == "kind":
        return {k.value: k.label for k in RequestKind}
    if key == "status":
        return {s.value: s.label for s in RequestStatus}
    if key == "email":  # an invitation records the kind of email it sent
        return EMAIL_KIND_LABELS
    return {}


def audit_value(key: str, value) -> str:
    """One recorded value in French: Oui/Non, dates in Paris time, codes as their names."""
    if value is None or value == "" or value == []:
        return "aucune" if key == "habilitations" else NOTHING
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, str) and _ISO_AWARE_DATETIME.fullmatch(value):
        return paris_datetime(datetime.fromisoformat(value))  # stored as ISO text: shown like every other date
    if isinstance(value, list):
        return ", ".join(audit_value(key, v) for v in value)
    if isinstance(value, dict):
        return " ; ".join(f"{AUDIT_FIELDS.get(k, k)} : {audit_value(k, v)}" for k, v in value.items())
    if isinstance(value, str):
        return _value_labels(key).get(value, value)
    return thousands(value) if isinstance(value, int) else str(value)


def _is_grant_snapshot(values: dict | None) -> bool:
    return bool(values) and all(isinstance(v, dict) and "habilitations" in v for v in values.values())


def audit_lines(before: dict | None, after: dict | None) -> list[str]:
    """An audit entry's change as French lines: "Actif : Non → Oui", "Fonction : Pilote"."""
    before, after = before or {}, after or {}
    if _is_grant_snapshot(before) or _is_grant_snapshot(after):
        return _grant_lines(before, after)
    lines = []
    for key in [*after, *(k for k in before if k not in after)]:
        label = AUDIT_FIELDS.get(key, key)
        if key in before and key in after:
            lines.append(f"{label} : {audit_value(key, before[key])} → {audit_value(key, after[key])}")
        elif key in after:
            lines.append(f"{label} : {audit_value(key, after[key])}")
        else:
            lines.append(f"{label} : {audit_value(key, before[key])} → {NOTHING}")
    return lines


def _grant_lines(before: dict, after: dict) -> list[str]:
    lines = []
    for establishment in [*after, *(e for e in before if e not in after)]:
        old, new = before.get(establishment), after.get(establishment)
        if old is None:
            lines.append(f"Rattaché(e) à {establishment} ({audit_value('', new)})")
        elif new is None:
            lines.append(f"Détaché(e) de {establishment}")
        elif old != new:
            changed = [f"{AUDIT_FIELDS.get(k, k)} : {audit_value(k, old.get(k))} → {audit_value(k, new.get(k))}"
                       for k in new if old.get(k) != new.get(k)]
            lines.append(f"{establishment} : {' ; '.join(changed)}")
    return lines


def audit_changes(event) -> Markup:
    """An audit event's change for a screen, one line each (escaped)."""
    return Markup("<br>").join(audit_lines(event.before, event.after))


def audit_values(values: dict | None) -> str:
    """Show an audit entry's before or after values as French "Label : valeur" text (escaped by Jinja)."""
    return " ; ".join(audit_lines(None, values))


def init_app(app: Flask) -> None:
    app.jinja_env.filters["paris"] = paris_datetime
    app.jinja_env.filters["yes_no"] = yes_no
    app.jinja_env.filters["siret"] = format_siret
    app.jinja_env.filters["phone"] = format_phone
    app.jinja_env.filters["audit_action"] = audit_action
    app.jinja_env.filters["audit_values"] = audit_values
    app.jinja_env.filters["audit_changes"] = audit_changes
    app.jinja_env.filters["thousands"] = thousands
    _register_globals(app)


def _register_globals(app: Flask) -> None:
    # history_rows, a view's helper, is registered by the views (views.init_admin): this module is below them.
    app.jinja_env.globals.update(habilitation_order=list(Habilitation), grant_features=grant_features,
                                 admin_static_url=admin_static_url)


def admin_static_url(filename: str, v: str | None = None) -> str:
    """Flask-Admin's static files, as its `admin_static.url` macro gives them, built once per app:
    the layout links thirteen of them on every page, and building a URL is not free."""
    cache = current_app.extensions.setdefault("admin_static_urls", {})
    if (filename, v) not in cache:
        cache[filename, v] = url_for("admin.static", filename=filename, **({"v": v} if v else {}))
    return cache[filename, v]
