"""The journey of a new account through real emails (aiosmtpd), and each way it can go wrong."""

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from admin_app.extensions import db as app_db
from admin_app.services import emails as email_service
from models import AuditEvent, OutboundEmail, User, utcnow

from .demo import LUKE, PADME
from .http import csrf_token, login
from .servers import LINK, free_port


def send_mail(runner):
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    return result.output


def create_user(staff_client, email="ahsoka@example.org"):
    data = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": email, "phone": "0611223344",
            "csrf_token": csrf_token(staff_client, "/admin/users/new/")}
    assert staff_client.post("/admin/users/new/", data=data).status_code == 302


def password_link(app, staff_client, smtp, runner):
    """Create a user, follow the verification email: return a visitor and the password link's path."""
    create_user(staff_client)
    send_mail(runner)
    visitor = app.test_client()
    visitor.get(smtp.inbox.link("Validez votre adresse email"))
    send_mail(runner)
    return visitor, smtp.inbox.link("Créez votre mot de passe")


def set_password(client, path, password, confirmation=None):
    token = csrf_token(client, path)
    return client.post(path, data={"password": password, "confirmation": confirmation or password, "csrf_token": token})


def test_the_whole_journey_through_real_email(app, staff_client, smtp, runner, db):
    create_user(staff_client)
    assert "1 email(s) envoyé(s)" in send_mail(runner)
    first = smtp.inbox.messages[0]
    assert first["To"] == "ahsoka@example.org" and first["Subject"] == "Validez votre adresse email"
    assert "Ahsoka TANO" in first.get_body(("plain",)).get_content() and "48 heures" in first.get_body(("plain",)).get_content()
    assert first.get_body(("html",)) is not None

    visitor = app.test_client()
    page = visitor.get(smtp.inbox.link("Validez votre adresse email"))
    assert page.status_code == 200 and "adresse email est validée" in page.get_data(as_text=True)
    send_mail(runner)
    path = smtp.inbox.link("Créez votre mot de passe")
    assert "Créer votre mot de passe" in visitor.get(path).get_data(as_text=True)
    response = set_password(visitor, path, "un long mot de passe sûr")
    assert response.status_code == 302 and response.location == "/login"

    response = login(visitor, "ahsoka@example.org", "un long mot de passe sûr")
    assert response.status_code == 302 and response.location == "/account/profile"
    user = db.session.scalar(select(User).where(User.email == "ahsoka@example.org"))
    assert user.email_verified_at and user.password_hash and user.last_login_at
    assert "Ahsoka" in visitor.get("/account/profile").get_data(as_text=True)
    sent = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "email.sent"))
    assert sent == 2


def test_following_a_verify_link_twice_is_harmless(app, staff_client, smtp, runner, db):
    create_user(staff_client)
    send_mail(runner)
    link = smtp.inbox.link("Validez votre adresse email")
    visitor = app.test_client()
    visitor.get(link)
    again = visitor.get(link)
    assert again.status_code == 200 and "déjà validée" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.kind == "set_password")) == 1


def test_a_password_link_works_once(app, staff_client, smtp, runner):
    visitor, path = password_link(app, staff_client, smtp, runner)
    assert set_password(visitor, path, "un long mot de passe sûr").status_code == 302
    reused = visitor.get(path)
    assert reused.status_code == 400 and "déjà été utilisé" in reused.get_data(as_text=True)
    assert "demander un nouveau lien" in reused.get_data(as_text=True)


def test_a_newer_link_voids_the_older_one(app, staff_client, smtp, runner, db):
    create_user(staff_client)
    send_mail(runner)
    older = smtp.inbox.link("Validez votre adresse email")
    uid = db.session.scalar(select(User.id).where(User.email == "ahsoka@example.org"))
    token = csrf_token(staff_client, "/admin/users/")
    staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "invite", "rowid": [str(uid)], "url": "/"})
    send_mail(runner)
    newer = smtp.inbox.link("Validez votre adresse email")
    visitor = app.test_client()
    assert visitor.get(older).status_code == 400
    assert visitor.get(newer).status_code == 200


