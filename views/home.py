"""The admin home: the figures a staff member checks first, each a link to the filtered list."""

from __future__ import annotations

from flask import redirect, url_for
from flask_admin import expose
from sqlalchemy import func, select

from admin_app.current import current_perimeter
from admin_app.extensions import db
from models import AccountRequest, EmailStatus, OutboundEmail, RequestStatus, User

from .access import SecureIndexView


def home_figures() -> dict[str, int]:
    """Count, in one statement, what the home page shows."""
    s = db.session
    users = s.execute(
        select(
            func.count().filter(User.active.is_(True)),
            func.count().filter(User.active.is_(False)),
            func.count().filter(User.last_login_at.is_(None)),
            func.count().filter(User.password_hash.is_(None)),
        )
    ).one()
    pending = s.scalar(select(func.count()).select_from(AccountRequest).where(AccountRequest.status == RequestStatus.PENDING.value))
    failed = s.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.status == EmailStatus.FAILED.value))
    return {
        "active": users[0],
        "inactive": users[1],
        "never_logged_in": users[2],
        "without_password": users[3],
        "pending_requests": pending or 0,
        "failed_emails": failed or 0,
    }


class HomeView(SecureIndexView):
    open_to_managers = True

    @expose("/")
    def index(self):
        if not current_perimeter().unrestricted:
            return redirect(url_for("users.index_view"))  # a client manager's home is their users
        users = "users.index_view"
        links = {
            "users-active": url_for(users, actif="oui"),
            "users-inactive": url_for(users, actif="non"),
            "users-never": url_for(users, connexion="jamais"),
            "users-nopassword": url_for(users, mot_de_passe="non"),
            "requests-pending": url_for("account_requests.index_view"),
            "emails-failed": url_for("emails.index_view", statut="failed"),
        }
        return self.render("admin/home.html", figures=home_figures(), home_links=links)
