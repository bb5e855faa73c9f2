"""Many staff members at once, through HTTP, on PostgreSQL: the database state and the audit trail agree.

SQLite serialises every write, so there is no race to test there: this file runs only with
TEST_DATABASE_URL. Each thread has its own test client (its own cookie, its own app context and
session per request); a barrier releases the requests together; every join has a timeout.
"""

from __future__ import annotations

import random
import re
import threading
from collections import defaultdict

import pytest
from sqlalchemy import event, func, insert, select

from admin_app.extensions import db as app_db
from models import AuditEvent, Establishment, Grant, Operation, OperationItem, User
from models.habilitations import Habilitation

from .databases import ON_POSTGRES
from .demo import STAFF
from .http import csrf_token, login
from .threads import JOIN_TIMEOUT, run_together

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL=postgresql+psycopg://...: "
                       "SQLite serialises every write, there is no concurrency to test"),
]

CONFLICTS = (
    "Quelqu'un d'autre a modifié ces données en même temps que vous",  # services.common.CONFLICT
    "Cet utilisateur a été modifié par quelqu'un d'autre depuis que vous avez ouvert la page",  # update_user
)


def staff_clients(app, count: int):
    """`count` test clients, each logged in as staff with its own session, and each one's CSRF token."""
    clients = []
    for _ in range(count):
        client = app.test_client()
        response = login(client, *STAFF)
        assert response.status_code == 302 and response.location == "/admin/"
        clients.append((client, csrf_token(client, "/admin/users/")))
    return clients


def flashed(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


# --- overlapping bulk activations and deactivations -------------------------------------------------

REQUESTS, EXTRA_USERS, BATCH = 40, 300, 90
# « 12 utilisateurs désactivés, 78 l'étaient déjà. » (« Aucun utilisateur activé, … » when none changed)
DONE = re.compile(r"^(\d+|Aucun) utilisateurs? (activé|désactivé)s?(?:, (\d+) l'étai(?:t|ent) déjà)?\.$")


def seed_users(db, count: int) -> list[int]:
    """Insert `count` client users in one statement, about half of them inactive; return their ids."""
    rng = random.Random(7)
    rows = [{"civility": "M.", "last_name": f"CLONE{n:04d}", "first_name": "Trooper", "email": f"ct-{n:04d}@example.org",
             "phone": "0611223344", "search_text": f"clone{n:04d} trooper", "active": rng.random() < 0.5}
            for n in range(count)]
    ids = list(db.session.scalars(insert(User).returning(User.id), rows))
    db.session.commit()
    return ids


class AnsweredWith500(Exception):
    """Some requests failed with a server error (the other checks passed: the failures changed nothing)."""


def test_overlapping_bulk_activations_record_exactly_the_real_changes(app, demo, db):
    ids = seed_users(db, EXTRA_USERS)
    initial = dict(db.session.execute(select(User.id, User.active).where(User.id.in_(ids))).all())
    clients = staff_clients(app, REQUESTS)
    rng = random.Random(2026)
    plans = [(("activate", "deactivate")[n % 2], rng.sample(ids, BATCH)) for n in range(REQUESTS)]
    barrier = threading.Barrier(REQUESTS, timeout=30)
    outcomes: list[tuple[int, str, list[tuple[str, str]]]] = []

    def bulk(client, token, action, batch):
        def work():
            data = {"csrf_token": token, "action": action, "url": "/admin/users/", "rowid": [str(i) for i in batch]}
            barrier.wait()
            try:
                response = client.post("/admin/users/action/", data=data)
            except Exception as exc:  # TESTING propagates what a server would answer with a 500
                outcomes.append((500, action, [("exception", repr(exc))]))
                return
            outcomes.append((response.status_code, action, flashed(client)))
        return work

    errors = run_together([bulk(c, t, a, b) for (c, t), (a, b) in zip(clients, plans, strict=True)], barrier)
    assert not errors, errors
    assert len(outcomes) == REQUESTS
    server_errors = [messages for status, _, messages in outcomes if status >= 500]

    # What each request said it changed, from its flash message.
    reported = 0
    for status, action, messages in outcomes:
        if status >= 500:
            continue  # rolled back: it changed nothing, and is reported below
        assert status == 302, status
        assert len(messages) == 1 and messages[0][0] == "success", messages
        match = DONE.match(messages[0][1])
        assert match and match.group(2) == {"activate": "activé", "deactivate": "désactivé"}[action], messages
        changed = 0 if match.group(1) == "Aucun" else int(match.group(1))
        assert changed + int(match.group(3) or 0) == BATCH, messages  # both counts: every user of the batch told
        reported += changed

    db.session.expire_all()
    # The per-user trail is the operations' items, in commit order (operation ids follow it: each
    # operation is inserted after its UPDATE took the row locks, and before its commit released them).
    items = db.session.execute(
        select(OperationItem.user_id, OperationItem.active_before, OperationItem.active_after, OperationItem.version_after,
               Operation.kind)
        .join(Operation, Operation.id == OperationItem.operation_id).order_by(Operation.id)
    ).all()
    by_user = defaultdict(list)
    for user_id, before, after, version, kind in items:
        assert user_id in initial, f"operation item for a user outside the batches: {user_id}"
        assert after == (kind == "activate") and before == (not after), (kind, before, after)
        by_user[user_id].append(after)
        # The version each item kept is the one its change made: the n-th change of a user leaves version n + 1.
        assert version == 1 + len(by_user[user_id]), (user_id, version, by_user[user_id])
    operations = db.session.execute(select(Operation.changed, func.count(OperationItem.user_id)).join(OperationItem)
                                    .group_by(Operation.id)).all()
    assert all(changed == rows for changed, rows in operations)  # each operation's count is its items
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["user.activate", "user.deactivate"]), AuditEvent.target_type == "user")) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["user.activate", "user.deactivate"]), AuditEvent.target_type == "operation")) == len(operations)
    current = dict(db.session.execute(select(User.id, User.active).where(User.id.in_(ids))).all())
    versions = dict(db.session.execute(select(User.id, User.version).where(User.id.in_(ids))).all())
    for user_id in ids:
        states = [initial[user_id], *by_user[user_id]]
        # Each recorded change is a real one: it flips the state the previous one (or the seed) left.
        assert all(a != b for a, b in zip(states, states[1:], strict=False)), (user_id, states)
        assert states[-1] == current[user_id], (user_id, states, current[user_id])
        assert versions[user_id] == 1 + len(by_user[user_id]), (user_id, versions[user_id], states)
    assert len(items) == reported
    assert len(items) > REQUESTS, "the batches should have changed many users"  # the race was real work
    if server_errors:
        raise AnsweredWith500(f"{len(server_errors)} of {REQUESTS} requests failed with a 500: {server_errors[0]}")


