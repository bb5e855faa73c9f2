"""The users screen's actions: per row and in bulk, on the selection or on every matching user."""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, request, session, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.helpers import get_redirect_target

from admin_app.current import current_actor, current_perimeter
from admin_app.extensions import db
from admin_app.filters import paris_datetime
from admin_app.inputs import parse_db_id, refuse
from admin_app.jobs import export
from admin_app.services import bulk as bulk_service
from admin_app.services import undo as undo_service
from admin_app.services.bulk import scope_of_filter
from admin_app.services.operations import OperationResult
from models import Operation, User
from models.wording import plural, thousands

from .access import SecureForm
from .exports import csv_response
from .jobs import BULK_ACTIONS, bulk_job_page, export_job_or_none, undo_job_or_none
from .listing import all_matching
from .outcomes import result_message, undo_message

TOO_MANY_TO_DELETE = ("{count} utilisateurs correspondent : une suppression est définitive (elle ne peut pas être "
                      "annulée), elle n'est donc faite d'un coup que jusqu'à {limit} utilisateurs. Affinez les filtres "
                      "pour en viser moins. Aucun utilisateur n'a été supprimé.")


class UserActionsMixin:
    """Each action asks a service; the messages say what was done, and what was already so.

    Activation and deactivation are operations (admin_app.services.operations): the list then offers
    « Annuler cette opération », a POST, for as long as OPERATION_UNDO_HOURS allows.
    """

    def _action_targets(self, ids):
        return self.action_targets(ids, "Sélectionnez au moins un utilisateur.")

    def _run_bulk(self, ids, service, *args, operation: bool = True):
        # The service checks the selection itself (each user exists, is in the perimeter and governed), in
        # the statement that counts it: the view does not count it first.
        targets = self.selected_targets(ids, "Sélectionnez au moins un utilisateur.")
        if targets is None:
            return None
        if not operation:
            return self.run_service(service, targets, *args)
        return self.run_service(service, targets, *args, scope=self.scope_in_words())

    def scope_in_words(self) -> str | None:
        """What "every matching user" meant when the action ran, in French (None for a ticked selection:
        the service then names the user, or counts them)."""
        if not all_matching():
            return None
        return scope_of_filter(request.args, request.args.get("search") or "")

    def _matching_count(self) -> int | None:
        """How many users "every matching user" means now (None for a ticked selection)."""
        if not all_matching():
            return None
        criteria = self.list_criteria(request.args.get("search") or None)
        return self.get_count_query().filter(*criteria).scalar() or 0

    def _as_job(self, action: str):
        """Past BULK_JOB_THRESHOLD matching users, the action is a background job (admin_app/jobs/bulk.py): one
        operation all the same, done chunk by chunk; the browser goes to its progress page. None: do it now."""
        count = self._matching_count()
        if count is None or count <= current_app.config["BULK_JOB_THRESHOLD"]:
            return None
        return bulk_job_page(action, count, self.matching_ids())

    def _done(self, result: OperationResult | None) -> None:
        if result is not None:
            flash(result_message(result), "success")
            self._offer_undo(result)

    def _offer_undo(self, result: OperationResult) -> None:
        """Keep the operation's id for the list's next drawing: it shows « Annuler cette opération »."""
        if result.operation_id is not None and result.kind.undoable:
            session["undo_operation"] = result.operation_id

    @action("activate", BULK_ACTIONS["activate"])
    def action_activate(self, ids):
        if (job_page := self._as_job("activate")) is not None:
            return job_page
        self._done(self._run_bulk(ids, bulk_service.set_active, True))
        return None

    @action("activate_links", BULK_ACTIONS["activate_links"])
    def action_activate_links(self, ids):
        """The guide's "Activer un utilisateur en cas d'absence ou d'oubli de mot de passe": activate, and send
        each one the link their state calls for (validate the address, create or renew the password)."""
        if (job_page := self._as_job("activate_links")) is not None:
            return job_page
        self._done(self._run_bulk(ids, bulk_service.activate_and_send_links))
        return None

    @action("deactivate", BULK_ACTIONS["deactivate"])
    def action_deactivate(self, ids):
        if (job_page := self._as_job("deactivate")) is not None:
            return job_page
        self._done(self._run_bulk(ids, bulk_service.set_active, False))
        return None

    @action("invite", "Renvoyer l'invitation")
    def action_invite(self, ids):
        result = self._run_bulk(ids, bulk_service.resend_invitations, operation=False)
        if result is not None:
            sent, skipped = result
            message = plural(sent, "invitation renvoyée", "invitations renvoyées")
            if skipped:
                message += f" ; {skipped} ignoré(s) (mot de passe déjà créé ou compte inactif)"
            flash(message + ".", "success")

    @action("delete", "Supprimer")
    def action_delete(self, ids):
        # Never a job: a deletion cannot be undone, so it is not done in chunks that a cancel or a crash could
        # leave half done; past BULK_JOB_THRESHOLD users it is refused (a filter that wide is rather a mistake).
        count, limit = self._matching_count(), current_app.config["BULK_JOB_THRESHOLD"]
        if count is not None and count > limit:
            flash(TOO_MANY_TO_DELETE.format(count=thousands(count), limit=thousands(limit)), "error")
            return
        result = self._run_bulk(ids, bulk_service.delete_users)
        if result is not None:
            flash(f"{plural(result.changed, 'utilisateur supprimé', 'utilisateurs supprimés')}, définitivement : "
                  "une suppression ne peut pas être annulée.", "success")

    # --- « Annuler cette opération » --------------------------------------------------------------------
    def undo_offer(self) -> dict | None:
        """The operation just done, if the current user may still undo it (read once, as a flash is)."""
        operation_id = session.pop("undo_operation", None)
        operation = db.session.get(Operation, operation_id) if isinstance(operation_id, int) else None
        if operation is None:
            return None
        window = undo_service.window(current_app.config)
        if undo_service.undo_problem(db.session, current_actor(), operation, window) is not None:
            return None
        return {"operation": operation, "until": paris_datetime(undo_service.undo_deadline(operation, window)),
                "details_url": url_for("operations.details_view", id=operation.id)}

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["undo_offer"] = self.undo_offer()
        return super().render(template, **kwargs)

    @expose("/undo-operation/", methods=("POST",))
    def undo_operation_view(self):
        """Take back an operation (a POST with the CSRF token); the answer says what was restored and what was
        left alone. A forged, unknown or replayed id is refused in French, nothing changed."""
        if not SecureForm().validate_on_submit():
            refuse("Le formulaire a expiré ou n'est pas valide : rechargez la page, puis recommencez.")
        operation_id = parse_db_id(request.form.get("operation", ""))
        if operation_id is None:
            flash(undo_service.NOT_FOUND, "error")
        elif (job_page := undo_job_or_none(operation_id, undo_service.window(current_app.config))) is not None:
            return job_page  # past BULK_JOB_THRESHOLD users: a job, as the operation itself was
        else:
            result = self.run_service(undo_service.undo, operation_id, undo_service.window(current_app.config))
            if result is not None:
                flash(undo_message(result), "success")
        return redirect(get_redirect_target() or self.get_url(".index_view"))

    @action("export", "Exporter (CSV)")
    def action_export(self, ids):
        if all_matching():
            # The list's own criteria rather than `id IN (...)`: the rows then come straight off the
            # (last_name, first_name, id) index, in order, without sorting the whole table first.
            criteria = self.list_criteria(request.args.get("search") or None)
            # Past EXPORT_JOB_THRESHOLD users the export is a background job with a progress page: a
            # million rows would hold this request for minutes.
            if (job_page := export_job_or_none(self.get_count_query().filter(*criteria).scalar())) is not None:
                return job_page
            return self.csv_response(criteria)
        targets = self._action_targets(ids)
        if targets is None:
            return None
        return self.csv_response([User.id.in_(targets)])

    def csv_response(self, criteria) -> Response:
        """The users as CSV, the export job's columns (admin_app.jobs.export), in the list's order."""
        perimeter = current_perimeter()
        statement = (
            self.get_query()
            .filter(*criteria)
            .with_entities(*export.columns(perimeter))
            .order_by(User.last_name, User.first_name, User.id)
            .statement
        )
        return csv_response("utilisateurs.csv", export.HEADER, statement, export.row_values)
