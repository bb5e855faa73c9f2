"""Jinja filters for dates and identifiers, shown the French way."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

from models.rules import format_phone, format_siret

PARIS = ZoneInfo("Europe/Paris")


def paris_datetime(value: datetime | None, fmt: str = "%d-%m-%Y %H:%M:%S") -> str:
    """Format a UTC datetime in Paris time ("" when None)."""
    if value is None:
        return ""
    return value.astimezone(PARIS).strftime(fmt)


def yes_no(value: bool | None) -> str:
    return "Oui" if value else "Non"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["paris"] = paris_datetime
    app.jinja_env.filters["yes_no"] = yes_no
    app.jinja_env.filters["siret"] = format_siret
    app.jinja_env.filters["phone"] = format_phone
    _register_globals(app)


def _register_globals(app: Flask) -> None:
    from models.habilitations import Habilitation, grant_features

    app.jinja_env.globals.update(habilitation_order=list(Habilitation), grant_features=grant_features)
