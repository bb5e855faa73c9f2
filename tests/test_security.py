"""Sweeps over every endpoint of the app, and the defaults of a trusted web app."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from admin_app import create_app
from admin_app.config import TestingConfig
from admin_app.extensions import db as app_db
from admin_app.services import passwords
from models import AuditEvent, Base, User

from .demo import LUKE, STAFF
from .http import csrf_token, endpoint_urls, login

PUBLIC_ENDPOINTS = {"auth.login", "auth.account_request", "auth.verify_email", "auth.set_password", "auth.forgot_password",
                    "attachments.confirm", "auth.confirm_email_change", "auth.cancel_email_change",
                    "static", "admin.static", "healthz", "index"}
def database_dump(db):
    db.session.expire_all()
    return {table.name: sorted(map(repr, db.session.execute(table.select()).all())) for table in Base.metadata.sorted_tables}


def test_every_post_endpoint_refuses_a_missing_or_foreign_csrf_token(app, staff_client, db):
    posts = endpoint_urls(app, "POST")
    # The sweep enumerates the app itself: these are only a sanity check that it found the usual suspects.
    found = {endpoint for endpoint, _ in posts}
    assert {"auth.login", "auth.logout", "auth.account_request", "auth.set_password", "auth.forgot_password", "auth.profile",
            "users.action_view", "users.create_view", "users.edit_view", "users.delete_view", "account_requests.refuse_view",
            "account_requests.action_view", "companies.create_view", "establishments.delete_view", "emails.action_view",
            "audit.action_view"} <= found
    stranger = app.test_client()
    foreign_token = csrf_token(stranger, "/login")
    before = database_dump(db)
    for endpoint, url in posts:
        for data in ({}, {"csrf_token": foreign_token}, {"csrf_token": "garbage"}):
            response = staff_client.post(url, data={**data, "rowid": ["1"], "action": "delete", "id": "1"})
            assert response.status_code == 400, (endpoint, url, data, response.status_code)
            assert "Requête invalide" in response.get_data(as_text=True)
    assert database_dump(db) == before


def test_every_non_public_page_sends_an_anonymous_visitor_to_login(app, client, demo):
    for endpoint, url in endpoint_urls(app, "GET"):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        response = client.get(url)
        assert response.status_code == 302, (endpoint, url, response.status_code)
        assert response.location.startswith("/login"), (endpoint, url, response.location)


def test_public_pages_answer_an_anonymous_visitor(client):
    for url in ("/login", "/account/request", "/account/forgot-password", "/healthz"):
        assert client.get(url).status_code == 200, url
    for url in ("/account/verify/x", "/account/set-password/x", "/account/confirm-new-email/x",
                "/account/cancel-email-change/x"):
        assert client.get(url).status_code == 400, url  # a clear page about the bad link


def test_security_headers_on_every_response(client, demo):
    for url in ("/login", "/admin/", "/nowhere", "/healthz"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_no_inline_script_without_the_nonce(staff_client, db):
    luke = db.session.scalar(select(User.id).where(User.email == "luke.skywalker@example.org"))
    for url in ("/admin/", "/admin/users/", f"/admin/users/edit/?id={luke}", "/admin/companies/", "/admin/establishments/new/",
                "/admin/emails/", "/admin/account-requests/", "/account/profile"):
        response = staff_client.get(url)
        html = response.get_data(as_text=True)
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or f'nonce="{nonce}"' in tag, (url, tag)
        assert not re.search(r"\son(click|change|submit|load)=", html), url


def test_session_cookie_flags(client, demo, app):
    response = login(client, *STAFF)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    config = TestingConfig(app.config["SQLALCHEMY_DATABASE_URI"])
    config.SESSION_COOKIE_SECURE = True
    secure = create_app(config)
    secure_client = secure.test_client()
    assert "Secure" in login(secure_client, *STAFF).headers["Set-Cookie"]
    with secure.app_context():
        app_db.engine.dispose()


def test_an_idle_session_ends(app, staff_client):
    app.config["SESSION_IDLE_TIMEOUT"] = timedelta(seconds=-1)
    try:
        response = staff_client.get("/admin/users/")
    finally:
        app.config["SESSION_IDLE_TIMEOUT"] = timedelta(minutes=60)
    assert response.status_code == 302 and response.location.startswith("/login")
    assert staff_client.get("/admin/users/").status_code == 302


def test_error_pages_are_french_without_stack_traces(app, staff_client):
    assert "Page introuvable" in staff_client.get("/nowhere").get_data(as_text=True)
    assert "Méthode non autorisée" in staff_client.get("/logout").get_data(as_text=True)
    big = staff_client.post("/login", data={"x": "a" * (3 * 1024 * 1024)})
    assert big.status_code == 413 and "trop volumineuses" in big.get_data(as_text=True)

    broken = create_app(TestingConfig(app.config["SQLALCHEMY_DATABASE_URI"]))
    broken.config["PROPAGATE_EXCEPTIONS"] = False

    @broken.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    response = broken.test_client().get("/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "Erreur interne" in html
    assert "secret detail" not in html and "Traceback" not in html
    with broken.app_context():
        app_db.engine.dispose()


def test_page_size_is_bounded(staff_client):
    html = staff_client.get("/admin/users/?page_size=1000000").get_data(as_text=True)
    assert 'aria-current="true">20<' in html


def test_password_hash_is_upgraded_at_login_when_the_cost_changes(client, demo, db, app):
    old = db.session.scalar(select(User.password_hash).where(User.email == STAFF[0]))
    passwords.configure_hasher(2, 128, 1)
    try:
        assert login(client, *STAFF).status_code == 302
    finally:
        passwords.configure_hasher(*app.config["ARGON2_COST"])
    db.session.expire_all()
    new = db.session.scalar(select(User.password_hash).where(User.email == STAFF[0]))
    assert new != old and "t=2" in new and "m=128" in new


def test_a_login_that_rehashes_does_not_trip_over_a_concurrent_change_of_the_account(app, demo, db):
    """Twenty sessions logging in to one account just after the cost changed all rehash its password:
    a login is not an edit, it must neither bump nor be refused by the optimistic-locking version."""
    from sqlalchemy import update

    from admin_app.services.sessions import authenticate

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == STAFF[0]))  # this login read the account...
        version = user.version
        with Session(bind=db.session.get_bind()) as other:  # ...then another login or an edit changed it
            other.execute(update(User).where(User.id == user.id).values(version=User.version + 1))
            other.commit()
        passwords.configure_hasher(2, 128, 1)
        try:
            assert authenticate(db.session, STAFF[0], STAFF[1]) is user
        finally:
            passwords.configure_hasher(*app.config["ARGON2_COST"])
    db.session.expire_all()
    again = db.session.get(User, user.id)
    assert again.version == version + 1 and "m=128" in again.password_hash and again.last_login_at is not None


def test_no_password_or_token_in_the_audit_trail(client, demo, db):
    login(client, STAFF[0], "a wrong password 123")
    login(client, *STAFF)
    rows = db.session.execute(select(AuditEvent.before, AuditEvent.after, AuditEvent.target_label)).all()
    dump = repr(rows) + repr(db.session.execute(text("SELECT * FROM audit_events")).all())
    assert STAFF[1] not in dump and "a wrong password" not in dump and "argon2" not in dump


def test_access_logs_do_not_show_email_link_tokens(app):
    import logging

    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - - "%s" %s',
                               ("127.0.0.1", "GET /account/set-password/WzEsImFiYyJd.secret.sig HTTP/1.1", "200"), None)
    for handler_filter in logging.getLogger("werkzeug").filters:
        handler_filter.filter(record)
    message = record.getMessage()
    assert "secret" not in message and "/account/set-password/…" in message


def test_every_response_to_a_logged_in_user_is_kept_out_of_caches(app, client, staff_client, db):
    luke = db.session.scalar(select(User.id).where(User.email == "luke.skywalker@example.org"))
    for url in ("/admin/", "/admin/users/", f"/admin/users/details/?id={luke}", "/admin/audit/", "/account/profile", "/nowhere"):
        response = staff_client.get(url)
        assert response.headers.get("Cache-Control") == "no-store", (url, response.status_code)
    token = csrf_token(staff_client, "/admin/users/")
    export = staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "export", "all_matching": "1", "url": "/"})
    assert export.mimetype == "text/csv" and export.headers["Cache-Control"] == "no-store"
    export.close()  # a streamed response holds its app context (and its `g`, its user) until closed
    # A client user's own pages too.
    other = app.test_client()
    login(other, *LUKE)
    assert other.get("/account/profile").headers["Cache-Control"] == "no-store"
    # Static files may be cached: they say nothing about anyone.
    static = staff_client.get("/static/app.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    static.close()
