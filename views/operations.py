"""Suivi › Opérations: each bulk action once, with its counts, and the page listing the users it touched.

Staff see every operation; a delegated administrator reaches only their own (from the list's
« Voir les utilisateurs concernés » or their user's history), anything else is 404 as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, current_app, request, url_for
from flask_admin import expose
from markupsafe import Markup
from sqlalchemy import func, select

from admin_app.current import current_actor, current_perimeter
from admin_app.extensions import db
from admin_app.filters import audit_action, audit_changes, yes_no
from admin_app.inputs import MAX_PAGE, parse_db_id
from admin_app.services import operations
from admin_app.services import undo as undo_service
from models import EMAIL_KIND_LABELS, Operation, OperationItem, User, email_kind_label
from models.operations import OperationState

from .access import SecureBaseView

PAGE_SIZE = 100


def _page() -> int:
    return parse_db_id(request.args.get("page", "0"), MAX_PAGE) or 0


class OperationView(SecureBaseView):
    open_to_managers = True  # their own operations only (see `_visible`)

    def is_visible(self) -> bool:
        # In the back office's menu for staff; delegated administrators come from a link.
        return current_perimeter().unrestricted

    def _visible(self):
        """Which operations the current user may open: all for staff, their own for anyone else."""
        return current_perimeter().followed(Operation.actor_id)

    @expose("/")
    def index_view(self):
        page = _page()
        where = self._visible()
        total = db.session.scalar(select(func.count()).select_from(Operation).where(where)) or 0
        rows = list(db.session.scalars(
            select(Operation).where(where).order_by(Operation.created_at.desc(), Operation.id.desc())
            .offset(page * PAGE_SIZE).limit(PAGE_SIZE)
        ))
        return self.render("admin/operations/list.html", operations=rows, total=total, page=page,
                           num_pages=-(-total // PAGE_SIZE), summary=operations.summary)

    @expose("/details/")
    def details_view(self):
        operation_id = parse_db_id(request.args.get("id", ""))
        if operation_id is None:
            abort(404)
        operation = db.session.scalar(select(Operation).where(Operation.id == operation_id, self._visible()))
        if operation is None:
            abort(404)
        page = _page()
        items = list(db.session.scalars(
            select(OperationItem).where(OperationItem.operation_id == operation.id)
            .order_by(OperationItem.user_label, OperationItem.user_id).offset(page * PAGE_SIZE).limit(PAGE_SIZE)
        ))
        window = undo_service.window(current_app.config)
        problem = undo_service.undo_problem(db.session, current_actor(), operation, window)
        related = db.session.scalar(select(Operation).where(Operation.undo_of_id == operation.id))
        return self.render(
            "admin/operations/details.html", operation=operation, items=items, page=page,
            num_pages=-(-operation_size(operation) // PAGE_SIZE), summary=operations.summary(operation),
            may_undo=problem is None, undo_until=undo_service.undo_deadline(operation, window), undone_by=related,
            email_kinds=EMAIL_KIND_LABELS, users_url=url_for("users.details_view"),
            state_label=OperationState(operation.state).label.capitalize() if operation.state else None,
        )


def operation_size(operation: Operation) -> int:
    return db.session.scalar(select(func.count()).select_from(OperationItem).where(OperationItem.operation_id == operation.id)) or 0


# --- a user's own history: their audit entries, and the operations that touched them -------------------

@dataclass(frozen=True)
class HistoryRow:
    created_at: datetime
    actor_label: str
    action: str
    changes: Markup
    url: str | None = None  # the operation's page, for whoever may open it


def history_rows(history: list[Any], model: Any = None, limit: int = 50) -> list[HistoryRow]:
    """Merge, newest first, a record's audit entries with, for a user, the operations' items about them:
    a bulk action writes one Historique line, and each of its users still finds it in their own history.

    « Par » names whom the reader may know (Perimeter.actor_labels): a user two companies share is changed by
    both companies' administrators, and neither company learns from the history who administers the other."""
    perimeter = current_perimeter()
    touched = operations.user_items(db.session, model.id, limit) if isinstance(model, User) else []
    authors = [(getattr(e, "actor_id", None), e.actor_label) for e in history]
    authors += [(operation.actor_id, operation.actor_label) for operation, _ in touched]
    shown = perimeter.actor_labels(db.session, authors)
    rows = [HistoryRow(e.created_at, shown[(getattr(e, "actor_id", None), e.actor_label)], audit_action(e.action),
                       audit_changes(e)) for e in history]
    for operation, item in touched:
        mine = perimeter.may_follow(operation.actor_id)
        lines = []
        if item.active_before is not None and item.active_before != item.active_after:
            lines.append(f"Actif : {yes_no(item.active_before)} → {yes_no(item.active_after)}")
        if item.email_kind:
            lines.append(f"Lien envoyé : {email_kind_label(item.email_kind)}")
        if item.undone:
            lines.append("Annulé depuis")
        # The operation's scope and counts speak of its author's perimeter: only those who may open its page
        # read them. Anyone else gets its number and kind, and this user's own before → after above.
        said = operations.summary(operation) if mine else operation.operation_kind.label
        lines.append(f"Opération n° {operation.id} : {said}")
        url = url_for("operations.details_view", id=operation.id) if mine else None
        rows.append(HistoryRow(operation.created_at, shown[(operation.actor_id, operation.actor_label)],
                               operation.operation_kind.label, Markup("<br>").join(lines), url))
    if touched:
        rows.sort(key=lambda r: r.created_at, reverse=True)
    return rows[:limit]
