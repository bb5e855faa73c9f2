"""Jinja filters for dates and identifiers, shown the French way."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for

from models.rules import format_phone, format_siret

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
    ("user.invite", "Invitation envoyée"),
    ("user.verify_email", "Email validé"),
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
    ("seed.demo", "Données de démonstration"),
])


def audit_action(action: str) -> str:
    return AUDIT_ACTIONS.get(action, action)


def audit_values(values: dict | None) -> str:
    """Show an audit entry's before/after values as short "key: value" text (escaped by Jinja)."""
    if not values:
        return ""
    parts = []
    for key, value in values.items():
        if isinstance(value, str) and _ISO_AWARE_DATETIME.fullmatch(value):
            value = paris_datetime(datetime.fromisoformat(value))  # stored as ISO text: shown like every other date
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key} : {value}")
    return " ; ".join(parts)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["paris"] = paris_datetime
    app.jinja_env.filters["yes_no"] = yes_no
    app.jinja_env.filters["siret"] = format_siret
    app.jinja_env.filters["phone"] = format_phone
    app.jinja_env.filters["audit_action"] = audit_action
    app.jinja_env.filters["audit_values"] = audit_values
    _register_globals(app)


def _register_globals(app: Flask) -> None:
    from models.habilitations import Habilitation, grant_features

    app.jinja_env.globals.update(habilitation_order=list(Habilitation), grant_features=grant_features, admin_static_url=admin_static_url)


def admin_static_url(filename: str, v: str | None = None) -> str:
    """Flask-Admin's static files, as its `admin_static.url` macro gives them, built once per app:
    the layout links thirteen of them on every page, and building a URL is not free."""
    cache = current_app.extensions.setdefault("admin_static_urls", {})
    if (filename, v) not in cache:
        cache[filename, v] = url_for("admin.static", filename=filename, **({"v": v} if v else {}))
    return cache[filename, v]
