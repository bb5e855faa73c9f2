"""Tâches: a long action's progress page (bar, rate, time left), its cancel button and its result.

A job is shown to whoever started it, and to staff; to anyone else it does not exist (404, as an
out-of-scope record). The page polls `progress` every second (static/jobs.js: the CSP allows no inline
script); without JavaScript it still shows where the job stood when loaded, and a link to reload.
"""

from __future__ import annotations

from datetime import datetime

from flask import Response, abort, current_app, flash, redirect, request, send_file, url_for
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from sqlalchemy import Select, select

from admin_app.current import current_actor, current_perimeter
from admin_app.extensions import db
from admin_app.filters import paris_datetime
from admin_app.inputs import parse_db_id, refuse
from admin_app.jobs import bulk, export
from admin_app.jobs import undo as undo_job
from admin_app.services import ServiceError, operations
from admin_app.services import undo as undo_service
from admin_app.services.bulk import scope_of_filter
from admin_app.services.jobs import UndoUnderWay, cancel, start_bulk_job, start_export_job, start_undo_job
from models import Job, JobKind, JobStatus, Operation, utcnow
from models.wording import thousands

from .access import SecureBaseView, SecureForm
from .outcomes import result_message, undo_message

FILE_GONE = "Le fichier de cet export n'est plus disponible (il est conservé 24 heures) : relancez l'export."
NOT_READY = "L'export n'est pas encore terminé : le fichier sera téléchargeable à la fin."
ALREADY_OVER = "Cette tâche est déjà terminée : il n'y a plus rien à annuler."
PERIMETER_GONE = ("Ce fichier a été fait pour un périmètre que vous n'avez plus (vos établissements ont changé depuis "
              "l'export) : il ne peut plus être téléchargé. Relancez l'export.")
CANCEL_ASKED = "Annulation demandée : la tâche s'arrête à la fin du paquet en cours."
# The users screen's words for its bulk actions (its buttons, and a bulk job's page), by registered action name.
BULK_ACTIONS = {"activate": "Activer", "deactivate": "Désactiver",
                "activate_links": "Activer et envoyer un lien de mot de passe"}
BULK_STARTED = ("L'action porte sur {count} utilisateurs : elle se poursuit en tâche de fond, paquet par paquet. "
                "Suivez sa progression ci-dessous ; le résultat s'affichera à la fin, avec la possibilité d'annuler "
                "l'opération.")
UNDO_STARTED = ("L'opération porte sur {count} utilisateurs : son annulation se poursuit en tâche de fond, paquet par "
                "paquet. Suivez sa progression ci-dessous ; le résultat s'affichera à la fin.")


def may_see(job: Job) -> bool:
    """The job's author, and staff (the back office sees every job); nobody else."""
    return current_perimeter().may_follow(job.actor_id)


def file_matches_perimeter(job: Job) -> bool:
    """Whether an export's file shows no more than the viewer may see now: the perimeter it was written for (its
    fingerprint, recorded by the job, checked at every chunk) must equal the viewer's current one. Staff see everything, so a staff member
    may download any export, theirs or another person's; a former staff member demoted since may not download the
    whole-database file they made, nor a manager whose establishments changed the file made for the old ones."""
    return export.recorded_fingerprint(job) == export.fingerprint_of(current_perimeter()) or current_perimeter().unrestricted


def progress_of(job: Job, now: datetime | None = None) -> dict:
    """Where a job stands, for the page and its JSON: counts, rate, time left, outcome (French texts)."""
    now = now or utcnow()
    downloadable = job.status == JobStatus.DONE.value and bool(job.result_path)
    stale = downloadable and job.kind == JobKind.EXPORT_USERS.value and not file_matches_perimeter(job)
    end = job.finished_at or now
    elapsed = (end - job.started_at).total_seconds() if job.started_at else 0.0
    rate = job.done / elapsed if elapsed > 0 and job.done else 0.0
    left = max(job.total - job.done, 0)
    eta = left / rate if rate and not job.is_finished else None
    percent = min(100, int(job.done * 100 / job.total)) if job.total else (100 if job.status == JobStatus.DONE.value else 0)
    return {
        "id": job.id,
        "status": job.status,
        "status_label": job.status_label,
        "finished": job.is_finished,
        "done": job.done,
        "total": job.total,
        "percent": percent,
        "rate": round(rate, 1),
        "eta_seconds": None if eta is None else round(eta),
        "text": f"{thousands(job.done)} / {thousands(job.total)} utilisateurs ({percent} %)",
        "rate_text": f"{thousands(round(rate))} utilisateurs par seconde" if rate else "",
        "eta_text": _duration(eta) if eta is not None else "",
        "error": job.error or "",
        "cancel_requested": job.cancel_requested and not job.is_finished,
        "download_url": url_for("jobs.download_view", job_id=job.id) if downloadable and not stale else None,
        "outcome": f"Terminé : {thousands(job.done)} utilisateurs exportés. {PERIMETER_GONE}" if stale else _outcome(job),
        **_operation_of(job),
    }


