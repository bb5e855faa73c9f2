"""The one place that decides who may enter a view, which rows they see, and how changes are made.

Every admin view derives from `SecureModelView` (or `SecureBaseView`): access
is closed by default, `get_one` obeys the same scoping as the list, and
create/update/delete go through services, whose refusals become French flash
messages with nothing changed; each outcome is said once, naming its subject
(Flask-Admin's own generic messages are dropped).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from babel import support
from flask import abort, current_app, flash, has_request_context, redirect, request, session, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.helpers import get_redirect_target
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf import i18n as flask_wtf_i18n
from sqlalchemy import func, select
from wtforms.i18n import messages_path

from admin_app.authority import Perimeter
from admin_app.current import current_actor, current_perimeter
from admin_app.extensions import db
from admin_app.inputs import MAX_DB_ID, MAX_PAGE, parse_db_id, refuse
from admin_app.services import ServiceError
from models import AuditEvent
from models.ids import IdList, in_ids

from .messages import RECORD_NOUNS, UNKNOWN_ACTION, FieldMessages, flask_admin_outcome, waiting_messages

T = TypeVar("T")
_ROW_STATEMENTS: OrderedDict = OrderedDict()  # CriteriaListView._row_statements: the newest 512 list states
_ROW_STATEMENTS_LOCK = threading.Lock()
_ID_DIGITS = len(str(MAX_DB_ID))  # fewer digits than the largest id: below it, whatever they are
_ID_LIST = re.compile(rf"[0-9]{{1,{_ID_DIGITS - 1}}}(?:,[0-9]{{1,{_ID_DIGITS - 1}}})*")


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


_WTFORMS_CATALOGUES: dict[str, Any] = {}


def _wtforms_catalogue() -> Any:
    """WTForms' catalogue in the request's language, read once per process.

    Flask-WTF's own reads the .mo file from disk again on every request with a form (about 1 ms: an
    edit page, a list's action form); the file does not change while the app runs.
    """
    if not has_request_context() or "babel" not in current_app.extensions:
        return None
    locale = str(get_locale())
    catalogue = _WTFORMS_CATALOGUES.get(locale)
    if catalogue is None:
        catalogue = _WTFORMS_CATALOGUES[locale] = support.Translations.load(messages_path(), [locale], domain="wtforms")
    return catalogue


def ids_to_int(ids: Iterable[Any]) -> IdList:
    """Action ids arrive as strings; PostgreSQL refuses `integer = varchar` (flask-admin #2951).

    One id that is not a possible row id (not digits, past the INTEGER column) refuses the whole
    batch with the French 400 page: dropping it would act on a selection nobody made.
    """
    ids = list(ids)
    # The common case checked in C (5,000 ticked rows): strings of ASCII digits, fewer than the largest id's
    # (joined by commas, so one id holding a comma is told apart by the count of commas).
    if ids and all(type(i) is str for i in ids):
        joined = ",".join(ids)
        if joined.count(",") == len(ids) - 1 and _ID_LIST.fullmatch(joined):
            return IdList.of(map(int, ids))
    wanted = {parse_db_id(i) for i in ids}
    if None in wanted:
        refuse()
    return IdList.of(i for i in wanted if i is not None)


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


class SecureModelView(AccessMixin, ModelView):
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

    # --- scoping: the list, the count, single records and actions obey the same rule ----------
    def perimeter_clause(self, perimeter: Perimeter):
        """The WHERE clause of the rows this view shows to `perimeter` (asked of the authority model)."""
        raise NotImplementedError(f"{type(self).__name__} is open to delegated administrators but names no rows")

    def scope(self, query):
        """Restrict a query to the rows the current user may see; staff-only views show every row."""
        if not self.open_to_managers:
            return query
        return query.filter(self.perimeter_clause(current_perimeter()))

    def get_query(self):
        return self.scope(super().get_query())

    def get_count_query(self):
        return self.scope(super().get_count_query())

    def _get_list_extra_args(self):
        """The list's URL arguments, with a page number the database can take.

        Flask-Admin reads `page` with int(): -1 became a negative OFFSET (PostgreSQL refuses it) and
        10**30 an OFFSET past BIGINT. Anything but a plain number up to MAX_PAGE shows the first page.
        """
        view_args = super()._get_list_extra_args()
        return view_args.clone(page=parse_db_id(request.args.get("page", "0"), MAX_PAGE) or 0)

    record_load_options: tuple = ()  # eager loads for a details or edit page (what its template reads)

    def get_one(self, id: Any):
        """One record, through the same scoping as the list: out of scope is 404, as is unknown."""
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

    # --- one message per outcome, naming its subject ---------------------------------------------------
    def record_noun(self) -> tuple[str, bool]:
        return RECORD_NOUNS.get(self.model.__name__, ("Élément", False))

    def agree(self, participle: str) -> str:
        """`participle` agreeing with this view's record noun: "créé", "créée"."""
        return participle + ("e" if self.record_noun()[1] else "")

    def record_subject(self, model: Any) -> str:
        """How a message names one record: "Établissement « Temple JEDI »", "Utilisateur « SKYWALKER Luke »"."""
        return f"{self.record_noun()[0]} « {getattr(model, 'name', None) or model} »"

    def saved_message(self, model: Any, created: bool) -> str:
        return f"{self.record_subject(model)} {self.agree('créé' if created else 'enregistré')}."

    def refused_form_message(self, model: Any | None) -> str:
        """The message of a form sent back with errors on its fields (nothing was saved)."""
        if model is None:
            return f"{self.record_noun()[0]} non {self.agree('créé')} : corrigez les champs signalés."
        return f"{self.record_subject(model)} non {self.agree('enregistré')} : corrigez les champs signalés."

    def say_outcome_once(self, model: Any | None = None) -> None:
        """Drop Flask-Admin's own outcome messages; where one reported a refused form, say it in French.

        Called before a page is drawn (the messages are read then) and after a view redirects.
        """
        waiting = session.get("_flashes") or []
        outcomes = [flask_admin_outcome(str(message)) for _category, message in waiting]
        if not any(outcomes):
            return
        session["_flashes"] = [message for message, outcome in zip(waiting, outcomes, strict=True) if outcome is None]
        if "not_created" in outcomes:
            flash(self.refused_form_message(None), "error")
        elif "not_saved" in outcomes:
            flash(self.refused_form_message(model), "error")
        elif "not_deleted" in outcomes:  # the delete form came without the record's id
            flash("Rien n'a été supprimé : aucun élément désigné.", "error")

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


class CriteriaListView(SecureModelView):
    """A list whose filters live in the URL as plain arguments (bookmarkable), read by `list_criteria`.

    One count statement and one page statement, whatever the filters: criteria
    are WHERE clauses (EXISTS/IN subqueries), never joins that duplicate rows.
    """

    list_load_options: tuple = ()  # e.g. undefer() of computed columns shown in the list

    # --- the list page builds only what its template draws ------------------------------------------
    def _drawing_the_list(self) -> bool:
        return request.endpoint == f"{self.endpoint}.index_view"

    def delete_form(self):
        """None for the list page: its rows post to `row_action_view` through the page's one form, so
        Flask-Admin's delete form (built on every list page, a CSRF token and translations) is never drawn."""
        return None if self._drawing_the_list() else super().delete_form()

    def action_form(self, obj=None):
        """None for the list page: admin/_bulk_form.html writes its own fields and token."""
        return None if self._drawing_the_list() else super().action_form(obj)

    def list_options(self) -> tuple:
        """Loader options of the list query (a view whose columns depend on the viewer overrides this)."""
        return self.list_load_options

    def list_criteria(self, search: str | None = None) -> list:
        raise NotImplementedError

    def list_row_columns(self) -> tuple | None:
        """The columns a row of the list shows, each labelled with the name its template reads.

        Given, the page is read as plain rows of exactly those columns: no ORM object per row, no
        column nobody shows. None (the default): whole records, with `list_options()`.
        """
        return None

    def _row_statements(self, page, sort_column, sort_desc, search, page_size):
        """The count and page statements of a list read as row columns, built once per list state.

        A list's statements depend only on the URL's arguments and the viewer's perimeter, and SQLAlchemy
        statements never change once built: the same page asked again (a pager, a reload, another staff
        member on the same filters) reuses them, and with them the cache key SQLAlchemy computed for each,
        instead of building the filters' subqueries and hashing them anew (about 1 ms a page).
        """
        perimeter = current_perimeter() if self.open_to_managers else None
        key = (self.endpoint, None if perimeter is None or perimeter.unrestricted else frozenset(perimeter.held.items()),
               tuple(sorted(request.args.items(multi=True))), search, sort_column, sort_desc, page, page_size)
        with _ROW_STATEMENTS_LOCK:
            found = _ROW_STATEMENTS.get(key)
            if found is not None:
                _ROW_STATEMENTS.move_to_end(key)
                return found
        criteria = self.list_criteria(search)
        count = self.scope(select(func.count()).select_from(self.model)).where(*criteria)
        # The page's ids first, then the row's columns for those ids only ("deferred join"). The row's
        # computed columns (the viewer's perimeter columns: subqueries per row) are then evaluated for
        # the page's rows, never for the rows an OFFSET skips (page 1,000 of a million users read 20,000
        # rows' subqueries: 3.3 s), and PostgreSQL, expecting a page rather than the whole table, plans
        # them as per-row index probes instead of hashing every grant (140 ms at a million users).
        page_ids = self._ordered_page(self.scope(select(self.model.id).select_from(self.model)).where(*criteria),
                                      page, sort_column, sort_desc, page_size)
        query = select(*self.list_row_columns()).select_from(self.model).where(self.model.id.in_(page_ids.scalar_subquery()))
        query = self._ordered_page(query, None, sort_column, sort_desc, page_size)
        with _ROW_STATEMENTS_LOCK:
            _ROW_STATEMENTS[key] = (count, query)
            if len(_ROW_STATEMENTS) > 512:
                _ROW_STATEMENTS.popitem(last=False)
        return count, query

    def _ordered_page(self, query, page, sort_column, sort_desc, page_size):
        query, _ = self._apply_sorting(query, {}, sort_column, sort_desc)
        # Then the id, the same way round, so pages never overlap (a bulk action stamps thousands of
        # rows with one instant) and one index, e.g. (created_at, id), serves the whole order.
        if sort_column is None:
            sort_desc = next((order[-1] for order in self._get_default_order()), False)
        query = query.order_by(self.model.id.desc() if sort_desc else self.model.id)
        return self._apply_pagination(query, page, page_size)

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        if execute and type(self).list_row_columns is not CriteriaListView.list_row_columns:
            # Plain statements of exactly the row's columns, run by the session: no ORM Query, no entities.
            count, query = self._row_statements(page, sort_column, sort_desc, search, page_size)
            return db.session.scalar(count), db.session.execute(query).all()
        criteria = self.list_criteria(search)
        count = self.get_count_query().filter(*criteria).scalar()
        query = self.get_query().filter(*criteria).options(*self.list_options())
        query = self._ordered_page(query, page, sort_column, sort_desc, page_size)
        return count, (query.all() if execute else query)

    @expose("/row-action/", methods=("POST",))
    def row_action_view(self):
        """A row's buttons share one form per page: each button says which action on which row
        ("deactivate:42"), so the page carries one CSRF token and one return URL, not a form per button."""
        name, _, rowid = request.form.get("row_action", "").partition(":")
        handler = self._actions_data.get(name)
        row_id = parse_db_id(rowid)  # digits within the id column's range, else "Action inconnue"
        if self.validate_form(self.action_form()) and row_id is not None and handler and self.is_action_allowed(name):
            response = handler[0]([str(row_id)])
            if response is not None:
                return response
        else:
            flash(UNKNOWN_ACTION, "error")
        return redirect(get_redirect_target() or self.get_url(".index_view"))

    def matching_ids(self):
        """Every row the current filters select, as a subquery (for "Sélectionner les N résultats")."""
        search = request.args.get("search") or None
        return self.get_query().filter(*self.list_criteria(search)).with_entities(self.model.id).statement

    def selected_targets(self, ids: Iterable[Any], nothing_selected: str):
        """Every matching row (a subquery), or the selected ids as ints, for a service that checks each of
        them itself (the users' bulk actions: admin_app.services.bulk); None, flashed, if none."""
        if request.form.get("all_matching") == "1":
            return self.matching_ids()
        wanted = ids_to_int(ids)
        if not wanted:
            flash(nothing_selected, "error")
            return None
        return wanted

    def action_targets(self, ids: Iterable[Any], nothing_selected: str):
        """What a bulk action applies to: every matching row, or the selected ids (None, flashed, if none),
        all of them in this view's scope (else the whole batch is refused, flashed)."""
        wanted = self.selected_targets(ids, nothing_selected)
        if wanted is None or request.form.get("all_matching") == "1":
            return wanted
        # The ids as one bound parameter (models.queries.in_ids), not one each: 5,000 selected users were
        # 5,000 parameters to expand and bind.
        visible = self.get_count_query().filter(in_ids(self.model.id, wanted)).scalar()
        if visible != len(wanted):
            # Ids typed or forged outside the user's scope: refuse the whole batch.
            flash(f"{len(wanted) - visible} élément(s) sélectionné(s) hors de votre périmètre ou introuvable(s) : "
                  "aucune modification n'a été faite.", "error")
            return None
        return wanted
