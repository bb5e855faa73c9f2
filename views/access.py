"""Who may enter a view, which records they reach, and how changes are made.

Every admin view derives from `SecureModelView` (or `SecureBaseView`): access
is closed by default, `get_one` obeys the same scoping as the list, and
create/update/delete go through services, whose refusals become French flash
messages with nothing changed; each outcome is said once, naming its subject
(views.messages.OutcomeMessages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from babel import support
from flask import abort, current_app, flash, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.helpers import get_redirect_target
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf import i18n as flask_wtf_i18n
from sqlalchemy import select
from wtforms.i18n import messages_path

from admin_app.authority import Perimeter
from admin_app.caching import BoundedCache
from admin_app.current import current_actor, current_perimeter
from admin_app.extensions import db
from admin_app.inputs import MAX_PAGE, parse_db_id
from admin_app.services import ServiceError
from models import AuditEvent

from .messages import UNKNOWN_ACTION, FieldMessages, OutcomeMessages, waiting_messages

T = TypeVar("T")
# WTForms' catalogue per language: Flask-WTF's own reads the .mo file again on every request with a form.
WTFORMS_CATALOGUES: BoundedCache[Any] = BoundedCache(8)


class SecureForm(FlaskForm):
    """Admin forms share the app's CSRF token system (one token for the whole site)."""

    class Meta:
        # WTForms' messages in French: Flask-WTF takes them from Flask-Babel's locale in a request, and
        # `locales` covers forms used without it (WTF_I18N_ENABLED off).
        locales = ("fr",)

        def get_translations(self, form):
            translations = super().get_translations(form)
            if translations is flask_wtf_i18n.translations:
                translations = _wtforms_catalogue()
            return FieldMessages(translations)

    def __init__(self, *args: Any, obj: Any = None, **kwargs: Any) -> None:
        # Flask-Admin's Unique validator tells the edited record from another one by `_obj`, which its own
        # form base sets: without it, saving a company unchanged said its SIREN "Existe déjà.".
        self._obj = obj
        super().__init__(*args, obj=obj, **kwargs)


def _wtforms_catalogue() -> Any:
    """WTForms' catalogue in the request's language, read once per process (the file does not change)."""
    if not has_request_context() or "babel" not in current_app.extensions:
        return None
    locale = str(get_locale())
    return WTFORMS_CATALOGUES.get(
        locale, lambda: support.Translations.load(messages_path(), [locale], domain="wtforms"))


class AccessMixin:
    """Who may enter: staff, and delegated administrators where a view says so (`open_to_managers`).

    A delegated administrator holds the matrix's "Gérer les utilisateurs" on at least one establishment
    (the authority model says who); anyone else logged in gets the French 403 page.
    """

    open_to_managers = False

    def is_accessible(self) -> bool:
        if not current_user.is_authenticated:
            return False
        perimeter = current_perimeter()
        if perimeter.unrestricted:
            return True
        return self.open_to_managers and perimeter.administers_users

    def inaccessible_callback(self, name: str, **kwargs: Any):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)


class SecureIndexView(AccessMixin, AdminIndexView):
    pass


class SecureBaseView(AccessMixin, BaseView):
    pass