def _operation_of(job: Job) -> dict:
    """A bulk job's operation: its page, and whether the viewer may take it back now (same rules as the list's
    « Annuler cette opération »: its author or staff, within the window, once the job is over). An undo job's:
    its undo operation's page (an undo is not undone)."""
    if job.kind == JobKind.UNDO_OPERATION.value:
        undone = undo_job.result_of(job, db.session)
        return {"operation_id": undone.operation_id if undone else None, "may_undo": False,
                "operation_url": url_for("operations.details_view", id=undone.operation_id) if undone else None}
    result = bulk.result_of(job) if job.kind == JobKind.BULK_USERS.value else None
    operation = db.session.get(Operation, result.operation_id) if result is not None and result.operation_id else None
    if operation is None:
        return {"operation_id": None, "operation_url": None, "may_undo": False}
    may_undo = job.is_finished and undo_service.undo_problem(db.session, current_actor(), operation,
                                                                  undo_service.window(current_app.config)) is None
    return {"operation_id": operation.id, "operation_url": url_for("operations.details_view", id=operation.id),
            "may_undo": may_undo}


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"environ {max(seconds, 1)} s restantes"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"environ {minutes} min {seconds:02d} s restantes"
    hours, minutes = divmod(minutes, 60)
    return f"environ {hours} h {minutes:02d} min restantes"


def _outcome(job: Job) -> str:
    """What the live region says once the job is over."""
    if job.kind == JobKind.UNDO_OPERATION.value:
        return _undo_outcome(job)
    if job.kind == JobKind.BULK_USERS.value and (result := bulk.result_of(job)) is not None:
        said = result_message(result)  # the very words of the same action done at once
        if job.status == JobStatus.DONE.value:
            return said
        if job.status == JobStatus.FAILED.value:
            return f"Échec : {job.error or ''} Avant l'arrêt : {said}"
        if job.status == JobStatus.CANCELLED.value:
            return f"Annulé après {thousands(job.done)} utilisateurs : {said}"
        return ""
    if job.status == JobStatus.DONE.value and job.kind == JobKind.BULK_USERS.value:
        return f"Terminé : {thousands(job.done)} utilisateurs traités."
    if job.status == JobStatus.DONE.value:
        return f"Terminé : {thousands(job.done)} utilisateurs exportés." + (" Le fichier est prêt." if job.result_path else "")
    if job.status == JobStatus.FAILED.value:
        return f"Échec : {job.error or ''}"
    if job.status == JobStatus.CANCELLED.value:
        return f"Annulé après {thousands(job.done)} utilisateurs."
    return ""


def _undo_outcome(job: Job) -> str:
    """An undo job's end, in the synchronous undo's words (what was restored, what was left alone and why)."""
    result = undo_job.result_of(job, db.session)
    if job.status == JobStatus.DONE.value and result is not None:
        return undo_message(result)
    if result is None:  # stopped before its first chunk: the operation is as it was
        nothing = "Aucun utilisateur n'a été modifié."
        if job.status == JobStatus.FAILED.value:
            error = job.error or ""
            return f"Échec : {error}" + ("" if nothing in error else f" {nothing}")
        return f"Annulé avant le premier paquet. {nothing}" if job.status == JobStatus.CANCELLED.value else ""
    if job.status == JobStatus.FAILED.value:
        return f"Échec : {job.error or ''} Avant l'arrêt : {undo_message(result)}"
    if job.status == JobStatus.CANCELLED.value:
        return f"Annulé après {thousands(job.done)} utilisateurs : {undo_message(result)}"
    return ""


def undo_job_or_none(operation_id: int, window) -> Response | None:
    """The undo's hand-off: an operation that changed more than BULK_JOB_THRESHOLD users is taken back by a job
    (a web request would run past the server's timeout), and the browser goes to its progress page. What the undo
    refuses whole is refused at once, in French, nothing started; an undo of it already under way is shown."""
    operation = db.session.get(Operation, operation_id)
    if operation is None or operation.changed <= current_app.config["BULK_JOB_THRESHOLD"]:
        return None
    back = get_redirect_target() or url_for("users.index_view")
    try:
        job = start_undo_job(db.session, current_actor(), operation_id, window)
    except UndoUnderWay as exc:
        db.session.rollback()
        flash(exc.message, "info")
        twin = db.session.get(Job, exc.job_id)
        return redirect(url_for("jobs.job_view", job_id=twin.id) if twin is not None and may_see(twin) else back)
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    flash(UNDO_STARTED.format(count=thousands(operation.changed)), "info")
    return redirect(url_for("jobs.job_view", job_id=job.id))


def export_job_or_none(count: int) -> Response | None:
    """The users screen's hand-off: above EXPORT_JOB_THRESHOLD matching users, start the export as a job
    (the list's filters are this request's arguments) and send the browser to its progress page."""
    if count <= current_app.config["EXPORT_JOB_THRESHOLD"]:
        return None
    return _start_export()


