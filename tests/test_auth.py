"""Login, logout, the failed-login limits and who may enter the admin panel."""

import logging

import pytest
from sqlalchemy import func, select

from admin_app.config import TestingConfig
from models import AuditEvent, OutboundEmail, User

from .demo import LANDO, LUKE, PADME, STAFF
from .http import csrf_token, login
from .servers import free_port, workers_on


def test_root_redirects_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location == "/login"


def test_login_page_is_french_with_csrf(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="fr">' in html and "Mot de passe" in html and "csrf_token" in html


def test_staff_logs_in_to_the_french_admin_home(client, demo, db):
    response = login(client, "STAFF@Example.org", STAFF[1])
    assert response.status_code == 302 and response.location == "/admin/"
    html = client.get("/admin/").get_data(as_text=True)
    assert "Tableau de bord" in html and "Utilisateurs actifs" in html and "Se déconnecter" in html
    staff = db.session.scalar(select(User).where(User.email == STAFF[0]))
    assert staff.last_login_at is not None
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.actor_id == staff.id)) == "login.success"


@pytest.mark.parametrize(
    "email, password",
    [(STAFF[0], "wrong password!"), ("nobody@example.org", "whatever-password"), PADME,
     ("han.solo@example.org", "")],
)
def test_failed_logins_all_get_the_same_message(client, demo, email, password):
    response = login(client, email, password)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Email ou mot de passe incorrect, ou compte inactif." in html or "Saisissez votre mot de passe" in html
    assert client.get("/admin/").status_code == 302  # still anonymous


def test_login_without_csrf_token_is_refused(client, demo):
    response = client.post("/login", data={"email": STAFF[0], "password": STAFF[1]})
    assert response.status_code == 400
    assert "Requête invalide" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "next_url, expected",
    [("/admin/companies/", "/admin/companies/"), ("https://evil.example/", "/admin/"), ("//evil.example/x", "/admin/"),
     ("/\\evil.example", "/admin/")],
)
def test_next_is_followed_only_on_this_site(client, demo, next_url, expected):
    token = csrf_token(client)
    response = client.post("/login", query_string={"next": next_url}, data={"email": STAFF[0], "password": STAFF[1], "csrf_token": token})
    assert response.location == expected


def test_anonymous_visitor_is_sent_to_login(client):
    for url in ("/admin/", "/admin/companies/", "/admin/establishments/", "/account/profile"):
        response = client.get(url)
        assert response.status_code == 302 and response.location.startswith("/login"), url


def test_a_delegated_administrator_lands_on_his_users_and_may_not_enter_the_reference_data(client, demo):
    response = login(client, *LUKE)
    assert response.location == "/admin/users/"  # the guide: "Mes utilisateurs" is a Gestionnaire's home
    assert client.get("/login").location == "/admin/users/"  # already logged in: the same home
    forbidden = client.get("/admin/companies/")
    assert forbidden.status_code == 403
    assert "Accès refusé" in forbidden.get_data(as_text=True) and "/account/profile" in forbidden.get_data(as_text=True)


def test_a_user_who_administers_nobody_lands_on_the_profile_and_gets_the_french_403_in_the_admin(client, demo):
    response = login(client, *LANDO)
    assert response.location == "/account/profile"
    forbidden = client.get("/admin/users/")
    html = forbidden.get_data(as_text=True)
    assert forbidden.status_code == 403 and "Accès refusé" in html
    assert "Mes utilisateurs</a>" not in html  # neither in the name menu nor in the way back


def test_logout_is_post_only_and_ends_the_session(client, demo):
    login(client, *STAFF)
    assert client.get("/logout").status_code == 405
    token = csrf_token(client, "/admin/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.location == "/login"
    assert client.get("/admin/").status_code == 302


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_healthz_says_503_when_the_database_does_not_answer(tmp_path):
    from admin_app import create_app
    from admin_app.config import TestingConfig

    broken = create_app(TestingConfig(f"sqlite:///{tmp_path}/missing/dir/app.db"))  # cannot be opened
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json() == {"status": "database unavailable"}


def test_a_session_cookie_copied_before_logout_no_longer_opens_a_session(app, client, demo, db):
    login(client, *STAFF)
    copied = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/admin/users/").status_code == 200  # the copy works while the session lives
    staff = db.session.scalar(select(User).where(User.email == STAFF[0]))
    token_before = staff.session_token

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302 and response.location == "/login"

    replayed = app.test_client()
    replayed.set_cookie("session", copied)
    response = replayed.get("/admin/users/")
    assert response.status_code == 302 and response.location.startswith("/login")
    db.session.expire_all()
    assert staff.session_token != token_before
    logout = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "logout")).one()
    assert (logout.actor_id, logout.target_id) == (staff.id, staff.id)


