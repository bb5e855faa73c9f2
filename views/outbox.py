"""Staff screen of the outbox: every email, its status, its body, and "Renvoyer" for failed ones."""

from __future__ import annotations

from flask import flash, request
from flask_admin.actions import action

from admin_app.filters import paris_datetime
from admin_app.services import emails
from models import EmailKind, EmailStatus, OutboundEmail, email_kind_label
from models.queries import EmailFilter

from .listing import CriteriaListView, LeanListMixin, ids_to_int
from .messages import plural

# The filters' choices and the cells' words: constant, built once.
STATUS_CHOICES = [(s.value, s.label) for s in EmailStatus]
STATUS_LABELS = dict(STATUS_CHOICES)
KIND_CHOICES = [(kind.value, kind.label) for kind in EmailKind]
KIND_LABELS = dict(KIND_CHOICES)  # a kind no longer known is shown as stored (models.email_kind_label)


class EmailView(LeanListMixin, CriteriaListView):
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
    # The details page's cells (Flask-Admin's template); the list draws its own (admin/emails/list.html).
    column_formatters_detail = {
        "status": lambda v, c, m, p: m.status_label,
        "kind": lambda v, c, m, p: email_kind_label(m.kind),
        "created_at": lambda v, c, m, p: paris_datetime(m.created_at),
        "sent_at": lambda v, c, m, p: paris_datetime(m.sent_at),
        "next_attempt_at": lambda v, c, m, p: paris_datetime(m.next_attempt_at),
        "last_error": lambda v, c, m, p: m.last_error or "",
    }
    def list_criteria(self, search=None):
        return EmailFilter.from_args(request.args).clauses()

    def list_row_columns(self):
        """What a row of the list shows (templates/admin/emails/list.html), and nothing else (no body)."""
        return (OutboundEmail.id, OutboundEmail.created_at, OutboundEmail.recipient, OutboundEmail.subject, OutboundEmail.kind,
                OutboundEmail.status, OutboundEmail.attempts, OutboundEmail.sent_at, OutboundEmail.last_error)

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs.update(email_filter=EmailFilter.from_args(request.args), query_string=request.query_string.decode(),
                          status_choices=STATUS_CHOICES, kind_choices=KIND_CHOICES, status_labels=STATUS_LABELS,
                          kind_labels=KIND_LABELS)
        return super().render(template, **kwargs)

    @action("retry", "Renvoyer", "Remettre les emails en échec sélectionnés dans la file d'envoi ?")
    def action_retry(self, ids):
        done = self.run_service(emails.retry_failed, ids_to_int(ids))  # none failed among them: said by run_service
        if done:
            flash(f"{plural(done, 'email remis', 'emails remis')} dans la file d'envoi.", "success")
