"""Demandes de création de compte: the tab, approval (✓) and refusal (✖) with a reason."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from jinja2.filters import do_urlencode
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import undefer
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from admin_app.current import current_perimeter
from admin_app.extensions import db
from admin_app.filters import paris_datetime, yes_no
from admin_app.services import claims
from admin_app.services import requests as request_service
from models import AccountRequest, RequestKind, RequestStatus
from models.queries import RequestFilter
from models.rules import format_siret

from .base import CriteriaListView, SecureForm, ids_to_int
from .messages import name_list, plural

# The filters' choices and the cells' words: constant, built once.
KINDS = [("ouverture", "Ouverture"), ("rattachement", "Rattachement")]
STATUSES = [("en_cours", "En cours"), ("validees", "Validées"), ("refusees", "Refusées"), ("toutes", "Toutes")]
KIND_LABELS = {k.value: k.label for k in RequestKind}
STATUS_LABELS = {s.value: s.label for s in RequestStatus}
_PENDING_COUNTS: dict = {}  # pending_request_count's statement, per perimeter
_LIST_URLS: dict = {}  # LeanListMixin: list URLs already built


class LeanListMixin:
    """For a CriteriaListView read as plain rows (`list_row_columns`): what its page costs beyond its SQL, cut.

    - Its own URLs (sort headers, pager, return address: some twenty a page) are built once per process:
      Flask-Admin builds each with url_for, about 30 µs apiece, and the same list state asks for the same
      ones on every visit. A URL depends only on the view, the script root and its arguments: that is the key.
    - Its two statements (plain columns, no entity) run on the session's connection, in its transaction: the
      session's ORM execution path added about 0.3 ms to the two.
    """

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        if not execute:
            return super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)
        count, query = self._row_statements(page, sort_column, sort_desc, search, page_size)
        connection = db.session.connection()
        return connection.scalar(count), connection.execute(query).all()

    def _get_list_url(self, view_args):
        arguments = (view_args.page or None, view_args.sort, bool(view_args.sort_desc), view_args.search,
                     self.get_safe_page_size(view_args.page_size), tuple(view_args.extra_args.items()),
                     tuple(tuple(f) for f in view_args.filters or ()))
        key = (self.endpoint, request.script_root, arguments)
        url = _LIST_URLS.get(key)
        if url is None:
            url = super()._get_list_url(view_args)
            if len(_LIST_URLS) >= 4096:  # filters typed by hand make new keys without end: start again
                _LIST_URLS.clear()
            _LIST_URLS[key] = url
        return url


class RefusalForm(SecureForm):
    reason = RadioField("Motif du refus", choices=[SelectChoice(k, v) for k, v in request_service.REFUSAL_CHOICES.items()],
                        validators=[InputRequired("Choisissez un motif de refus.")])
    details = TextAreaField("Précisions (obligatoires pour « Autre »)")


class AccountRequestView(LeanListMixin, CriteriaListView):
    open_to_managers = True
    audit_target_type = "request"
    list_template = "admin/requests/list.html"
    details_template = "admin/requests/details.html"
    can_create = False
    can_edit = False
    can_delete = False

    column_list = ("last_name", "first_name", "job_title", "company_name", "kind", "requested_at", "email", "siret",
                   "establishment_known", "status")
    column_labels = {
        "last_name": "Nom",
        "first_name": "Prénom",
        "job_title": "Fonction",
        "company_name": "Raison sociale",
        "kind": "Type de demande",
        "requested_at": "Date de la demande",
        "email": "Email",
        "siret": "SIRET",
        "establishment_known": "Établissement connu",
        "status": "Statut",
    }
    column_sortable_list = column_list
    column_default_sort = [("requested_at", False)]
    column_formatters = {
        "last_name": lambda v, c, m, p: m.last_name.upper(),
        "kind": lambda v, c, m, p: m.kind_label,
        "status": lambda v, c, m, p: m.status_label,
        "requested_at": lambda v, c, m, p: paris_datetime(m.requested_at),
        "establishment_known": lambda v, c, m, p: yes_no(m.establishment_known),
        "siret": lambda v, c, m, p: format_siret(m.siret),
        "job_title": lambda v, c, m, p: m.job_title or "",
    }

    list_load_options = (undefer(AccountRequest.establishment_known),)

    def perimeter_clause(self, perimeter):
        return perimeter.requests()

    def list_row_columns(self):
        """What a row of the list shows (templates/admin/requests/list.html), and nothing else."""
        return (AccountRequest.id, AccountRequest.last_name, AccountRequest.first_name, AccountRequest.job_title,
                AccountRequest.company_name, AccountRequest.kind, AccountRequest.requested_at, AccountRequest.email,
                AccountRequest.siret, AccountRequest.establishment_known.expression.label("establishment_known"),
                AccountRequest.status)

    def list_criteria(self, search=None):
        return RequestFilter.from_args(request.args).clauses()

    def render(self, template, **kwargs):
        if template == self.list_template:
            requests_url = url_for(".index_view")
            kwargs.update(
                request_filter=RequestFilter.from_args(request.args),
                query_string=request.query_string.decode(),
                requests_url=requests_url,
                pending_requests=pending_request_count(),
                kinds=KINDS,
                statuses=STATUSES,
                kind_labels=KIND_LABELS,
                status_labels=STATUS_LABELS,
            )
            kwargs["table_rows"] = request_rows(kwargs.get("data") or (), kwargs.get("return_url") or "",
                                                show_status=kwargs["request_filter"].statut != "en_cours")
        elif template == self.details_template and kwargs.get("model") is not None:
            model = kwargs["model"]
            kwargs["history"] = self.history(model.id)
            kwargs["establishment"] = request_service.matching_establishment(db.session, model)
        return super().render(template, **kwargs)

    # --- approve (✓) -------------------------------------------------------------------------------
    @expose("/approve/<int:request_id>")
    def approve_view(self, request_id: int):
        """Open the pre-filled creation form (Ouverture) or the user's edit page (Rattachement).

        A GET only opens a page: nothing is decided until its form is posted with the CSRF token.
        """
        account_request = self.get_one(request_id)
        if account_request.status != RequestStatus.PENDING.value:
            flash("Cette demande a déjà été traitée.", "error")
            return redirect(url_for(".index_view"))
        is_attachment = account_request.kind == RequestKind.ATTACHMENT.value
        user = request_service.requester_account(db.session, account_request) if is_attachment else None
        if is_attachment and user is None:  # the account it names is gone, or its address changed
            flash(claims.ACCOUNT_GONE, "error")
            return redirect(url_for(".index_view"))
        perimeter = current_perimeter()
        if user is not None and not perimeter.sees(user):
            # Someone from elsewhere: attach first (a POST from this page), then tick the accesses.
            return self.render("admin/requests/approve_attachment.html", model=account_request, account=user,
                               account_grants=perimeter.visible_grants(user), claim=perimeter.may_claim(user),
                               form=SecureForm(), establishment=request_service.matching_establishment(db.session, account_request))
        if user is not None:
            return redirect(url_for("users.edit_view", id=user.id, request=account_request.id, url=url_for(".index_view")))
        return redirect(url_for("users.create_view", request=account_request.id, url=url_for(".index_view")))

    @expose("/approve/<int:request_id>/attach", methods=("POST",))
    def attach_view(self, request_id: int):
        """Approve a Rattachement of an account from elsewhere: attach it, then open its grant editor."""
        account_request = self.get_one(request_id)
        if not SecureForm().validate_on_submit():
            abort(400)
        outcome = self.run_service(request_service.approve_many, [account_request.id])
        if outcome is None or not outcome.done:
            if outcome is not None:  # None: run_service said why
                flash(*decision_message(outcome, "validée"))
            return redirect(url_for(".index_view"))
        user = request_service.requester_account(db.session, account_request)
        if user is None:  # its address changed the moment after: approved, with nothing more to open here
            flash(*decision_message(outcome, "validée"))
            return redirect(url_for(".index_view"))
        flash(f"Demande validée : {user.full_name} est rattaché(e) à votre établissement. Cochez ses accès puis enregistrez.", "success")
        return redirect(url_for("users.edit_view", id=user.id, url=url_for(".index_view")))

    @action("approve", "Valider (sans habilitation)")
    def action_approve(self, ids):
        targets = self.action_targets(ids, "Sélectionnez au moins une demande.")
        if targets is None:
            return None
        outcome = self.run_service(request_service.approve_many, targets)
        if outcome is not None:
            flash(*decision_message(outcome, "validée"))
        return None

    # --- refuse (✖) --------------------------------------------------------------------------------
    @action("refuse", "Refuser…")
    def action_refuse(self, ids):
        if request.form.get("all_matching") == "1":
            return redirect(url_for(".refuse_view", all="1", **RequestFilter.from_args(request.args).as_args()))
        wanted = ids_to_int(ids)
        if not wanted:
            flash("Sélectionnez au moins une demande.", "error")
            return None
        return redirect(url_for(".refuse_view", ids=",".join(map(str, wanted))))

    @expose("/refuse/", methods=("GET", "POST"))
    def refuse_view(self):
        """Ask for the reason, then refuse the requests and email the reason to each requester."""
        if request.args.get("all") == "1":
            targets = self.matching_ids()
            chosen = self.get_query().filter(*self.list_criteria()).order_by(AccountRequest.requested_at).limit(200).all()
        else:
            wanted = ids_to_int((request.args.get("ids") or "").split(",")) if request.args.get("ids") else []
            chosen = self.get_query().filter(AccountRequest.id.in_(wanted)).order_by(AccountRequest.requested_at).all()
            if len(chosen) != len(wanted) or not wanted:
                abort(404)
            targets = wanted
        form = RefusalForm()
        if form.validate_on_submit():
            outcome = self.run_service(request_service.refuse_requests, targets, form.reason.data, form.details.data, form=form)
            if outcome is not None:
                flash(*decision_message(outcome, "refusée", " ; le motif a été envoyé par email"))
                return redirect(url_for(".index_view"))
        elif form.is_submitted():
            flash("Aucune demande refusée : corrigez les champs signalés.", "error")
        return self.render("admin/requests/refuse.html", form=form, chosen=chosen, count=len(chosen) if request.args.get("all") != "1"
                           else self.get_count_query().filter(*self.list_criteria()).scalar())


def request_rows(rows, return_url: str, show_status: bool) -> Markup:
    """The table's rows, from the plain rows of `list_row_columns`, each cell written as it is shown.

    Written here rather than cell by cell in Jinja: 50 rows of 12 cells were some 1,200 escaped template
    expressions (about 50 µs a row); here only the requester's own text is escaped. Row URLs are built once,
    each row appending its id.
    """
    details = escape(url_for(".details_view") + "?id=")
    back = escape("&url=" + do_urlencode(return_url))
    approve = escape(url_for(".approve_view", request_id=0).removesuffix("0"))
    refuse = escape(url_for(".refuse_view") + "?ids=")
    pending = RequestStatus.PENDING.value
    out = []
    # Unpacked in list_row_columns' order: reading a row's fields by name costs more than writing them.
    for pk, raw_last_name, first_name, job_title, company_name, kind, requested_at, email, siret, known, status in rows:
        last_name, first_name = escape(raw_last_name), escape(first_name)
        decision = ""
        if status == pending:
            # The guide's ✓ and ✖, named for screen readers and in a tooltip: words would push the table past 1366 px.
            who = f"{first_name} {last_name}"
            decision = (
                f'\n        <a class="btn btn-sm btn-success" href="{approve}{pk}" title="Valider la demande de {who}"><span aria-hidden="true">✓</span>'
                f'<span class="sr-only">Valider la demande de {who}</span></a>'
                f'\n        <a class="btn btn-sm btn-danger" href="{refuse}{pk}" title="Refuser la demande de {who}"><span aria-hidden="true">✖</span>'
                f'<span class="sr-only">Refuser la demande de {who}</span></a>'
            )
        shown_status = f'<td class="col-status">{STATUS_LABELS[status]}</td>' if show_status else ""
        out.append(
            f'\n    <tr>\n      <td><input type="checkbox" name="rowid" value="{pk}" form="bulk-form" class="row-select" '
            f'aria-label="Sélectionner la demande de {last_name} {first_name}"></td>\n'
            f'      <td class="nowrap">\n        <a class="btn btn-sm btn-outline-secondary" href="{details}{pk}{back}">Voir</a>{decision}\n      </td>\n'
            f'      <td class="col-last_name">{escape(raw_last_name.upper())}</td><td class="col-first_name">{first_name}</td>'
            f'<td class="col-job_title">{escape(job_title or "")}</td><td class="col-company_name">{escape(company_name)}</td>'
            f'<td class="col-kind">{KIND_LABELS[kind]}</td><td class="col-requested_at nowrap">{paris_datetime(requested_at)}</td>'
            f'<td class="col-email nowrap">{escape(email)}</td><td class="col-siret nowrap">{escape(format_siret(siret))}</td>'
            f'<td class="col-establishment_known">{yes_no(known)}</td>{shown_status}\n    </tr>'
        )
    # Safe markup (bandit B704): every value from the database is escaped above; the rest is constants, ints, dates.
    return Markup("".join(out))  # nosec B704


def decision_message(outcome: request_service.BulkOutcome, decided: str, then: str = "") -> tuple[str, str]:
    """The one message of a decision on requests: those decided ("validée"), then those skipped and why."""
    said = []
    if outcome.done:
        said.append(f"{plural(len(outcome.done), 'demande ' + decided, 'demandes ' + decided + 's')} : {name_list(outcome.done)}{then}.")
    if outcome.skipped:
        skipped = name_list([f"{who} ({why})" for who, why in outcome.skipped])
        said.append(("" if outcome.done else f"Aucune demande {decided}. ")
                    + f"Non {decided}{'s' if len(outcome.skipped) > 1 else ''} : {skipped}.")
    if not said:
        return "Aucune demande à traiter.", "info"
    return " ".join(said), ("warning" if outcome.done else "error") if outcome.skipped else "success"


def visible_requests():
    """The account requests the current user may see and decide (the tab's scope, for other views too)."""
    return select(AccountRequest).where(current_perimeter().requests())


def pending_request_count() -> int:
    """Pending requests the current user may decide: the badge of the "Demandes" tab.

    Its statement depends on the perimeter only: built once per perimeter (256 at most), with the cache key
    SQLAlchemy computed for it, not on every page that shows the tab.
    """
    perimeter = current_perimeter()
    key = None if perimeter.unrestricted else frozenset(perimeter.held.items())
    statement = _PENDING_COUNTS.get(key)
    if statement is None:
        pending = visible_requests().where(AccountRequest.status == RequestStatus.PENDING.value)
        # count(*) over the (status, requested_at) index, not over a subquery of every column
        statement = pending.with_only_columns(func.count(), maintain_column_froms=True)
        if len(_PENDING_COUNTS) >= 256:  # many delegated perimeters: start again
            _PENDING_COUNTS.clear()
        _PENDING_COUNTS[key] = statement
    return db.session.connection().scalar(statement) or 0  # a count: no entity, no ORM execution path