@pytest.mark.parametrize("mangle", ["tamper", "purpose", "garbage"])
def test_tampered_or_wrong_purpose_links_get_a_french_page(app, staff_client, smtp, runner, mangle):
    create_user(staff_client)
    send_mail(runner)
    link = smtp.inbox.link("Validez votre adresse email")
    if mangle == "tamper":
        link = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    elif mangle == "purpose":
        link = link.replace("/account/verify/", "/account/set-password/")
    else:
        link = "/account/verify/not-a-token"
    response = app.test_client().get(link)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "n&#39;est pas valide" in html and "Traceback" not in html


def test_an_expired_link_says_so(app, staff_client, smtp, runner):
    create_user(staff_client)
    send_mail(runner)
    link = smtp.inbox.link("Validez votre adresse email")
    saved = app.config["EMAIL_LINK_MAX_AGE"]
    app.config["EMAIL_LINK_MAX_AGE"] = timedelta(seconds=-1)
    try:
        response = app.test_client().get(link)
    finally:
        app.config["EMAIL_LINK_MAX_AGE"] = saved
    assert response.status_code == 400 and "a expiré" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "password, confirmation, message",
    [
        ("court", None, "au moins 12 caractères"),
        ("azertyuiop123", None, "trop courant"),
        ("ahsoka@example.org", None, "ne doit pas être votre adresse email"),
        ("un long mot de passe sûr", "un autre mot de passe long", "ne sont pas identiques"),
    ],
)
def test_password_policy_in_french(app, staff_client, smtp, runner, db, password, confirmation, message):
    visitor, path = password_link(app, staff_client, smtp, runner)
    response = set_password(visitor, path, password, confirmation)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(User.password_hash).where(User.email == "ahsoka@example.org")) is None


def test_forgot_password_answers_the_same_and_sends_a_link_to_real_accounts(app, demo, smtp, runner, db):
    visitor = app.test_client()
    answers = []
    for address in ("luke.skywalker@example.org", "nobody@example.org", "padme.amidala@example.org"):
        token = csrf_token(visitor, "/account/forgot-password")
        page = visitor.post("/account/forgot-password", data={"email": address, "csrf_token": token})
        answers.append(page.get_data(as_text=True).split('<main id="main"')[1])
    assert answers[0] == answers[1] == answers[2]
    send_mail(runner)
    assert [m["To"] for m in smtp.inbox.messages] == ["luke.skywalker@example.org"]  # Padmé is inactive
    path = smtp.inbox.link("Choisissez un nouveau mot de passe")  # Luke has one: the email says "nouveau"
    assert set_password(visitor, path, "la force est avec moi").status_code == 302
    assert login(visitor, "luke.skywalker@example.org", "la force est avec moi").status_code == 302


def test_a_deactivated_user_cannot_log_in(client, demo):
    response = login(client, *PADME)
    assert response.status_code == 200 and "compte inactif" in response.get_data(as_text=True)


