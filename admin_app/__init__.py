"""The Flask application factory."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, redirect, render_template, url_for
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from . import private_files
from .config import INSTANCE, ROOT, Config
from .extensions import babel, csrf, db, limiter, login_manager, migrate
from .services import passwords


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def create_app(config: Any = None) -> Flask:
    """Create the app: defaults, then the environment, then `config` (an object or a dict)."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(Config())
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    private_files.private_folder(Path(app.instance_path))
    private_files.protect_sqlite_database(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
    passwords.configure_hasher(*app.config["ARGON2_COST"])

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=lambda: "fr", timezone_selector=lambda: "Europe/Paris")
    limiter.init_app(app)
    login_manager.init_app(app)

    from . import inputs

    inputs.init_app(app)  # first of the app's own hooks: NUL bytes get a French 400 before any query

    from . import attachments, auth, cli, filters, security

    security.init_app(app)
    auth.init_app(app)
    attachments.init_app(app)
    cli.init_app(app)
    filters.init_app(app)
    from . import menu

    menu.init_app(app)  # the name menu of every page's top bar, and /favicon.ico

    from views import init_admin

    init_admin(app)
    from . import jobs

    jobs.init_app(app)  # embedded mode: the job runner thread starts with the first request

    @app.get("/")
    def index():
        return redirect(url_for("auth.login"))

    @app.get("/healthz")
    def healthz():
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:  # any database failure means "not healthy"
            db.session.rollback()
            return {"status": "database unavailable"}, 503
        return {"status": "ok"}

    if proxies := app.config.get("TRUSTED_PROXIES", 0):
        # Only the addresses the proxies themselves appended are believed; what the client put in front is not.
        # The host is not taken from X-Forwarded-Host: the proxy passes the Host header on (README's recipe).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    for code in (400, 403, 404, 405, 413, 415, 429, 500):
        app.register_error_handler(code, _error_page(code))

    return app


ERROR_MESSAGES = {
    400: ("Requête invalide", "La requête n'a pas pu être traitée (formulaire expiré ou incomplet). Rechargez la page et réessayez."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas, ou vous n'y avez pas accès."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible de cette façon."),
    413: ("Envoi trop volumineux", "Les données envoyées sont trop volumineuses."),
    415: ("Format de données non pris en charge", "Les formulaires de ce site n'acceptent que les données d'un formulaire web."),
    429: ("Trop de tentatives", "Trop de tentatives en peu de temps. Patientez quelques minutes avant de réessayer."),
    500: ("Erreur interne", "Une erreur inattendue est survenue. L'équipe technique a été prévenue ; réessayez plus tard."),
}


def _error_page(code: int):
    def handler(error):
        title, message = ERROR_MESSAGES[code]
        return render_template("error.html", code=code, title=title, message=message), code

    return handler
