"""Flask-Admin views: declarative and thin; their hooks and actions call services."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin_app.security import csp_nonce
from models import AccountRequest, AuditEvent, Company, Establishment, OutboundEmail, User

from .audit import AuditView
from .home import HomeView
from .jobs import JobView
from .matrix import HabilitationMatrixView
from .operations import OperationView, history_rows
from .outbox import EmailView
from .reference import CompanyView, EstablishmentView
from .requests import AccountRequestView
from .users import UserView


def init_admin(app: Flask) -> Admin:
    """Build the admin panel for `app` (a new Admin per app, so tests can make many apps)."""
    admin = Admin(
        app,
        name="Mes utilisateurs",
        index_view=HomeView(name="Accueil", url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/layout_fr.html", fluid=True),
        csp_nonce_generator=csp_nonce,  # Flask-Admin's few inline scripts carry the response's nonce
    )
    admin.add_view(UserView(User, name="Mes utilisateurs", endpoint="users", url="/admin/users"))
    admin.add_view(AccountRequestView(AccountRequest, name="Demandes de création de compte", endpoint="account_requests",
                                      url="/admin/account-requests"))
    admin.add_view(CompanyView(Company, name="Entreprises", endpoint="companies", url="/admin/companies", category="Référentiel"))
    admin.add_view(
        EstablishmentView(Establishment, name="Établissements", endpoint="establishments", url="/admin/establishments", category="Référentiel")
    )
    admin.add_view(HabilitationMatrixView(name="Habilitations", endpoint="habilitations", url="/admin/habilitations"))
    admin.add_view(AuditView(AuditEvent, name="Historique", endpoint="audit", url="/admin/audit", category="Suivi"))
    admin.add_view(EmailView(OutboundEmail, name="Emails", endpoint="emails", url="/admin/emails", category="Suivi"))
    admin.add_view(OperationView(name="Opérations", endpoint="operations", url="/admin/operations", category="Suivi"))
    admin.add_view(JobView(name="Tâches", endpoint="jobs", url="/admin/jobs"))
    # A record's history with, for a user, the operations that touched them: drawn by the details pages.
    app.jinja_env.globals["history_rows"] = history_rows
    return admin