# --- simultaneous edits adding the same establishment to one user -----------------------------------

EDITORS = 10


def adding_one_establishment(db, email: str):
    """The user's id, an establishment they lack, and the edit form adding it (their other grants kept)."""
    user = db.session.scalar(select(User).where(User.email == email))
    held = {g.establishment_id: g for g in user.grants}
    primary = next(g.establishment_id for g in user.grants if g.is_primary)
    new = db.session.scalar(select(Establishment.id).where(Establishment.id.not_in(list(held))).order_by(Establishment.id).limit(1))
    assert new is not None
    form = {"civility": user.civility, "last_name": user.last_name, "first_name": user.first_name, "email": user.email,
            "phone": user.phone, "job_title": user.job_title or "", "version": str(user.version), "grants-present": "1",
            "grants-establishment": [*(str(e) for e in held), str(new)], "grants-primary": str(primary),
            f"grants-{new}-funding": "1"}
    for establishment_id, grant in held.items():
        form.update({f"grants-{establishment_id}-{h.value}": "1" for h in Habilitation if getattr(grant, h.value)})
    user_id, grants = user.id, len(held)
    db.session.rollback()
    return user_id, new, grants, form


def saved_once(db, user_id: int, establishment_id: int, grants_before: int) -> None:
    count = select(func.count()).select_from(Grant).where(Grant.user_id == user_id)
    assert db.session.scalar(count.where(Grant.establishment_id == establishment_id)) == 1
    assert db.session.scalar(count) == grants_before + 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user.grants", AuditEvent.target_type == "user", AuditEvent.target_id == user_id)) == 1