def test_smtp_down_then_up_delivers_later_exactly_once(app, staff_client, smtp, runner, db):
    create_user(staff_client)
    app.config["MAIL_PORT"] = free_port()  # nothing listens there
    assert "0 email(s) envoyé(s), 1 échec(s)" in send_mail(runner)
    queued = db.session.scalar(select(OutboundEmail))
    assert (queued.status, queued.attempts) == ("pending", 1) and queued.last_error
    assert queued.next_attempt_at > utcnow()
    app.config["MAIL_PORT"] = smtp.port
    assert "0 email(s) envoyé(s)" in send_mail(runner)  # not due yet: backoff
    db.session.execute(update(OutboundEmail).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert "1 email(s) envoyé(s)" in send_mail(runner)
    assert "0 email(s) envoyé(s)" in send_mail(runner)
    assert len(smtp.inbox.messages) == 1
    db.session.expire_all()
    assert db.session.scalar(select(OutboundEmail.status)) == "sent"


def test_an_email_that_keeps_failing_is_marked_failed_and_can_be_retried(app, staff_client, smtp, runner, db):
    create_user(staff_client)
    app.config["MAIL_PORT"] = free_port()
    for _ in range(app.config["MAIL_MAX_ATTEMPTS"]):
        db.session.execute(update(OutboundEmail).values(next_attempt_at=utcnow()))
        db.session.commit()
        send_mail(runner)
    db.session.expire_all()
    failed = db.session.scalar(select(OutboundEmail))
    assert failed.status == "failed"
    assert "Emails en échec" in staff_client.get("/admin/").get_data(as_text=True)
    listing = staff_client.get("/admin/emails/?statut=failed").get_data(as_text=True)
    assert "ahsoka@example.org" in listing and "Échec" in listing
    token = csrf_token(staff_client, "/admin/emails/")
    staff_client.post("/admin/emails/action/", data={"csrf_token": token, "action": "retry", "rowid": [str(failed.id)], "url": "/"})
    app.config["MAIL_PORT"] = smtp.port
    send_mail(runner)
    assert len(smtp.inbox.messages) == 1


def test_two_workers_at_once_send_each_email_once(app, demo, smtp, db):
    with app.app_context():
        for i in range(40):
            email_service.enqueue(app_db.session, f"user{i}@example.org", "verify_email", "Test",
                                  user=SimpleNamespace(first_name="A", last_name="B"), link="http://x", expiry="1 h")
        app_db.session.commit()
        app_db.session.remove()
    results = []

    def worker(name):
        with app.app_context():
            total = 0
            while True:
                sent, _ = email_service.deliver_pending(app_db.session, worker=name, limit=5)
                if not sent:
                    break
                total += sent
            results.append(total)
            app_db.session.remove()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 40
    recipients = [m["To"] for m in smtp.inbox.messages]
    assert len(recipients) == 40 and len(set(recipients)) == 40


def test_profile_edit_and_password_change(client, demo, db):
    login(client, *LUKE)
    html = client.get("/account/profile").get_data(as_text=True)
    assert "Temple JEDI" in html and "Gérer les utilisateurs" in html and "06 12 34 56 78" in html
    token = csrf_token(client, "/account/profile")
    response = client.post("/account/profile", data={"form": "profile", "profile-email": "luke.skywalker@example.org",
                                                     "profile-phone": "07 81 22 33 44", "profile-job_title": "Maître Jedi",
                                                     "csrf_token": token})
    assert response.status_code == 302
    luke = db.session.scalar(select(User).where(User.email == "luke.skywalker@example.org"))
    assert (luke.phone, luke.job_title, luke.email_verified_at is not None) == ("+33781223344", "Maître Jedi", True)

    bad = client.post("/account/profile", data={"form": "password", "password-current": "faux", "password-new": "un nouveau mot de passe",
                                                "password-confirmation": "un nouveau mot de passe", "csrf_token": token})
    assert "Le mot de passe actuel est incorrect." in bad.get_data(as_text=True)
    other_session = client.application.test_client()
    login(other_session, *LUKE)
    good = client.post("/account/profile", data={"form": "password", "password-current": LUKE[1],
                                                 "password-new": "un nouveau mot de passe", "password-confirmation": "un nouveau mot de passe",
                                                 "csrf_token": token})
    assert good.status_code == 302
    assert client.get("/account/profile").status_code == 200  # this session goes on
    assert other_session.get("/account/profile").status_code == 302  # the other one ended

    unproven = client.post("/account/profile", data={"form": "profile", "profile-email": "luke@jedi.example.org",
                                                     "profile-phone": "0781223344", "csrf_token": token})
    assert "saisissez votre mot de passe actuel" in unproven.get_data(as_text=True)
    changed = client.post("/account/profile", data={"form": "profile", "profile-email": "luke@jedi.example.org",
                                                    "profile-current_password": "un nouveau mot de passe",
                                                    "profile-phone": "0781223344", "csrf_token": token}, follow_redirects=True)
    assert "un lien de validation lui a été envoyé" in changed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(OutboundEmail.recipient).order_by(OutboundEmail.id)).all() == [
        "luke@jedi.example.org", "luke.skywalker@example.org"]
    assert db.session.scalar(select(User.pending_email).where(User.email == "luke.skywalker@example.org")) == "luke@jedi.example.org"


# --- email links after the account changed ------------------------------------------------------------

def outbox_link(db, subject):
    """The link of the newest queued email with this subject (read from the outbox, no SMTP needed)."""
    db.session.expire_all()
    body = db.session.scalars(select(OutboundEmail.body_text).where(OutboundEmail.subject == subject)
                              .order_by(OutboundEmail.id.desc())).first()
    return LINK.search(body).group(1)