class SecureModelView(AccessMixin, OutcomeMessages, ModelView):
    """A model view whose rows, forms and actions all go through one scoping and the services."""

    form_base_class = SecureForm
    can_set_page_size = True
    page_size = 20
    page_size_options = (20, 50, 100)
    can_view_details = True
    details_modal = False
    edit_modal = False
    create_modal = False
    can_export = False
    # Never show a whole related table as a dropdown.
    column_display_all_relations = False

    def __init__(self, model, **kwargs: Any) -> None:
        super().__init__(model, db, **kwargs)

    # --- restricting: the list, the count, single records and actions obey the same rule ----------
    def perimeter_clause(self, perimeter: Perimeter):
        """The WHERE clause of the rows this view shows to `perimeter` (asked of the authority model)."""
        raise NotImplementedError(f"{type(self).__name__} is open to delegated administrators but names no rows")

    def restricted(self, query):
        """Restrict a query to the rows the current user may see; staff-only views show every row."""
        if not self.open_to_managers:
            return query
        return query.filter(self.perimeter_clause(current_perimeter()))

    def get_query(self):
        return self.restricted(super().get_query())

    def get_count_query(self):
        return self.restricted(super().get_count_query())

    def _get_list_extra_args(self):
        """The list's URL arguments, with a page number the database can take.

        Flask-Admin reads `page` with int(): -1 became a negative OFFSET (PostgreSQL refuses it) and
        10**30 an OFFSET past BIGINT. Anything but a plain number up to MAX_PAGE shows the first page.
        """
        view_args = super()._get_list_extra_args()
        return view_args.clone(page=parse_db_id(request.args.get("page", "0"), MAX_PAGE) or 0)

    record_load_options: tuple = ()  # eager loads for a details or edit page (what its template reads)

    def get_one(self, id: Any):
        """One record, restricted as the list is: outside the perimeter is 404, as is unknown."""
        pk = parse_db_id(id)  # past the INTEGER column's range no row can match: 404 too, not an overflow
        if pk is None:
            abort(404)
        found = self.get_query().filter(self.model.id == pk).options(*self.record_load_options).one_or_none()
        if found is None:
            abort(404)
        return found

    # --- changes go through services --------------------------------------------------------------
    def run_service(self, fn: Callable[..., T], *args: Any, form: FlaskForm | None = None, **kwargs: Any) -> T | None:
        """Call a service; show its refusal (on the form field when it names one) and return None."""
        try:
            return fn(db.session, current_actor(), *args, **kwargs)
        except ServiceError as exc:
            field = getattr(form, exc.field, None) if form is not None and exc.field else None
            if field is not None:
                field.errors = [*list(field.errors or []), exc.message]
            flash(exc.message, "error")
            return None

    # --- the "Historique" section of a details page ------------------------------------------------
    audit_target_type: str | None = None  # e.g. "user": this view's records are audited under that type

    def history(self, target_id: int, limit: int = 50) -> list[AuditEvent]:
        """The newest audit events of one record (the record itself went through get_one's scoping)."""
        return list(db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target_type == self.audit_target_type, AuditEvent.target_id == target_id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        ))

    def save(self, form: FlaskForm, model: Any | None) -> Any | None:
        """Create (model None) or update through a service; return the model, or None if refused."""
        raise NotImplementedError

    def remove(self, model: Any) -> bool:
        """Delete through a service; return whether it was deleted."""
        raise NotImplementedError

    def create_model(self, form: FlaskForm):
        said = waiting_messages()
        model = self.save(form, None)
        if model is None:
            return False
        if waiting_messages() == said:  # the save had nothing particular to say: the usual message
            flash(self.saved_message(model, created=True), "success")
        return model

    def update_model(self, form: FlaskForm, model: Any) -> bool:
        said = waiting_messages()
        if self.save(form, model) is None:
            return False
        if waiting_messages() == said:
            flash(self.saved_message(model, created=False), "success")
        return True

    def delete_model(self, model: Any) -> bool:
        subject = self.record_subject(model)  # read before the row is gone
        if not self.remove(model):
            return False
        flash(f"{subject} {self.agree('supprimé')}.", "success")
        return True

    # --- Flask-Admin's pages, each outcome said once ---------------------------------------------
    def render(self, template, **kwargs):
        self.say_outcome_once(kwargs.get("model"))
        return super().render(template, **kwargs)

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        response = super().create_view()
        self.say_outcome_once()
        return response

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        response = super().edit_view()
        self.say_outcome_once()
        return response

    @expose("/delete/", methods=("POST",))
    def delete_view(self):
        response = super().delete_view()
        self.say_outcome_once()
        return response

    def handle_action(self, return_view: str | None = None):
        """Run a bulk action; an unknown one, or a form without one, is said once in French.

        Flask-Admin's says nothing of an unknown action and "Failed to perform action. ..." of the other.
        """
        form = self.action_form()
        name = form.action.data
        handler = self._actions_data.get(name)
        if self.validate_form(form) and handler and self.is_action_allowed(name):
            response = handler[0](request.form.getlist("rowid"))
            if response is not None:
                return response
        else:
            flash(UNKNOWN_ACTION, "error")
        return redirect(self.get_url(f".{return_view}") if return_view else get_redirect_target() or self.get_url(".index_view"))
