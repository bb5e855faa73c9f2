"""Defaults of a trusted web app: security headers, a CSP nonce, the session idle timeout and its absolute lifetime."""

from __future__ import annotations

import logging
import secrets
import time

from flask import Flask, flash, g, redirect, request, session, url_for
from flask.logging import default_handler
from flask_login import current_user, logout_user, user_logged_in

from . import access_logs

IDLE_KEY = "last_seen"
LOGIN_KEY = "logged_in_at"
SESSION_EXPIRED = "Votre session a expiré, reconnectez-vous."
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


def now() -> int:
    """The clock of both session limits, in seconds (one function, so that a test can move it)."""
    return int(time.time())


def _start_idle_clock(_app, user=None, **_extra) -> None:
    session[IDLE_KEY] = now()


def start_login_clock() -> None:
    """Called by the login view once the password was checked: the session ends PERMANENT_SESSION_LIFETIME later.

    Written at login only (not on the signal every login_user sends: reopening the session after a password change
    must not extend it). It lives in the signed session cookie, so it cannot be altered; re-signing the cookie on
    each request, or Flask refreshing a permanent cookie's expiry, renews neither this time nor the lifetime."""
    session[LOGIN_KEY] = now()


def login_expired(app: Flask) -> bool:
    """Whether this request's login session is past its absolute lifetime, whatever its activity; a session
    without a login time (opened before the lifetime existed, or not by the login view) counts as past."""
    logged_in_at = session.get(LOGIN_KEY)
    if not isinstance(logged_in_at, int) or isinstance(logged_in_at, bool):
        return True
    return now() - logged_in_at > app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()


def refuse_expired_login(app: Flask) -> bool:
    """For the user loader: True when the session is past its lifetime, remembered for `end_expired_sessions`
    (which logs it out and says so); the loader then gives no user."""
    if login_expired(app):
        g.login_expired = True
        return True
    return False


def _end_session(message: str):
    logout_user()
    for key in (IDLE_KEY, LOGIN_KEY):
        session.pop(key, None)
    if request.endpoint == "auth.login":
        # The login form itself goes on: shown with the message, or its credentials checked (no message then).
        if request.method == "GET":
            flash(message, "info")
        return None
    flash(message, "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))


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
    def end_expired_sessions():
        # A session older than PERMANENT_SESSION_LIFETIME (the user loader refused it), or unused for longer than
        # SESSION_IDLE_TIMEOUT, ends, even if its cookie is still valid.
        if request.endpoint in (None, *STATIC_ENDPOINTS):
            return None
        if not current_user.is_authenticated:
            return _end_session(SESSION_EXPIRED) if g.pop("login_expired", False) else None
        moment = now()
        last_seen = session.get(IDLE_KEY)
        session[IDLE_KEY] = moment
        if last_seen is not None and moment - last_seen > app.config["SESSION_IDLE_TIMEOUT"].total_seconds():
            return _end_session("Votre session a expiré après une période d'inactivité : reconnectez-vous.")
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