def ask_for_a_password_link(app, db, address):
    visitor = app.test_client()
    token = csrf_token(visitor, "/account/forgot-password")
    visitor.post("/account/forgot-password", data={"email": address, "csrf_token": token})
    return outbox_link(db, "Choisissez un nouveau mot de passe")


def password_hash(db, address):
    db.session.expire_all()
    return db.session.scalar(select(User.password_hash).where(User.email == address))


def test_a_password_link_dies_when_the_password_is_changed_in_the_profile(app, client, demo, db):
    path = ask_for_a_password_link(app, db, LUKE[0])
    login(client, *LUKE)
    new = "un nouveau mot de passe"
    changed = client.post("/account/profile", data={"form": "password", "password-current": LUKE[1], "password-new": new,
                                                    "password-confirmation": new, "csrf_token": csrf_token(client, "/account/profile")})
    assert changed.status_code == 302
    chosen = password_hash(db, LUKE[0])

    holder = app.test_client()  # whoever holds the older email
    page = holder.get(path)
    assert page.status_code == 400 and "déjà été utilisé" in page.get_data(as_text=True)
    token = csrf_token(holder, "/login")
    refused = holder.post(path, data={"password": "le mot de passe du voleur", "confirmation": "le mot de passe du voleur",
                                      "csrf_token": token})
    assert refused.status_code == 400
    assert password_hash(db, LUKE[0]) == chosen
    assert login(app.test_client(), LUKE[0], new).status_code == 302


def deactivate(staff_client, db, address):
    uid = db.session.scalar(select(User.id).where(User.email == address))
    token = csrf_token(staff_client, "/admin/users/")
    staff_client.post("/admin/users/action/", data={"csrf_token": token, "action": "deactivate", "rowid": [str(uid)], "url": "/"})
    db.session.expire_all()
    assert db.session.scalar(select(User.active).where(User.id == uid)) is False


def test_a_deactivated_account_cannot_use_its_password_link(app, staff_client, db):
    path = ask_for_a_password_link(app, db, LUKE[0])
    deactivate(staff_client, db, LUKE[0])
    before = password_hash(db, LUKE[0])
    holder = app.test_client()
    page = holder.get(path)
    assert page.status_code == 400 and "Ce compte est désactivé" in page.get_data(as_text=True)
    token = csrf_token(holder, "/login")
    refused = holder.post(path, data={"password": "un long mot de passe sûr", "confirmation": "un long mot de passe sûr",
                                      "csrf_token": token})
    assert refused.status_code == 400 and "Ce compte est désactivé" in refused.get_data(as_text=True)
    assert "demander un nouveau lien" not in refused.get_data(as_text=True)  # none would be sent
    assert password_hash(db, LUKE[0]) == before
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.in_(
        ["user.set_password", "user.reset_password"]))) == 0


def test_a_deactivated_account_cannot_use_its_verification_link(app, staff_client, db):
    create_user(staff_client)
    path = outbox_link(db, "Validez votre adresse email")
    deactivate(staff_client, db, "ahsoka@example.org")
    page = app.test_client().get(path)
    assert page.status_code == 400 and "Ce compte est désactivé" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(User.email_verified_at).where(User.email == "ahsoka@example.org")) is None
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.kind == "set_password")) == 0


def test_forgot_password_does_the_same_work_whether_or_not_the_account_exists(app, demo, db, monkeypatch):
    """Timing must not tell: the email is written (its link signed) for an unknown address too, then dropped."""
    rendered = []
    render = email_service.render_template
    monkeypatch.setattr(email_service, "render_template", lambda name, **context: rendered.append(name) or render(name, **context))
    work = {}
    for address in (LUKE[0], "personne@example.org", "padme.amidala@example.org"):  # Padmé is inactive
        rendered.clear()
        visitor = app.test_client()
        token = csrf_token(visitor, "/account/forgot-password")
        page = visitor.post("/account/forgot-password", data={"email": address, "csrf_token": token})
        assert page.status_code == 200
        work[address] = list(rendered)
    assert work[LUKE[0]] == ["email/set_password.txt", "email/set_password.html"]
    assert work["personne@example.org"] == work["padme.amidala@example.org"] == work[LUKE[0]]
    assert db.session.scalars(select(OutboundEmail.recipient)).all() == [LUKE[0]]
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.password_link")) == 3