def bulk_job_page(action: str, count: int, matching: Select) -> Response:
    """The users screen's hand-off for an action on every matching user past BULK_JOB_THRESHOLD: start the job
    (the list's filters are this request's arguments) and send the browser to its progress page. What the job
    would refuse whole before its first chunk (`matching`: the list's ids) is refused here already, in French,
    and the list shows again: nothing started, nothing changed."""
    actor = current_actor()
    try:
        recorded = bulk.ACTIONS.get(action)
        if isinstance(recorded, bulk.RecordedAction) and recorded.check is not None:
            recorded.check(db.session, actor, matching)
        job = start_bulk_job(db.session, actor, action, request.args, request.args.get("search"))
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(get_redirect_target() or url_for("users.index_view"))
    flash(BULK_STARTED.format(count=thousands(count)), "info")
    return redirect(url_for("jobs.job_view", job_id=job.id))


def _start_export() -> Response:
    try:
        job = start_export_job(db.session, current_actor(), request.args, request.args.get("search"))
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("users.index_view"))
    flash("L'export a démarré : suivez sa progression ci-dessous, le fichier sera téléchargeable à la fin.", "info")
    return redirect(url_for("jobs.job_view", job_id=job.id))


class JobView(SecureBaseView):
    """Tâches: not in the menu; reached from the action that started the job, and from /admin/jobs/."""

    open_to_managers = True

    def is_visible(self) -> bool:
        return False

    def _job(self, raw: str) -> Job:
        job_id = parse_db_id(raw)
        job = db.session.get(Job, job_id) if job_id is not None else None
        if job is None or not may_see(job):
            abort(404)  # someone else's job is as unknown as a missing one
        return job

    @expose("/")
    def index_view(self):
        statement = (select(Job).where(current_perimeter().followed(Job.actor_id))
                     .order_by(Job.created_at.desc(), Job.id.desc()).limit(50))
        jobs = list(db.session.scalars(statement))
        return self.render("admin/jobs/list.html", jobs=jobs, progress=[progress_of(j) for j in jobs],
                           paris_datetime=paris_datetime)

    @expose("/<job_id>/")
    def job_view(self, job_id: str):
        job = self._job(job_id)
        about = None
        parameters = job.parameters or {}
        if job.kind == JobKind.BULK_USERS.value:
            about = {"action": BULK_ACTIONS.get(parameters.get("action", ""), parameters.get("action", "")),
                     "scope": scope_of_filter(parameters.get("filter") or {}, parameters.get("search") or ""),
                     "undoable": True}
        elif job.kind == JobKind.UNDO_OPERATION.value:
            undone = db.session.get(Operation, parameters.get("operation") or 0)
            about = {"action": f"Annuler l'opération n° {parameters.get('operation')}",
                     "scope": operations.summary(undone) if undone is not None else "",
                     "undone_url": url_for("operations.details_view", id=undone.id) if undone is not None else None}
        return self.render("admin/jobs/job.html", job=job, progress=progress_of(job), form=SecureForm(),
                           paris_datetime=paris_datetime, about=about)

    @expose("/<job_id>/progress")
    def progress_view(self, job_id: str):
        return progress_of(self._job(job_id))

    @expose("/<job_id>/cancel", methods=("POST",))
    def cancel_view(self, job_id: str):
        job = self._job(job_id)
        if not SecureForm().validate_on_submit():
            refuse()
        try:
            cancelled = cancel(db.session, current_actor(), job)
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for(".job_view", job_id=job.id))
        flash(CANCEL_ASKED if cancelled else ALREADY_OVER, "info" if cancelled else "error")
        return redirect(url_for(".job_view", job_id=job.id))

    @expose("/<job_id>/download")
    def download_view(self, job_id: str):
        job = self._job(job_id)
        if job.status != JobStatus.DONE.value:
            flash(NOT_READY if not job.is_finished else FILE_GONE, "error")
            return redirect(url_for(".job_view", job_id=job.id))
        path = export.file_of(job)
        expired = job.result_expires_at is not None and job.result_expires_at < utcnow()
        if path is None or expired or not path.is_file():
            flash(FILE_GONE, "error")
            return redirect(url_for(".job_view", job_id=job.id))
        if not file_matches_perimeter(job):
            flash(PERIMETER_GONE, "error")
            return redirect(url_for(".job_view", job_id=job.id))
        # Streamed from the disk by the server (constant memory); the name says when it was made.
        name = f"utilisateurs-{paris_datetime(job.finished_at, '%Y%m%d-%H%M')}.csv"
        return send_file(path, mimetype="text/csv; charset=utf-8", as_attachment=True, download_name=name, max_age=0)

    @expose("/export-users", methods=("POST",))
    def export_users_view(self):
        """Start the export of every user the list shows for its filters (the URL's arguments), as a job."""
        if not SecureForm().validate_on_submit():
            refuse()
        return _start_export()
