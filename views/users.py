"""Mes utilisateurs: the users list, its filters and bulk actions, creation, editing and grants."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload, with_expression
from werkzeug.routing import BuildError

from admin_app.authority import UserAction
from admin_app.caching import BoundedCache
from admin_app.current import current_perimeter
from admin_app.extensions import db
from admin_app.filters import paris_datetime, yes_no
from admin_app.inputs import parse_db_id, refuse
from admin_app.services import bulk as bulk_service
from admin_app.services import claims, email_change
from admin_app.services import requests as request_service
from admin_app.services import users as user_service
from admin_app.services.common import EMAIL_TAKEN
from models import (
    AccountRequest,
    AuditEvent,
    Establishment,
    Grant,
    Habilitation,
    RequestStatus,
    User,
)
from models.habilitations import HABILITATION_LABELS
from models.queries import UserFilter, name_or_email
from models.rules import format_phone

from .access import SecureForm
from .listing import CriteriaListView
from .messages import waiting_messages
from .requests import pending_request_count, visible_requests
from .user_actions import UserActionsMixin
from .user_forms import EDITOR_HABILITATIONS, PERSONAL, GrantEditorMixin, UserEditForm, UserForm
from .user_lookups import UserLookupsMixin

RECORD_STATEMENTS: BoundedCache = BoundedCache(256)  # UserView.get_one's statement, per perimeter


class HistoryEvent(NamedTuple):
    """An audit event as a user's Historique shows it (admin/_history.html, audit_changes)."""

    created_at: datetime
    actor_label: str
    action: str
    before: dict | None
    after: dict | None
    actor_id: int | None = None  # who the history may name (Perimeter.actor_labels)


HISTORY_STATEMENTS: BoundedCache = BoundedCache(8)  # UserView.history's statement, per limit
# A number as people write it (phonenumbers parses it first, which is not free); a user's page shows one.
shown_phone = lru_cache(maxsize=4096)(format_phone)


