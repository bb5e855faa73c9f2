"""The lists: filters in the URL, one count and one page statement, rows read as plain columns, and the ids
a bulk action or a row's button sends."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from sqlalchemy import func, select

from admin_app.caching import BoundedCache
from admin_app.current import current_perimeter
from admin_app.extensions import db
from admin_app.inputs import MAX_DB_ID, parse_db_id, refuse
from models.ids import IdList, in_ids

from .access import SecureModelView
from .messages import UNKNOWN_ACTION

# A list's statements per list state and viewer perimeter, and its URLs: built once, reused on every visit.
ROW_STATEMENTS: BoundedCache[tuple] = BoundedCache(512)
LIST_URLS: BoundedCache[str] = BoundedCache(4096)
_ID_DIGITS = len(str(MAX_DB_ID))  # fewer digits than the largest id: below it, whatever they are
_ID_LIST = re.compile(rf"[0-9]{{1,{_ID_DIGITS - 1}}}(?:,[0-9]{{1,{_ID_DIGITS - 1}}})*")


def ids_to_int(ids: Iterable[Any]) -> IdList:
    """Action ids arrive as strings; PostgreSQL refuses `integer = varchar` (flask-admin #2951).

    One id that is not a possible row id (not digits, past the INTEGER column) refuses the whole
    batch with the French 400 page: dropping it would act on a selection nobody made.
    """
    ids = list(ids)
    # The common case checked in C (thousands of ticked rows): strings of ASCII digits, fewer than the largest
    # id's (joined by commas, so one id holding a comma is told apart by the count of commas).
    if ids and all(type(i) is str for i in ids):
        joined = ",".join(ids)
        if joined.count(",") == len(ids) - 1 and _ID_LIST.fullmatch(joined):
            return IdList.of(map(int, ids))
    wanted = {parse_db_id(i) for i in ids}
    if None in wanted:
        refuse()
    return IdList.of(i for i in wanted if i is not None)


def all_matching() -> bool:
    """Whether a bulk form asked for every row the list's filters select (« Sélectionner les N résultats »),
    rather than the ticked ones."""
    return request.form.get("all_matching") == "1"


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
        statements never change once built: the same page asked again (a pager, a reload, another viewer
        with the same perimeter on the same filters) reuses them, and with them the cache key SQLAlchemy
        computed for each, instead of building the filters' subqueries and hashing them anew.
        """
        fingerprint = current_perimeter().fingerprint if self.open_to_managers else None
        key = (self.endpoint, fingerprint, tuple(sorted(request.args.items(multi=True))), search, sort_column,
               sort_desc, page, page_size)
        return ROW_STATEMENTS.get(key, lambda: self._build_row_statements(page, sort_column, sort_desc, search, page_size))

    def _build_row_statements(self, page, sort_column, sort_desc, search, page_size):
        criteria = self.list_criteria(search)
        count = self.restricted(select(func.count()).select_from(self.model)).where(*criteria)
        # The page's ids first, then the row's columns for those ids only ("deferred join"): the row's
        # computed columns (subqueries per row) are evaluated for the page's rows, never for the rows an
        # OFFSET skips, and PostgreSQL, expecting a page rather than the whole table, plans them as per-row
        # index probes instead of hashing every grant.
        page_ids = self._ordered_page(self.restricted(select(self.model.id).select_from(self.model)).where(*criteria),
                                      page, sort_column, sort_desc, page_size)
        query = select(*self.list_row_columns()).select_from(self.model).where(self.model.id.in_(page_ids.scalar_subquery()))
        return count, self._ordered_page(query, None, sort_column, sort_desc, page_size)

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
        if all_matching():
            return self.matching_ids()
        wanted = ids_to_int(ids)
        if not wanted:
            flash(nothing_selected, "error")
            return None
        return wanted

    def action_targets(self, ids: Iterable[Any], nothing_selected: str):
        """What a bulk action applies to: every matching row, or the selected ids (None, flashed, if none),
        all of them among the rows this view shows (else the whole batch is refused, flashed)."""
        wanted = self.selected_targets(ids, nothing_selected)
        if wanted is None or all_matching():
            return wanted
        # The ids as one bound parameter (models.ids.in_ids), not one each.
        visible = self.get_count_query().filter(in_ids(self.model.id, wanted)).scalar()
        if visible != len(wanted):
            # Ids typed or forged outside the user's perimeter: refuse the whole batch.
            flash(f"{len(wanted) - visible} élément(s) sélectionné(s) hors de votre périmètre ou introuvable(s) : "
                  "aucune modification n'a été faite.", "error")
            return None
        return wanted


class LeanListMixin:
    """For a CriteriaListView read as plain rows (`list_row_columns`): what its page costs beyond its SQL, cut.

    - Its own URLs (sort headers, pager, return address: some twenty a page) are built once per process:
      Flask-Admin builds each with url_for, and the same list state asks for the same ones on every visit.
      A URL depends only on the view, the script root and its arguments: that is the key.
    - Its two statements (plain columns, no entity) run on the session's connection, in its transaction,
      without the session's ORM execution path.
    """

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        if not execute:
            return super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)
        count, query = self._row_statements(page, sort_column, sort_desc, search, page_size)
        connection = db.session.connection()
        return connection.scalar(count), connection.execute(query).all()

    def _get_list_url(self, view_args):
        key = (self.endpoint, request.script_root, view_args.page or None, view_args.sort, bool(view_args.sort_desc),
               view_args.search, self.get_safe_page_size(view_args.page_size), tuple(view_args.extra_args.items()),
               tuple(map(tuple, view_args.filters or ())))
        return LIST_URLS.get(key, super()._get_list_url, view_args)
