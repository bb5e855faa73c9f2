"""Historique: the audit trail, read-only, for staff."""

from __future__ import annotations

import json
from dataclasses import replace

from flask import flash, request, url_for
from flask_admin.actions import action
from markupsafe import Markup

from admin_app.filters import AUDIT_ACTIONS, audit_action, audit_changes, paris_datetime
from admin_app.inputs import parse_db_id
from models import AuditEvent
from models.queries import AuditFilter

from .exports import csv_response
from .listing import CriteriaListView


class AuditView(CriteriaListView):
    """Append-only from the application: no create, edit or delete, here or anywhere."""

    list_template = "admin/audit/list.html"
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    page_size = 50
    page_size_options = (20, 50, 100)
    column_list = ("created_at", "actor_label", "action", "target_type", "target_label", "changes", "ip")
    column_labels = {
        "created_at": "Date",
        "actor_label": "Par",
        "action": "Action",
        "target_type": "Type",
        "target_label": "Sur",
        "changes": "Modifications",
        "ip": "Adresse IP",
    }
    column_sortable_list = ("created_at", "actor_label", "action", "target_type", "target_label")
    column_default_sort = ("created_at", True)
    column_formatters = {
        "created_at": lambda v, c, m, p: paris_datetime(m.created_at),
        "action": lambda v, c, m, p: audit_action(m.action),
        "changes": lambda v, c, m, p: audit_changes(m),
        "target_type": lambda v, c, m, p: TARGET_TYPES.get(m.target_type, m.target_type),
        "target_label": lambda v, c, m, p: _target(m),
    }

    def list_criteria(self, search=None):
        wanted = AuditFilter.from_args(request.args)
        if wanted.id and parse_db_id(wanted.id) is None:
            # "²" passes str.isdigit() and 10**30 overflows the query: say so, and filter on the rest.
            flash(f"« {wanted.id[:20]} » n'est pas un identifiant valide : ce filtre est ignoré.", "warning")
            wanted = replace(wanted, id="")
        return wanted.clauses()

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs.update(audit_filter=AuditFilter.from_args(request.args), action_choices=sorted(AUDIT_ACTIONS.items(), key=lambda i: i[1]),
                          target_choices=list(TARGET_TYPES.items()), query_string=request.query_string.decode())
        return super().render(template, **kwargs)

    @action("export", "Exporter (CSV)")
    def action_export(self, ids):
        targets = self.action_targets(ids, "Sélectionnez au moins un évènement.")
        if targets is None:
            return None
        query = (
            self.get_query().filter(AuditEvent.id.in_(targets))
            .with_entities(AuditEvent.created_at, AuditEvent.actor_label, AuditEvent.action, AuditEvent.target_type,
                           AuditEvent.target_label, AuditEvent.before, AuditEvent.after, AuditEvent.ip)
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return csv_response(
            "historique.csv",
            EXPORT_HEADER,
            query.statement,
            lambda r: (paris_datetime(r[0]), r[1], audit_action(r[2]), TARGET_TYPES.get(r[3], r[3]), r[4],
                       _raw(r[5]), _raw(r[6]), r[7] or ""),
        )


# The export keeps the recorded values as they are (JSON), for whoever processes them further.
EXPORT_HEADER = ["Date", "Par", "Action", "Type", "Sur", "Avant", "Après", "Adresse IP"]


def _raw(values: dict | None) -> str:
    return "" if values is None else json.dumps(values, ensure_ascii=False)


TARGET_TYPES = {"user": "Utilisateur", "request": "Demande", "company": "Entreprise", "establishment": "Établissement",
                "email": "Email", "database": "Base", "operation": "Opération"}


def _target(event: AuditEvent) -> Markup | str:
    """What an entry is about; a bulk action's one line opens the page of its users."""
    if event.target_type == "operation" and event.target_id is not None:
        return Markup('<a href="{}">{}</a>').format(url_for("operations.details_view", id=event.target_id), event.target_label)
    return event.target_label
