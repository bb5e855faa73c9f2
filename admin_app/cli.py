"""`flask --app admin_app ...` commands: thin wrappers over the services."""

from __future__ import annotations

import threading
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from models import User

from .extensions import db
from .jobs import backends, runner
from .services import SYSTEM_ACTOR, ServiceError, emails, seed, users

seed_cli = AppGroup("seed", help="Load demo or volume data.")


@seed_cli.command("demo")
def seed_demo() -> None:
    """Load the guide's demo cast (idempotent)."""
    added = seed.load_demo(db.session)
    click.echo(f"Données de démonstration : {added} ligne(s) ajoutée(s).")


@seed_cli.command("demo-if-empty")
def seed_demo_if_empty() -> None:
    """Load the demo cast only when the database has no user (used by `make run`)."""
    if db.session.scalar(select(func.count()).select_from(User)):
        click.echo("La base contient déjà des utilisateurs : pas de données de démonstration.")
        return
    added = seed.load_demo(db.session)
    click.echo(f"Données de démonstration : {added} ligne(s) ajoutée(s).")


@seed_cli.command("volume")
@click.option("--users", "user_count", type=click.IntRange(1, 5_000_000), default=100_000, show_default=True)
def seed_volume(user_count: int) -> None:
    """Insert reproducible volume data for the benchmark."""
    started = time.perf_counter()
    counts = seed.generate_volume(db.session, user_count)
    elapsed = time.perf_counter() - started
    click.echo(
        f"{counts['companies']} entreprises, {counts['establishments']} établissements, "
        f"{counts['users']} utilisateurs, {counts['grants']} rattachements, {counts['requests']} demandes, "
        f"{counts['emails']} emails, {counts['audit_events']} entrées d'historique en {elapsed:.1f} s."
    )


@click.command("create-staff")
@with_appcontext
@click.option("--email", prompt="Email")
@click.option("--password", prompt="Mot de passe", hide_input=True, confirmation_prompt="Confirmez le mot de passe")
@click.option("--last-name", prompt="Nom")
@click.option("--first-name", prompt="Prénom")
@click.option("--phone", prompt="Téléphone")
@click.option("--civility", type=click.Choice(["M.", "Mme"]), default="M.", show_default=True)
def create_staff(email: str, password: str, last_name: str, first_name: str, phone: str, civility: str) -> None:
    """Create a back-office (staff) account with a password."""
    data = {"civility": civility, "last_name": last_name, "first_name": first_name, "email": email, "phone": phone}
    try:
        user = users.create_staff(db.session, SYSTEM_ACTOR, data, password)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Compte staff créé : {user.email}")


@click.command("send-mail")
@with_appcontext
@click.option("--loop", is_flag=True, help="Keep delivering until interrupted.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between two passes.")
def send_mail(loop: bool, interval: float) -> None:
    """Deliver the queued emails (retries failures with backoff)."""
    worker = emails.worker_name()  # one name for the process: its claims stay its own across passes
    while True:
        sent, failed = emails.deliver_pending(db.session, worker=worker)
        if sent or failed or not loop:
            click.echo(f"{sent} email(s) envoyé(s), {failed} échec(s).")
        if not loop:
            return
        time.sleep(interval)


jobs_cli = AppGroup("jobs", help="Background jobs (long exports and bulk actions).")


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (tests, one-off runs).")
def jobs_worker(burst: bool) -> None:
    """Run jobs from the RQ queue on REDIS_URL, and resume those a dead worker left."""
    from rq import Queue, SimpleWorker  # the rq extra: only a worker needs it

    app = current_app._get_current_object()
    connection = backends.redis_connection(app)
    stop = threading.Event()
    backends.reap(app, connection)  # first, what was left when every worker was down
    backends.start_reaper(app, stop, connection)
    # SimpleWorker runs each job in this process (no fork): the app, its engine and the reaper stay one process,
    # and killing the worker kills its job, which the next worker resumes after its last committed chunk.
    worker = SimpleWorker([Queue(app.config["JOBS_QUEUE"], connection=connection)], connection=connection)
    click.echo(f"Worker des tâches sur la file « {app.config['JOBS_QUEUE']} ».")
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        stop.set()


@jobs_cli.command("run")
@click.argument("job_id", type=int)
def jobs_run(job_id: int) -> None:
    """Run (or resume) one job here, in the foreground."""
    status = runner.run_job(job_id)
    click.echo(f"Tâche {job_id} : {status or 'tenue par un autre worker'}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(jobs_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(create_staff)
    app.cli.add_command(send_mail)
