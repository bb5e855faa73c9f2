"""Staff screen of the outbox: every email, its status, its body, and "Renvoyer" for failed ones."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_admin.actions import action
from jinja2.filters import do_urlencode
from markupsafe import Markup, escape
from sqlalchemy.orm import defer

from admin_app.filters import paris_datetime
from admin_app.services import emails
from models import EmailKind, EmailStatus, OutboundEmail, email_kind_label
from models.queries import EmailFilter

from .base import CriteriaListView, ids_to_int
from .messages import plural
from .requests import LeanListMixin

# The filters' choices and the cells' words: constant, built once.
STATUS_CHOICES = [(s.value, s.label) for s in EmailStatus]
STATUS_LABELS = dict(STATUS_CHOICES)
KIND_CHOICES = [(kind.value, kind.label) for kind in EmailKind]


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
    column_formatters = {
        "status": lambda v, c, m, p: m.status_label,
        "kind": lambda v, c, m, p: email_kind_label(m.kind),
        "created_at": lambda v, c, m, p: paris_datetime(m.created_at),
        "sent_at": lambda v, c, m, p: paris_datetime(m.sent_at),
        "next_attempt_at": lambda v, c, m, p: paris_datetime(m.next_attempt_at),
        "last_error": lambda v, c, m, p: m.last_error or "",
    }
    # The list shows no body: do not read fifty of them (the details page loads its own).
    list_load_options = (defer(OutboundEmail.body_text), defer(OutboundEmail.body_html))

    def list_criteria(self, search=None):
        return EmailFilter.from_args(request.args).clauses()

    def list_row_columns(self):
        """What a row of the list shows (templates/admin/emails/list.html), and nothing else (no body)."""
        return (OutboundEmail.id, OutboundEmail.created_at, OutboundEmail.recipient, OutboundEmail.subject, OutboundEmail.kind,
                OutboundEmail.status, OutboundEmail.attempts, OutboundEmail.sent_at, OutboundEmail.last_error)

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs.update(email_filter=EmailFilter.from_args(request.args), query_string=request.query_string.decode(),
                          status_choices=STATUS_CHOICES, kind_choices=KIND_CHOICES,
                          table_rows=email_rows(kwargs.get("data") or (), kwargs.get("return_url") or ""))
        return super().render(template, **kwargs)

    @action("retry", "Renvoyer", "Remettre les emails en échec sélectionnés dans la file d'envoi ?")
    def action_retry(self, ids):
        done = self.run_service(emails.retry_failed, ids_to_int(ids))  # none failed among them: said by run_service
        if done:
            flash(f"{plural(done, 'email remis', 'emails remis')} dans la file d'envoi.", "success")


def email_rows(rows, return_url: str) -> Markup:
    """The table's rows, from the plain rows of `list_row_columns`, each cell written as it is shown.

    Written here rather than cell by cell in Jinja (some 600 escaped template expressions for 50 rows): only
    the email's own text is escaped; the "Voir" URL is built once, each row appending its id.
    """
    details = escape(url_for(".details_view") + "?id=")
    back = escape("&url=" + do_urlencode(return_url))
    out = []
    # Unpacked in list_row_columns' order: reading a row's fields by name costs more than writing them.
    for pk, created_at, recipient, subject, kind, status, attempts, sent_at, last_error in rows:
        recipient = escape(recipient)
        out.append(
            f'<tr>\n    <td><input type="checkbox" name="rowid" value="{pk}" form="bulk-form" aria-label="Sélectionner l\'email à {recipient}"></td>\n    '
            f'<td class="col-created_at nowrap">{paris_datetime(created_at)}</td><td class="col-recipient">{recipient}</td>'
            f'<td class="col-subject">{escape(subject)}</td><td class="col-kind">{escape(email_kind_label(kind))}</td>'
            f'<td class="col-status">{STATUS_LABELS[status]}</td><td class="col-attempts">{attempts}</td>'
            f'<td class="col-sent_at nowrap">{paris_datetime(sent_at)}</td><td class="col-last_error">{escape(last_error or "")}</td>\n    '
            f'<td><a class="btn btn-sm btn-outline-secondary" href="{details}{pk}{back}" title="Voir l\'email à {recipient}">Voir</a></td>\n  </tr>\n  '
        )
    # Safe markup (bandit B704): every value from the database is escaped above; the rest is constants, ints, dates.
    return Markup("".join(out))  # nosec B704