class UserView(UserLookupsMixin, UserActionsMixin, GrantEditorMixin, CriteriaListView):
    """The guide's "Mes utilisateurs" screen."""

    open_to_managers = True
    list_template = "admin/users/list.html"
    create_template = "admin/users/create.html"
    edit_template = "admin/users/edit.html"
    details_template = "admin/users/details.html"
    form = UserForm

    column_list = ("active", "last_name", "first_name", "job_title", "is_manager", "primary_establishment", "last_login_at")
    column_labels = {
        "active": "Actif",
        "last_name": "Nom",
        "first_name": "Prénom",
        "job_title": "Fonction",
        "is_manager": "Gestionnaire",
        "primary_establishment": "Établissement principal",
        "last_login_at": "Dernière connexion",
    }
    column_sortable_list = column_list
    column_default_sort = [("last_name", False), ("first_name", False)]
    column_formatters = {
        "active": lambda v, c, m, p: yes_no(m.active),
        "is_manager": lambda v, c, m, p: yes_no(m.is_manager),
        "last_login_at": lambda v, c, m, p: paris_datetime(m.last_login_at),
        "primary_establishment": lambda v, c, m, p: m.primary_establishment or "",
        "job_title": lambda v, c, m, p: m.job_title or "",
    }
    # The search box covers name (accents ignored) and email: see list_criteria and name_or_email.
    column_searchable_list = ("search_text", "email")
    audit_target_type = "user"
    can_delete = True
    # Computed columns come with the page query (no N+1), as the viewer's perimeter lets them be seen.
    perimeter_columns = {
        "is_manager": lambda perimeter: perimeter.is_manager_column(),
        "primary_establishment": lambda perimeter: perimeter.primary_establishment_column(),
    }
    # The details and edit pages show every grant with its establishment: joined in the user's own statement
    # (a user has a few; a second statement for them cost more than the rows it saved).
    record_load_options = (joinedload(User.grants).joinedload(Grant.establishment),)

    def perimeter_clause(self, perimeter):
        return perimeter.users()

    def list_options(self):
        perimeter = current_perimeter()
        return tuple(with_expression(getattr(User, name), column(perimeter)) for name, column in self.perimeter_columns.items())

    def list_row_columns(self):
        """What a row of the list shows (templates/admin/users/list.html), and nothing else."""
        perimeter = current_perimeter()
        return (
            User.id, User.active, User.last_name, User.first_name, User.email, User.job_title,
            *(column(perimeter).label(name) for name, column in self.perimeter_columns.items()),
            User.last_login_at, User.password_hash.is_not(None).label("has_password"),
        )

    def get_one(self, id):
        """One user with their grants and establishments, through the list's scoping (404 out of it or unknown).

        The statement depends on the viewer's perimeter only: built once per perimeter, the id bound at each
        call, instead of an ORM Query assembled on every details or edit page.
        """
        pk = parse_db_id(id)
        if pk is None:
            abort(404)
        perimeter = current_perimeter()
        statement = RECORD_STATEMENTS.get(perimeter.fingerprint, lambda: (
            select(User).where(self.perimeter_clause(perimeter), User.id == bindparam("record_id"))
            .options(*self.record_load_options)))
        found = db.session.scalars(statement, {"record_id": pk}).unique().one_or_none()
        if found is None:
            abort(404)
        return found

    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        column = self.perimeter_columns.get(sort_column)
        if column is None:
            return super()._apply_sorting(query, joins, sort_column, sort_desc)
        expression = column(current_perimeter())
        return query.order_by(expression.desc() if sort_desc else expression), joins

    # --- the list ---------------------------------------------------------------------------------
    def list_criteria(self, search: str | None = None):
        criteria = UserFilter.from_args(request.args).clauses(current_perimeter().grants())
        if search:
            criteria.append(name_or_email(search))
        return criteria

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if template == self.list_template:
            kwargs.update(self._list_context())
        elif template == self.edit_template and model is not None:
            kwargs.update(self.edit_context(model))
        elif template == self.create_template:
            kwargs.update(self.create_context())
        elif template == self.details_template and model is not None:
            perimeter = current_perimeter()
            kwargs.update(history=self.history(model.id), visible_grants=perimeter.visible_grants(model),
                          hides_grants=perimeter.hides_grants_of(model), phone=shown_phone(model.phone))
        return super().render(template, **kwargs)

    def _list_context(self) -> dict:
        current = UserFilter.from_args(request.args)
        return {
            "user_filter": current,
            "habilitation_choices": [(h.value, HABILITATION_LABELS[h]) for h in Habilitation],
            "pending_requests": pending_request_count(),
            "reset_url": url_for(".index_view", page_size=request.args.get("page_size") or None),
            "requests_url": _url_or_none("account_requests.index_view"),
            "query_string": request.query_string.decode(),
        }

    # --- create and edit ----------------------------------------------------------------------------
    def get_edit_form(self):
        return UserEditForm

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if request.method == "GET" and obj is not None:
            form.version.data = str(obj.version)
            form.phone.data = shown_phone(obj.phone)  # as people write it: 06 12 34 56 78
        return form

    def create_form(self, obj=None):
        form = super().create_form(obj)
        account_request = self.approval_request()
        if request.method == "GET" and account_request is not None:
            # ✓ on a request: the personal data comes pre-filled, as the guide says.
            for name in PERSONAL:
                getattr(form, name).data = getattr(account_request, name)
            form.phone.data = format_phone(account_request.phone)
        return form

    def get_save_return_url(self, model, is_created=False):
        if self.approval_request_id() is not None:
            return url_for("account_requests.index_view")
        # As in the guide: once created, the user is edited to add establishments.
        if is_created:
            return self.get_url(".edit_view", id=model.id, url=request.args.get("url"))
        return super().get_save_return_url(model, is_created)

    def save(self, form, model):
        data = {name: getattr(form, name).data for name in PERSONAL}
        if model is not None and not current_perimeter().may(UserAction.EDIT_IDENTITY, model):
            data = None  # shown read-only: what the browser sent for them is not a change anyone may make
        account_request = self.approval_request()
        if model is None:
            if account_request is not None:
                user = self.run_service(request_service.approve_opening, account_request, data, self._posted_grants() or [], form=form)
                if user is not None:
                    flash(f"Demande validée : le compte de {user.full_name} est créé et un email de validation lui a été envoyé.", "success")
                return user
            user = self.run_service(user_service.create_user, data, self._posted_grants() or [], form=form)
            if user is None and {EMAIL_TAKEN, user_service.EMAIL_UNAVAILABLE} & set(form.email.errors or []):
                g.existing_account_email = form.email.data  # the create page then offers the way forward
            if user is not None:
                flash(f"Utilisateur {user.full_name} créé : un email de validation lui a été envoyé.", "success")
            return user
        try:
            version = int(form.version.data or "")
        except ValueError:
            version = -1
        if account_request is not None:
            user = self.run_service(request_service.approve_attachment, account_request, model, version, data,
                                    self._posted_grants(model) or [], form=form)
            if user is not None:
                flash(f"Demande validée : {user.full_name} est rattaché(e) au nouvel établissement.", "success")
            return user
        user = self.run_service(user_service.edit_user, model, version, data, self._posted_grants(model), form=form)
        if user is not None and data is not None and user.pending_email:
            flash(f"Nouvelle adresse en attente de confirmation. {email_change.PENDING_NOTICE}", "info")
        return user

    # --- approving a request (✓) opens this view's forms with the request's data -------------------
    def approval_request_id(self) -> int | None:
        raw = request.args.get("request", "")
        return parse_db_id(raw)

    def approval_request(self) -> AccountRequest | None:
        """The pending request being approved through this form, if any (404 if unknown or decided)."""
        request_id = self.approval_request_id()
        if request_id is None:
            return None
        account_request = db.session.scalar(
            visible_requests().where(AccountRequest.id == request_id, AccountRequest.status == RequestStatus.PENDING.value)
        )
        if account_request is None:
            abort(404)
        return account_request

    def approval_context(self) -> dict | None:
        account_request = self.approval_request()
        if account_request is None:
            return None
        # A Rattachement: the account it names, as it is, beside what the requester typed.
        account = request_service.requester_account(db.session, account_request)
        return {
            "request": account_request,
            "establishment": request_service.matching_establishment(db.session, account_request),
            "can_create_establishment": current_perimeter().unrestricted,
            "account": account,
            "account_grants": current_perimeter().visible_grants(account) if account is not None else [],
        }

    def existing_account_offer(self) -> dict | None:
        """After "email déjà utilisée": what the creator may do instead (ask the holder to join, or open the
        account when they already see it). To a delegated administrator it reads the same whoever has the
        address (staff or not, proven or not): services.claims.file_on_behalf decides, and does not tell."""
        email = g.get("existing_account_email")
        if not email:
            return None
        perimeter = current_perimeter()
        email = email.strip().lower()
        holder = db.session.scalar(select(User).where(User.email == email))
        if perimeter.unrestricted and holder is None:
            return None
        establishments = list(db.session.scalars(
            select(Establishment).where(perimeter.establishments()).order_by(Establishment.name).limit(500)
        )) if perimeter.administers_users and not perimeter.unrestricted else []
        posted = {row.establishment_id for row in (self._posted_grants() or [])}
        return {
            "email": email,
            "precise": perimeter.unrestricted,
            # a user already in one's own list: nothing is told that the list does not show
            "user_url": self.get_url(".edit_view", id=holder.id) if holder is not None and perimeter.sees(holder) else None,
            "establishments": establishments,
            "chosen": next((e.id for e in establishments if e.id in posted), None),
            "form": SecureForm(),
        }

    @expose("/claim-existing/", methods=("POST",))
    def claim_existing_view(self):
        """Ask an existing account's holder to join one of the actor's establishments (they confirm by email).

        A delegated administrator reads the same answer whatever the address (claims.MAYBE_ASKED); staff are
        told what happened."""
        if not SecureForm().validate_on_submit():
            refuse()
        establishment_id = parse_db_id(request.form.get("establishment", ""))
        if establishment_id is None:
            flash("Choisissez l'établissement auquel rattacher ce compte.", "error")
            return redirect(self.get_url(".create_view"))
        said = waiting_messages()
        claim = self.run_service(claims.file_on_behalf, request.form.get("email", ""), establishment_id)
        if claim is not None and current_perimeter().unrestricted:
            flash(f"Demande envoyée à {claim.email} : dès que le titulaire du compte l'aura confirmée depuis sa "
                  "messagerie, elle apparaîtra dans « Demandes de création de compte ».", "success")
        elif waiting_messages() == said:  # not refused (the refusals are about the form and the actor only)
            flash(claims.MAYBE_ASKED, "info")
        return redirect(self.get_url(".index_view"))

    def create_context(self) -> dict:
        approval = self.approval_context()
        rows = []
        if approval and approval["establishment"] is not None:
            rows = [{"establishment": approval["establishment"], "primary": True, "held": set()}]
        if request.method == "POST" and request.form.get("grants-present") == "1":
            rows = self._rows_from_post()
        return {
            "approval": approval,
            "existing_account": self.existing_account_offer(),
            "single_company": self.single_company(),
            "grant_rows": self.with_boundary(rows),
            "editor_habilitations": [(h.value, HABILITATION_LABELS[h]) for h in EDITOR_HABILITATIONS],
            **self.boundary_context(),
        }

    def edit_context(self, user: User) -> dict:
        approval = self.approval_context()
        return {
            "approval": approval,
            "governs": current_perimeter().may(UserAction.EDIT_IDENTITY, user),
            "hands_over": current_perimeter().may(UserAction.CHANGE_EMAIL, user),
            "hides_grants": current_perimeter().hides_grants_of(user),
            "single_company": self.single_company(),
            "grant_rows": self.with_boundary(self.editor_rows(user, approval), user),
            "editor_habilitations": [(h.value, HABILITATION_LABELS[h]) for h in EDITOR_HABILITATIONS],
            **self.boundary_context(),
        }

    def history(self, target_id: int, limit: int = 50) -> list[HistoryEvent]:
        """The user's history, newest first; a delegated administrator reads grant changes on their perimeter only.

        What the Historique shows of each event, as plain rows on the session's connection (no entity to load
        or to keep from being written back), by a statement built once, the user's id bound at each call; the
        perimeter's establishments are read only when there is a grant change to redact.
        """
        statement = HISTORY_STATEMENTS.get(limit, lambda: (
            select(AuditEvent.created_at, AuditEvent.actor_label, AuditEvent.action, AuditEvent.before, AuditEvent.after,
                   AuditEvent.actor_id)
            .where(AuditEvent.target_type == self.audit_target_type, AuditEvent.target_id == bindparam("target_id"))
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        ))
        events = [HistoryEvent(*row) for row in db.session.connection().execute(statement, {"target_id": target_id})]
        perimeter = current_perimeter()
        if perimeter.unrestricted or not any(event.action == "user.grants" for event in events):
            return events
        labels = {e.label for e in db.session.scalars(select(Establishment).where(perimeter.establishments()))}
        return [event._replace(before=perimeter.redact_grant_snapshot(event.before, labels),
                               after=perimeter.redact_grant_snapshot(event.after, labels))
                if event.action == "user.grants" else event for event in events]

    def remove(self, model):
        return bool(self.run_service(bulk_service.delete_users, [model.id]))

def _url_or_none(endpoint: str) -> str | None:
    try:
        return url_for(endpoint)
    except BuildError:
        return None


