"""The users list's CSV export of every matching user, as a job: a file written chunk by chunk.

The file only grows by whole chunks that the database knows of: each chunk truncates the file to the
length the job row committed (`cursor["bytes"]`), appends its rows, syncs them to disk, then commits the
new length and keyset position with the job's progress. A worker killed between the write and the commit
leaves bytes that the next worker cuts off before writing the same rows again: every row once.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import Session

from admin_app.filters import paris_datetime, yes_no
from models import Job, JobStatus, User, utcnow
from models.queries import UserFilter, name_or_email
from models.rules import csv_safe, format_phone

from ..authority import Perimeter
from ..private_files import create_private_file, private_folder
from ..services.common import Actor, ServiceError

# The users export's columns, the job's and the synchronous one's (views/user_actions.py): the list's, then email
# and phone. `columns` selects them, `row_values` writes one row of them.
HEADER = ["Actif", "Nom", "Prénom", "Fonction", "Gestionnaire", "Établissement principal", "Dernière connexion",
          "Email", "Téléphone"]
NO_LONGER_ADMIN = "Vous n'administrez plus les utilisateurs d'aucun établissement : la tâche a été arrêtée."
PERIMETER_CHANGED = ("Vos établissements ont changé pendant la tâche : elle a été arrêtée, pour que rien ne sorte de "
                 "votre périmètre actuel. Relancez-la.")
FILE_LOST = "Le fichier de l'export en cours a disparu du serveur : relancez l'export."


def parameters(filter_args: Mapping[str, str], search: str | None = None) -> dict:
    """What an export job keeps of the list's URL: its filters, tidied as the list reads them, and its search."""
    return {"filter": UserFilter.from_args(filter_args).as_args(), "search": " ".join((search or "").split())[:200]}


def criteria(job_parameters: Mapping, perimeter: Perimeter) -> list[ColumnElement[bool]]:
    """The users the list shows for these parameters, to this perimeter (the same clauses as the list's)."""
    out = [perimeter.users(), *UserFilter.from_args(job_parameters.get("filter") or {}).clauses(perimeter.grants())]
    if search := job_parameters.get("search"):
        out.append(name_or_email(search))
    return out


def fingerprint_of(perimeter: Perimeter) -> str | list[int]:
    """What decides which rows and columns a job shows or changes, as its cursor records it (JSON): everything, or
    these establishments."""
    return "all" if perimeter.unrestricted else sorted(perimeter.establishment_ids)


def recorded_fingerprint(job: Job) -> str | list[int] | None:
    """The fingerprint a job recorded when it started (under "scope" for jobs recorded before the word changed)."""
    cursor = job.cursor or {}
    return cursor.get("fingerprint", cursor.get("scope"))


def export_dir() -> Path:
    """EXPORT_DIR, created owner-only (the files in it are too: they list people)."""
    return private_folder(Path(current_app.config["EXPORT_DIR"]))


def file_of(job: Job) -> Path | None:
    """The export's file on disk (None before the job created it or after it expired)."""
    return export_dir() / job.result_path if job.result_path else None


_FRENCH_GEOGRAPHIC_OR_MOBILE = re.compile(r"\+33[1-79]\d{8}")


def phone(e164: str | None) -> str:
    """`format_phone`, with French numbers other than 08 done by hand: phonenumbers is most of an export's time
    (docs/measurements.md), and for these prefixes its national format is always "0X XX XX XX XX" (tested)."""
    if e164 and _FRENCH_GEOGRAPHIC_OR_MOBILE.fullmatch(e164):
        return f"0{e164[3]} {e164[4:6]} {e164[6:8]} {e164[8:10]} {e164[10:12]}"
    return format_phone(e164)


def columns(perimeter: Perimeter) -> tuple[ColumnElement[Any], ...]:
    """What the export reads of each user, in HEADER's order (the manager flag and the primary establishment as
    this perimeter sees them)."""
    return (User.active, User.last_name, User.first_name, User.job_title, perimeter.is_manager_column(),
            perimeter.primary_establishment_column(), User.last_login_at, User.email, User.phone)


def row_values(r: Sequence[Any]) -> tuple[Any, ...]:
    """One row of `columns`, as the export writes it (before csv_safe)."""
    return (yes_no(r[0]), r[1], r[2], r[3] or "", yes_no(r[4]), r[5] or "", paris_datetime(r[6]), r[7], phone(r[8]))


def _lines(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    for r in rows:
        writer.writerow([csv_safe(v) for v in row_values(r)])
    return buffer.getvalue().encode("utf-8")


def _write_at(path: Path, offset: int, data: bytes) -> None:
    """Cut the file at `offset` (what the database knows of), append `data`, and sync it before the commit."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.truncate()
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class ExportUsers:
    """The runner's handler for JobKind.EXPORT_USERS."""

    def refusal(self, perimeter: Perimeter) -> str | None:
        return None if perimeter.administers_users else NO_LONGER_ADMIN

    def prepare(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter) -> None:
        job.total = session.scalar(select(func.count()).select_from(User).where(*criteria(job.parameters, perimeter))) or 0
        job.result_path = f"utilisateurs-{job.id}.csv"  # one name per job: a restarted prepare overwrites it
        path = export_dir() / job.result_path
        create_private_file(path)
        header = io.StringIO()
        csv.writer(header, delimiter=";").writerow(HEADER)
        data = ("\ufeff" + header.getvalue()).encode("utf-8")
        _write_at(path, 0, data)
        job.cursor = {"after": None, "bytes": len(data), "fingerprint": fingerprint_of(perimeter)}

    def chunk(self, session: Session, job: Job, actor: Actor, perimeter: Perimeter, size: int) -> bool:
        cursor = dict(job.cursor or {})
        if recorded_fingerprint(job) != fingerprint_of(perimeter):
            raise ServiceError(PERIMETER_CHANGED)
        path = file_of(job)
        if path is None or not path.exists():
            raise ServiceError(FILE_LOST)
        statement = (
            select(*columns(perimeter), User.id)
            .where(*criteria(job.parameters, perimeter))
            .order_by(User.last_name, User.first_name, User.id)  # keyset on the list's index: no OFFSET
            .limit(size)
        )
        if cursor.get("after"):
            statement = statement.where(tuple_(User.last_name, User.first_name, User.id) > tuple_(*cursor["after"]))
        rows = session.execute(statement).all()
        if not rows:
            return False
        data = _lines(rows)
        _write_at(path, cursor["bytes"], data)
        last = rows[-1]
        cursor.update(after=[last.last_name, last.first_name, last.id], bytes=cursor["bytes"] + len(data))
        job.cursor = cursor
        job.done += len(rows)
        return True

    def finish(self, session: Session, job: Job) -> None:
        job.total = job.done  # users added or removed meanwhile: the bar ends at what was written
        job.result_expires_at = utcnow() + current_app.config["EXPORT_RETENTION"]

    def discard(self, session: Session, job: Job) -> None:
        if (path := file_of(job)) is not None:
            path.unlink(missing_ok=True)


def expired_files(session: Session) -> int:
    """Delete the export files past their expiry (their jobs stay, without a download). Returns how many."""
    removed = 0
    for job in session.scalars(select(Job).where(Job.status == JobStatus.DONE.value, Job.result_path.is_not(None),
                                                 Job.result_expires_at < utcnow())):
        if (path := file_of(job)) is not None:
            path.unlink(missing_ok=True)
        job.result_path = None
        removed += 1
    session.commit()
    return removed