def test_simultaneous_edits_adding_one_establishment_save_it_once(app, demo, db):
    user_id, new, grants, form = adding_one_establishment(db, "han.solo@example.org")
    url = f"/admin/users/edit/?id={user_id}"
    clients = staff_clients(app, EDITORS)
    barrier = threading.Barrier(EDITORS, timeout=30)
    outcomes: list[tuple[int, str]] = []

    def edit(client):
        def work():
            data = {**form, "csrf_token": csrf_token(client, url)}
            barrier.wait()
            response = client.post(url, data=data)
            outcomes.append((response.status_code, response.get_data(as_text=True).replace("&#39;", "'")))
        return work

    errors = run_together([edit(client) for client, _ in clients], barrier)
    assert not errors, errors
    assert len(outcomes) == EDITORS
    # Exactly one saved (redirect to the list), the others shown the form again with the conflict message;
    # never a 500, and never a stale form answered "saved" (the next test pins that case down).
    assert sorted(status for status, _ in outcomes) == [200] * (EDITORS - 1) + [302], [s for s, _ in outcomes]
    for status, html in outcomes:
        if status == 200:
            assert any(message in html for message in CONFLICTS), html[:2000]
    saved_once(db, user_id, new, grants)


class StaleFormSaved(Exception):
    """A form opened at an older version was answered "saved"."""


def test_a_stale_edit_is_refused_even_when_it_would_change_nothing(app, demo, db):
    """One editor reads the user, then the other editor's identical save commits, then the first
    reads the user's grants: the first form was opened at an older version, and must be refused."""
    user_id, new, grants, form = adding_one_establishment(db, "han.solo@example.org")
    url = f"/admin/users/edit/?id={user_id}"
    (first, first_token), (second, second_token) = staff_clients(app, 2)
    first_token, second_token = csrf_token(first, url), csrf_token(second, url)
    with app.app_context():
        engine = app_db.engine
    paused, resume, outcome = threading.Event(), threading.Event(), {}
    first_thread: list[threading.Thread] = []

    def hold_grants_read(conn, cursor, statement, parameters, context, executemany):
        if (first_thread and threading.current_thread() is first_thread[0] and not paused.is_set()
                and "grants" in statement and ("grants.user_id IN" in statement or "JOIN grants" in statement)):
            # The edit page reads the user's grants, with the user (one joined statement) or after it.
            paused.set()
            resume.wait(timeout=30)

    def work():
        response = first.post(url, data={**form, "csrf_token": first_token})
        outcome["status"], outcome["html"] = response.status_code, response.get_data(as_text=True).replace("&#39;", "'")

    thread = threading.Thread(target=work, daemon=True)
    first_thread.append(thread)
    event.listen(engine, "before_cursor_execute", hold_grants_read)
    try:
        thread.start()
        assert paused.wait(timeout=30), "the first request never read the user's grants"
        assert second.post(url, data={**form, "csrf_token": second_token}).status_code == 302
    finally:
        resume.set()
        thread.join(timeout=JOIN_TIMEOUT)
        event.remove(engine, "before_cursor_execute", hold_grants_read)
    assert not thread.is_alive()
    saved_once(db, user_id, new, grants)
    if outcome["status"] == 302:
        raise StaleFormSaved("the form opened before the other save was answered 'saved'")
    assert outcome["status"] == 200 and any(message in outcome["html"] for message in CONFLICTS), outcome["html"][:2000]


# --- the same operation undone by several staff members at once ----------------------------------------

UNDOERS = 8


def test_simultaneous_undos_of_one_operation_restore_it_once(app, demo, db):
    from admin_app.services import Actor
    from admin_app.services.bulk import set_active

    ids = seed_users(db, 60)
    staff = db.session.scalar(select(User).where(User.email == STAFF[0]))
    done = set_active(db.session, Actor(staff), ids, False)
    assert done.changed > 0
    clients = staff_clients(app, UNDOERS)
    barrier = threading.Barrier(UNDOERS, timeout=30)
    outcomes: list[tuple[int, list[tuple[str, str]]]] = []

    def undo(client, token):
        def work():
            barrier.wait()
            response = client.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(done.operation_id),
                                                                          "url": "/admin/users/"})
            outcomes.append((response.status_code, flashed(client)))
        return work

    errors = run_together([undo(c, t) for c, t in clients], barrier)
    assert not errors, errors
    assert all(status == 302 for status, _ in outcomes), outcomes
    said = [messages[0] for _, messages in outcomes]
    restored = f"Opération annulée : {done.changed} utilisateurs rétablis."
    assert sorted(said) == sorted([("success", restored)] + [("error", "Cette opération a déjà été annulée. Aucun utilisateur "
                                                                       "n'a été modifié.")] * (UNDOERS - 1)), said
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Operation).where(Operation.kind == "undo")) == 1
    assert db.session.scalar(select(func.count()).select_from(User).where(User.id.in_(ids), User.active.is_(True))) == done.changed
