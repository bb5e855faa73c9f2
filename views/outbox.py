"""Staff screen of the outbox: every email, its status, its body, and "Renvoyer" for failed ones."""

from __future__ import annotations

from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike

from admin_app.filters import paris_datetime
from admin_app.services import emails
from models import EmailStatus, OutboundEmail

from .base import SecureModelView, ids_to_int


class EmailView(SecureModelView):
    can_create = False
    can_edit = False
    can_delete = False
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
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at", "recipient", "subject", "kind", "status", "attempts", "sent_at")
    column_searchable_list = ("recipient", "subject")
    column_filters = (
        FilterEqual(OutboundEmail.status, "Statut", options=[(s.value, s.label) for s in EmailStatus]),
        FilterEqual(OutboundEmail.kind, "Type", options=[
            ("verify_email", "Validation de l'adresse"), ("set_password", "Création du mot de passe"),
            ("request_received", "Demande reçue"), ("request_refused", "Demande refusée"),
        ]),
        FilterLike(OutboundEmail.recipient, "Destinataire"),
    )
    column_formatters = {
        "status": lambda v, c, m, p: m.status_label,
        "created_at": lambda v, c, m, p: paris_datetime(m.created_at),
        "sent_at": lambda v, c, m, p: paris_datetime(m.sent_at),
        "next_attempt_at": lambda v, c, m, p: paris_datetime(m.next_attempt_at),
    }

    @action("retry", "Renvoyer", "Remettre les emails en échec sélectionnés dans la file d'envoi ?")
    def action_retry(self, ids):
        done = self.run_service(emails.retry_failed, ids_to_int(ids))
        if done:
            flash(f"{done} email(s) remis dans la file d'envoi.", "success")
