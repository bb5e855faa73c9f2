"""Defaults of a trusted web app: security headers, a CSP nonce, and the session idle timeout."""

from __future__ import annotations

import logging
import secrets
import time

from flask import Flask, flash, g, redirect, request, session, url_for
from flask.logging import default_handler
from flask_login import current_user, logout_user, user_logged_in

from . import access_logs

IDLE_KEY = "last_seen"
STATIC_ENDPOINTS = ("static", "admin.static")


def csp_nonce() -> str:
    """The nonce of this response's Content-Security-Policy, for the few inline scripts left."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _content_security_policy() -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{csp_nonce()}'",
        "style-src 'self' 'unsafe-inline'",  # Bootstrap and Flask-Admin set inline styles; scripts stay strict
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _start_idle_clock(_app, user=None, **_extra) -> None:
    session[IDLE_KEY] = int(time.time())


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    access_logs.install()  # email-link tokens masked in werkzeug's and gunicorn's access logs
    # Flask-Limiter's logger has only a NullHandler, which silences Python's last-resort output: its
    # warning that Redis is unreachable (limits then counted per worker) would be printed nowhere.
    limiter_log = logging.getLogger("flask-limiter")
    if default_handler not in limiter_log.handlers:
        limiter_log.addHandler(default_handler)
    user_logged_in.connect(_start_idle_clock, app)

    @app.before_request
    def end_idle_sessions():
        # A session unused for longer than SESSION_IDLE_TIMEOUT ends, even if its cookie is still valid.
        if not current_user.is_authenticated or request.endpoint in (None, *STATIC_ENDPOINTS):
            return None
        now = int(time.time())
        last_seen = session.get(IDLE_KEY)
        session[IDLE_KEY] = now
        timeout = app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        if last_seen is not None and now - last_seen > timeout:
            logout_user()
            session.pop(IDLE_KEY, None)
            flash("Votre session a expiré après une période d'inactivité : reconnectez-vous.", "info")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))
        return None

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", _content_security_policy())
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint not in STATIC_ENDPOINTS and current_user.is_authenticated:
            # What a logged-in person sees (lists of people, CSV exports, their profile) stays out of the
            # browser's and any proxy's cache: the back button after logout, or the next user of a shared
            # computer, must not find it there.
            response.headers["Cache-Control"] = "no-store"
        return response