@pytest.mark.parametrize("variant", ["lando.calrissian@ｅxample.org", "LANDO.Calrissian@Example.ORG", " lando.calrissian@example.org "])
def test_another_spelling_of_the_address_shares_the_failed_login_counter(app, demo, variant):
    """Authentication folds these spellings into Lando's account: so must the per-account limit."""
    assert login(app.test_client(), variant, LANDO[1]).location == "/account/profile"  # the same account
    for _ in range(5):
        assert login(app.test_client(), LANDO[0], "mauvais mot de passe").status_code == 200
    locked = login(app.test_client(), variant, LANDO[1])  # a fresh client: the per-IP limit is far
    assert locked.status_code == 429 and "Trop de tentatives" in locked.get_data(as_text=True)


def test_failures_under_several_spellings_count_once_per_account(app, demo):
    spellings = ["lando.calrissian@ｅxample.org", "Lando.Calrissian@example.org", "lando.calrissian@EXAMPLE.org",
                 "lando.calrissian@ｅｘample.org", LANDO[0]]
    for spelling in spellings:
        assert login(app.test_client(), spelling, "mauvais mot de passe").status_code == 200
    assert login(app.test_client(), *LANDO).status_code == 429


# --- failed-login limits: per account, per IP, shared through Redis, kept when Redis is down -----------

def test_repeated_failed_logins_are_refused_for_a_while_without_telling_if_the_account_exists(app, demo):
    for address in ("luke.skywalker@example.org", "ghost@example.org"):
        client = app.test_client()
        statuses = [login(client, address, "mauvais mot de passe").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        locked = login(client, address, LUKE[1])
        assert locked.status_code == 429 and "Trop de tentatives" in locked.get_data(as_text=True)
    other = app.test_client()
    assert login(other, *STAFF).status_code == 302  # other accounts are not affected


def test_the_ip_limit_counts_across_accounts(app, demo):
    app.config["LOGIN_LIMIT_PER_IP"] = "3 per 15 minutes"
    try:
        client = app.test_client()
        statuses = [login(client, f"user{i}@example.org", "mauvais mot de passe").status_code for i in range(4)]
    finally:
        app.config["LOGIN_LIMIT_PER_IP"] = "30 per 15 minutes"
    assert statuses == [200, 200, 200, 429]


def test_failed_login_counters_are_shared_by_workers_through_redis(app, database_url, demo):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    try:
        with workers_on(app, database_url, "redis://127.0.0.1:6379/0", count=2) as workers:
            first, second = (w.test_client() for w in workers)
            assert [login(first, "luke.skywalker@example.org", "mauvais mot de passe").status_code for _ in range(5)] == [200] * 5
            assert login(second, *LUKE).status_code == 429
            assert list(client.scan_iter(f"{TestingConfig.RUN_PREFIX}*"))  # counted under this run's own prefix
    finally:
        for key in client.scan_iter(f"{TestingConfig.RUN_PREFIX}*"):
            client.delete(key)


def test_with_redis_unreachable_the_public_forms_still_answer_and_limits_hold_in_memory(app, database_url, demo, db, caplog):
    with workers_on(app, database_url, f"redis://127.0.0.1:{free_port()}/0") as (worker,):  # nothing listens there
        visitor = worker.test_client()
        with caplog.at_level(logging.WARNING, logger="flask-limiter"):
            response = login(visitor, *LUKE)
        assert response.status_code == 302 and response.location == "/admin/users/"
        assert any("falling back to in-memory storage" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

        anonymous = worker.test_client()
        token = csrf_token(anonymous, "/account/forgot-password")
        page = anonymous.post("/account/forgot-password", data={"email": STAFF[0], "csrf_token": token})
        assert page.status_code == 200 and "Demande enregistrée" in page.get_data(as_text=True)
        token = csrf_token(anonymous, "/account/request")
        page = anonymous.post("/account/request", data={"last_name": "Tano", "csrf_token": token})
        assert page.status_code == 200 and "Le prénom est obligatoire." in page.get_data(as_text=True)

        # The limits themselves still hold, counted in this worker's memory.
        statuses = [login(worker.test_client(), "han.solo@example.org", "mauvais mot de passe").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.recipient == STAFF[0])) == 1
