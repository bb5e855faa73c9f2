"""A request filed on the public form reaches the inboxes of those who decide it (a real SMTP server),
and a person can turn these emails off from « Gérer son profil »."""

from __future__ import annotations

from admin_app.extensions import db as _db
from admin_app.services import emails

from .demo import LUKE, OBIWAN, TEMPLE
from .http import csrf_token, file_public_request, login


def deliver(app) -> None:
    with app.app_context():
        emails.deliver_pending(_db.session, "test-worker")
        _db.session.remove()


def announced_to(smtp) -> list[str]:
    return sorted(m["To"] for m in smtp.inbox.messages if m["Subject"] == "Nouvelle demande de création de compte")


def test_the_deciders_are_told_and_can_opt_out(app, demo, smtp):
    file_public_request(app.test_client(), "dark.vador@example.org", TEMPLE)
    deliver(app)
    assert announced_to(smtp) == sorted([LUKE[0], OBIWAN[0]])  # Gestionnaire and Gestion des utilisateurs there
    message = next(m for m in smtp.inbox.messages if m["To"] == LUKE[0])
    assert "/admin/account-requests/" in message.get_body(("plain",)).get_content()

    luke = app.test_client()
    assert login(luke, *LUKE).status_code == 302
    page = luke.get("/account/profile").get_data(as_text=True)
    assert "Recevoir un email à chaque nouvelle demande" in page and "checked" in page
    saved = luke.post("/account/profile", data={
        "form": "profile", "profile-email": LUKE[0], "profile-phone": "06 12 34 56 78", "profile-job_title": "Gestionnaire",
        "profile-csrf_token": csrf_token(luke, "/account/profile")})
    assert saved.status_code == 302
    smtp.inbox.messages.clear()
    file_public_request(app.test_client(), "boba.fett@example.org", TEMPLE)
    deliver(app)
    assert announced_to(smtp) == [OBIWAN[0]]
