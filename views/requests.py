"""Demandes de création de compte: the tab, approval (✓) and refusal (✖) with a reason."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from sqlalchemy import func, select
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from admin_app.caching import BoundedCache
from admin_app.current import current_perimeter
from admin_app.extensions import db
from admin_app.services import claims
from admin_app.services import requests as request_service
from models import AccountRequest, RequestKind, RequestStatus
from models.queries import RequestFilter

from .access import SecureForm
from .listing import CriteriaListView, LeanListMixin, ids_to_int
from .messages import name_list, plural

# The filters' choices and the cells' words: constant, built once.
KINDS = [("ouverture", "Ouverture"), ("rattachement", "Rattachement")]
STATUSES = [("en_cours", "En cours"), ("validees", "Validées"), ("refusees", "Refusées"), ("toutes", "Toutes")]
KIND_LABELS = {k.value: k.label for k in RequestKind}
STATUS_LABELS = {s.value: s.label for s in RequestStatus}
# pending_request_count's statement per perimeter: the tab's badge is on every page of the users' screens.
PENDING_COUNTS: BoundedCache = BoundedCache(256)


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
                pending=RequestStatus.PENDING.value,
            )
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

    Its statement depends on the perimeter only: built once per perimeter, with the cache key SQLAlchemy
    computed for it, not on every page that shows the tab.
    """
    statement = PENDING_COUNTS.get(current_perimeter().fingerprint, _pending_count_statement)
    return db.session.connection().scalar(statement) or 0  # a count: no entity, no ORM execution path


def _pending_count_statement():
    pending = visible_requests().where(AccountRequest.status == RequestStatus.PENDING.value)
    # count(*) over the (status, requested_at) index, not over a subquery of every column
    return pending.with_only_columns(func.count(), maintain_column_froms=True)
