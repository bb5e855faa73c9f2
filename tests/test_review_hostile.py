"""Hostile review of the last features (operations and undo, background jobs, pickers, the list's statement cache),
attacked as a client manager. Failing tests are findings; passing ones are probes that held (kept as regressions)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, select, update

from admin_app.extensions import db as _db
from admin_app.jobs import runner
from admin_app.services import ServiceError
from admin_app.services import bulk as bulk_service
from admin_app.services import undo as undo_service
from admin_app.services.jobs import MAX_OPEN_JOBS, start_export_job
from models import Company, Establishment, Grant, Job, JobStatus, Operation, User

from .databases import ON_POSTGRES
from .demo import ANNEXE, CANTINA, CHEWIE, LUKE, OBIWAN, STAFF, TEMPLE, eid, uid
from .http import csrf_token, text
from .jobs_helpers import csv_rows, run_job, start_export
from .services import factories as f
from .services.factories import MANAGER, NONE
from .threads import run_together


def establishment(db, siret: str) -> Establishment:
    return db.session.get(Establishment, eid(db, siret))


def only_on(db, place: int) -> list[str]:
    """The emails of the users granted on that establishment (its id) and on no other."""
    return db.session.scalars(
        select(User.email).where(User.id.in_(select(Grant.user_id).where(Grant.establishment_id == place)),
                                 User.id.not_in(select(Grant.user_id).where(Grant.establishment_id != place)))
    ).all()


def on_temple_and_cantina(db, on_the_cantina, name: str) -> str:
    """A new user on Temple JEDI (no habilitation) and on the Cantina (`on_the_cantina`): their email."""
    shared = f.user(db.session, [(establishment(db, TEMPLE), NONE), (establishment(db, CANTINA), on_the_cantina)], name=name)
    db.session.commit()
    return shared.email


# --- FINDING: the grant editor's refused post shows any establishment, by id ------------------------------------

def test_a_refused_grant_post_does_not_reveal_an_establishment_outside_the_perimeter(as_user, db):
    """Luke posts the creation form with an establishment id of another company (ids are sequential): the service
    refuses it, but the page drawn again must not name that establishment (name, SIRET) nor its company id."""
    cantina = establishment(db, CANTINA)
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/new/")
    before = db.session.scalar(select(User.id).order_by(User.id.desc()))
    response = luke.post("/admin/users/new/", data={
        "csrf_token": token, "civility": "M.", "last_name": "Espion", "first_name": "Jean",
        "email": "espion@example.org", "phone": "0612345678", "job_title": "",
        "grants-present": "1", "grants-establishment": str(cantina.id), "grants-primary": str(cantina.id),
        f"grants-{cantina.id}-funding": "1",
    })
    page = text(response)
    db.session.expire_all()
    assert db.session.scalar(select(User.id).where(User.email == "espion@example.org")) is None
    assert db.session.scalar(select(User.id).order_by(User.id.desc())) == before
    assert "Cantina" not in page and CANTINA not in page
    assert f'name="grants-{cantina.id}-company" value="{cantina.company_id}"' not in page


def test_a_refused_grant_post_on_the_edit_page_does_not_reveal_an_establishment_either(as_user, db):
    cantina = establishment(db, CANTINA)
    target = db.session.get(User, uid(db, "obi-wan.kenobi@example.org"))
    luke = as_user(LUKE)
    url = f"/admin/users/edit/?id={target.id}"
    token = csrf_token(luke, url)
    response = luke.post(url, data={
        "csrf_token": token, "version": str(target.version), "civility": target.civility,
        "last_name": target.last_name, "first_name": target.first_name, "email": target.email,
        "phone": "0623456789", "job_title": target.job_title or "",
        "grants-present": "1", "grants-establishment": str(cantina.id), "grants-primary": str(cantina.id),
    })
    page = text(response)
    db.session.expire_all()
    assert db.session.scalar(select(Grant.id).where(Grant.user_id == target.id, Grant.establishment_id == cantina.id)) is None
    assert "Cantina" not in page and CANTINA not in page


# --- FINDING: an export's file stays downloadable after the author's perimeter shrank ---------------------------

def test_an_export_file_is_not_served_beyond_the_authors_current_perimeter(app, as_user, db, jobs_run_by_the_test):
    """Luke exports while Gestionnaire on both Temple establishments; he then loses the Annexe. The file, kept 24 h,
    must not hand him the Annexe's users any more (runner and jobs check the scope at every chunk; the download
    does not)."""
    luke = as_user(LUKE)
    job_id = start_export(luke)
    assert run_job(app, job_id) == JobStatus.DONE.value
    annexe = eid(db, ANNEXE)
    annexe_only = only_on(db, annexe)
    assert annexe_only, "the demo has users of the Annexe only"
    first = luke.get(f"/admin/jobs/{job_id}/download")
    assert first.status_code == 200 and set(annexe_only) <= {r[7] for r in csv_rows(first.get_data())[1:]}

    luke_id = uid(db, LUKE[0])
    db.session.execute(delete(Grant).where(Grant.user_id == luke_id, Grant.establishment_id == annexe))
    db.session.commit()
    assert luke.get("/admin/users/").status_code == 200  # still a manager (Temple JEDI 00015)

    again = luke.get(f"/admin/jobs/{job_id}/download")
    served = {r[7] for r in csv_rows(again.get_data())[1:]} if again.status_code == 200 and again.mimetype == "text/csv" else set()
    assert not set(annexe_only) & served


# --- FINDING: a user's history tells another perimeter's operation (its filter, its counts) ---------------------

def test_a_users_history_does_not_tell_a_manager_another_perimeters_operation(as_user, db, app):
    """Staff deactivate « filtre : Entreprise « Cantina de Mos Eisley » » a user who is also on Temple JEDI. Luke
    opens that user: the grants on the Cantina are hidden from him (redacted in the audit, « autres rattachements »),
    yet the operation's line names the company and says how many users it deactivated there."""
    temple, cantina = establishment(db, TEMPLE), establishment(db, CANTINA)
    shared = f.user(db.session, [(temple, NONE), (cantina, NONE)], name="Partage")
    others = [f.user(db.session, [(cantina, NONE)], name=f"Cantina {f._letters(i)}") for i in range(6)]
    db.session.commit()
    shared_email = shared.email
    staff_user = db.session.scalar(select(User).where(User.email == STAFF[0]))
    with app.app_context():
        result = bulk_service.set_active(_db.session, f.actor(_db.session.get(User, staff_user.id)),
                                         [shared.id, *(o.id for o in others)], False,
                                         scope="filtre : Entreprise « Cantina de Mos Eisley »")
        _db.session.remove()
    assert result.changed == 7
    response = as_user(LUKE).get(f"/admin/users/details/?id={shared.id}")
    page = text(response)
    assert response.status_code == 200 and shared_email in page  # Luke sees the user (Temple JEDI)
    assert "Opération n° " in page  # the operation's line is there, as it should be, but says no more than Luke may see
    assert "Cantina" not in page
    assert "7 utilisateurs" not in page


def test_a_former_staff_member_gets_no_whole_database_export_once_demoted(app, as_user, db, jobs_run_by_the_test):
    """The worse variant: staff export everyone, then are demoted to Gestionnaire of Temple JEDI. The job is theirs
    (actor_id), so its page and download stay open to them: the Cantina's users must not be served."""
    staff = as_user(STAFF)
    job_id = start_export(staff)
    assert run_job(app, job_id) == JobStatus.DONE.value
    staff_id = uid(db, STAFF[0])
    db.session.execute(update(User).where(User.id == staff_id).values(is_staff=False))
    db.session.add(Grant(user_id=staff_id, establishment_id=eid(db, TEMPLE), is_primary=True, manager=True))
    db.session.commit()
    chewie_email = CHEWIE[0]
    response = staff.get(f"/admin/jobs/{job_id}/download")
    served = {r[7] for r in csv_rows(response.get_data())[1:]} if response.status_code == 200 and response.mimetype == "text/csv" else set()
    assert chewie_email not in served


# --- FINDING: the list's company / establishment filters test grants the manager may not see -------------------

@pytest.mark.parametrize("query", ["?entreprise=Cantina", f"?etablissement={CANTINA}", "?entreprise=552203358"])
def test_the_list_filters_do_not_reveal_a_users_grants_outside_the_perimeter(as_user, db, query):
    """A Temple JEDI user also on the Cantina: Luke sees the user, the details page says only « aussi rattaché(e) à
    d'autres établissements hors de votre périmètre ». Filtering the list on a company or establishment he does not
    administer must not single that user out (by substring, « entreprise=a », « entreprise=ab »… spell the name)."""
    email = on_temple_and_cantina(db, NONE, "Partage")
    luke = as_user(LUKE)
    assert email in text(luke.get("/admin/users/?page_size=100"))
    assert email not in text(luke.get(f"/admin/users/{query}&page_size=100"))


@pytest.mark.parametrize("habilitation", ["manager", "funding"])
def test_the_habilitation_filter_does_not_reveal_what_a_user_holds_outside_the_perimeter(as_user, db, habilitation):
    """The same user is Gestionnaire of the Cantina and holds nothing on Temple JEDI: Luke's list shows
    « Gestionnaire : Non » for them (the column is cut to his perimeter), but « Habilitation : Gestionnaire » (or any
    habilitation) must not list them either."""
    email = on_temple_and_cantina(db, MANAGER, "Double")
    luke = as_user(LUKE)
    assert email in text(luke.get("/admin/users/?page_size=100"))
    assert email not in text(luke.get(f"/admin/users/?habilitation={habilitation}&page_size=100"))


def test_a_search_in_an_operations_scope_is_text_everywhere(as_user, db, app):
    """A hostile search typed before « tous les utilisateurs correspondants » lands in the operation's scope: shown
    as text on the operation page, in the user's history, and in Historique."""
    payload = '<img src=x onerror=alert(1)>'
    temple = establishment(db, TEMPLE)
    target = f.user(db.session, [(temple, NONE)], name="Cible")
    db.session.commit()
    hans = target.id
    luke_id = uid(db, LUKE[0])
    with app.app_context():
        done = bulk_service.set_active(_db.session, f.actor(_db.session.get(User, luke_id)), [hans], False,
                                       scope=f"filtre : Recherche : « {payload} »")
        _db.session.remove()
    operation = db.session.get(Operation, done.operation_id)
    assert operation is not None and payload in operation.scope
    luke = as_user(LUKE)
    for client, url in ((luke, f"/admin/operations/details/?id={operation.id}"), (luke, f"/admin/users/details/?id={hans}"),
                        (as_user(STAFF), "/admin/audit/"), (luke, "/admin/operations/")):
        body = client.get(url).get_data(as_text=True)
        assert "<img src=x" not in body, url
        assert "&lt;img src=x" in body, url  # the scope is on the page, as text


# --- probes that held -----------------------------------------------------------------------------------------

@pytest.fixture
def cast(session):
    a, b = f.establishment(session), f.establishment(session)
    staff = f.user(session, staff=True, name="Staff")
    manager = f.user(session, [(a, MANAGER)], name="Gestionnaire")
    other = f.user(session, [(b, MANAGER)], name="Autre")
    mine = [f.user(session, [(a, NONE)], name=f"Dupont {f._letters(i)}") for i in range(3)]
    session.commit()
    return type("Cast", (), dict(a=a, b=b, staff=staff, manager=manager, other=other, mine=mine))


def actives(session, users) -> dict[int, bool]:
    session.expire_all()
    return dict(session.execute(select(User.id, User.active).where(User.id.in_([u.id for u in users]))).all())


def test_undo_does_not_reactivate_a_user_who_became_staff_meanwhile(session, cast):
    """The manager deactivated three users; one of them is made staff (the version left as the operation left it):
    undoing must not reactivate a staff account on a client manager's say."""
    done = bulk_service.set_active(session, f.actor(cast.manager), [u.id for u in cast.mine], False)
    promoted = cast.mine[0]
    session.execute(update(User).where(User.id == promoted.id).values(is_staff=True))
    session.commit()
    undone = undo_service.undo(session, f.actor(cast.manager), done.operation_id)
    assert (undone.restored, undone.out_of_scope) == (2, 1)
    assert actives(session, cast.mine) == {promoted.id: False, cast.mine[1].id: True, cast.mine[2].id: True}


def test_another_manager_can_neither_undo_nor_burn_an_operation(session, cast):
    done = bulk_service.set_active(session, f.actor(cast.manager), [u.id for u in cast.mine], False)
    with pytest.raises(ServiceError, match="Seul son auteur"):
        undo_service.undo(session, f.actor(cast.other), done.operation_id)
    operation = session.get(Operation, done.operation_id)
    session.refresh(operation)
    assert operation.undone_at is None  # still the author's to undo
    assert set(actives(session, cast.mine).values()) == {False}


def test_an_undo_after_a_newer_change_leaves_that_user_alone(session, cast):
    """Undo racing a change, sequentially: the user changed since (its version moved) keeps the newer state."""
    done = bulk_service.set_active(session, f.actor(cast.manager), [u.id for u in cast.mine], False)
    bulk_service.set_active(session, f.actor(cast.staff), [cast.mine[0].id], True)
    bulk_service.set_active(session, f.actor(cast.staff), [cast.mine[0].id], False)  # back to inactive, newer version
    undone = undo_service.undo(session, f.actor(cast.manager), done.operation_id)
    assert (undone.restored, undone.changed_since) == (2, 1)
    assert actives(session, cast.mine)[cast.mine[0].id] is False


def test_a_managers_job_touching_a_staff_account_is_refused_whole(session, cast, jobs_run_by_the_test):
    from admin_app.services.jobs import start_bulk_job

    staff_on_a = f.user(session, [(cast.a, NONE)], staff=True, name="Dupont staff")
    session.commit()
    job = start_bulk_job(session, f.actor(cast.manager), "deactivate", {"nom": "dupont"})
    assert runner.run_job(job.id) == JobStatus.FAILED.value
    assert set(actives(session, [*cast.mine, staff_on_a]).values()) == {True}


def test_the_export_jobs_file_neutralises_formulas(session, cast, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_BACKEND", "off")
    session.execute(update(User).where(User.id == cast.mine[0].id).values(job_title="=HYPERLINK(\"http://x\")"))
    session.execute(update(User).where(User.id == cast.mine[1].id).values(job_title="@SUM(1)"))
    session.commit()
    from admin_app.jobs import export

    job = start_export_job(session, f.actor(cast.manager), {})
    assert runner.run_job(job.id) == JobStatus.DONE.value
    job = session.get(Job, job.id)
    rows = csv_rows(export.file_of(job).read_bytes())
    titles = {r[3] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://x\")" in titles and "'@SUM(1)" in titles
    assert not any(t[:1] in "=+-@" for t in titles if t)


def test_the_list_statement_cache_never_serves_another_viewers_rows(as_user, db):
    """Staff, then Chewie, then Luke ask the very same list URL; then Luke loses the Annexe and asks it again."""
    query = "/admin/users/?page_size=100"
    everyone = text(as_user(STAFF).get(query))
    assert "Solo" in everyone or "solo" in everyone.lower()
    cantina_users = db.session.scalars(
        select(User.email).where(User.is_staff.is_(False),
                                 User.id.not_in(select(Grant.user_id).join(Establishment).where(Establishment.siret.in_([TEMPLE, ANNEXE]))))
    ).all()
    luke = as_user(LUKE)
    first = text(luke.get(query))
    assert cantina_users and not any(email in first for email in cantina_users)
    chewie_page = text(as_user(CHEWIE).get(query))
    assert "luke.skywalker@example.org" not in chewie_page

    annexe = eid(db, ANNEXE)
    annexe_only = only_on(db, annexe)
    assert annexe_only and all(email in first for email in annexe_only)
    db.session.execute(delete(Grant).where(Grant.user_id == uid(db, LUKE[0]), Grant.establishment_id == annexe))
    db.session.commit()
    after = text(luke.get(query))
    assert not any(email in after for email in annexe_only)


def test_the_pickers_tell_nothing_of_another_company(as_user, db):
    luke = as_user(LUKE)
    cantina = db.session.scalar(select(Company).where(Company.siren == CANTINA[:9]))
    for q in ("Cantina", "552", CANTINA[:9], CANTINA, "Tatooine"):
        found = luke.get(f"/admin/users/lookup/companies?q={q}").get_json()
        assert found["results"] == [] and found["exact"] is None and found["exact_establishment"] is None and found["more"] == 0
    found = luke.get(f"/admin/users/lookup/establishments?company={cantina.id}").get_json()
    assert found["results"] == [] and found["more"] == 0
    found = luke.get(f"/admin/users/lookup/establishments?q={CANTINA}").get_json()
    assert found["results"] == [] and found["exact"] is None


def test_a_manager_reads_no_operation_but_their_own(as_user, db, app):
    """Chewie's operation: Luke gets 404 on its page, no link from the list, and Historique stays staff-only."""
    chewie = db.session.scalar(select(User).where(User.email == CHEWIE[0]))
    cantina = establishment(db, CANTINA)
    victim = f.user(db.session, [(cantina, NONE)], name="Victime")
    db.session.commit()
    with app.app_context():
        done = bulk_service.set_active(_db.session, f.actor(_db.session.get(User, chewie.id)), [victim.id], False)
        _db.session.remove()
    luke = as_user(LUKE)
    assert luke.get(f"/admin/operations/details/?id={done.operation_id}").status_code == 404
    listing = text(luke.get("/admin/operations/"))
    assert "Victime" not in listing and f"id={done.operation_id}" not in listing
    assert luke.get("/admin/audit/").status_code == 403
    token = csrf_token(luke, "/admin/users/")
    response = luke.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(done.operation_id),
                                                               "url": "/admin/users/"}, follow_redirects=True)
    assert "Seul son auteur" in text(response)
    db.session.expire_all()
    assert db.session.scalar(select(User.active).where(User.id == victim.id)) is False


def test_undoing_a_deactivation_does_not_revive_a_stolen_session(as_user, db):
    """Obi-Wan's session cookie is stolen; Luke deactivates Obi-Wan (sessions end), then takes it back: the account
    is active again, but the stolen cookie must stay logged out."""
    stolen = as_user(OBIWAN)
    assert stolen.get("/admin/users/").status_code == 200
    obiwan = uid(db, OBIWAN[0])
    luke = as_user(LUKE)
    token = csrf_token(luke, "/admin/users/")
    luke.post("/admin/users/row-action/", data={"csrf_token": token, "row_action": f"deactivate:{obiwan}", "url": "/admin/users/"})
    operation_id = db.session.scalar(select(Operation.id).where(Operation.actor_id == uid(db, LUKE[0])).order_by(Operation.id.desc()))
    assert operation_id is not None
    assert stolen.get("/admin/users/").status_code == 302
    luke.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(operation_id), "url": "/admin/users/"})
    db.session.expire_all()
    assert db.session.scalar(select(User.active).where(User.id == obiwan)) is True
    replay = stolen.get("/admin/users/")
    assert replay.status_code == 302 and replay.location.startswith("/login")


def test_an_anonymous_visitor_reaches_no_new_page_and_changes_nothing(client, demo, db, app):
    temple = establishment(db, TEMPLE)
    target = f.user(db.session, [(temple, NONE)], name="Anonyme")
    db.session.commit()
    target_id = target.id
    with app.app_context():
        done = bulk_service.set_active(_db.session, f.actor(_db.session.get(User, uid(db, LUKE[0]))), [target_id], False)
        _db.session.remove()
    for url in ("/admin/operations/", f"/admin/operations/details/?id={done.operation_id}", "/admin/jobs/",
                "/admin/users/lookup/companies?q=a", "/admin/users/lookup/establishments?q=a"):
        response = client.get(url)
        assert response.status_code == 302 and response.location.startswith("/login"), url
    token = csrf_token(client, "/login")
    response = client.post("/admin/users/undo-operation/", data={"csrf_token": token, "operation": str(done.operation_id)})
    assert response.status_code in (400, 403) or (response.status_code == 302 and response.location.startswith("/login"))
    for url in ("/admin/jobs/export-users", "/admin/jobs/1/cancel"):
        assert client.post(url, data={"csrf_token": token}).status_code in (302, 400, 403, 404)
    db.session.expire_all()
    assert db.session.scalar(select(User.active).where(User.id == target_id)) is False
    assert db.session.scalar(select(Operation.undone_at).where(Operation.id == done.operation_id)) is None
    assert db.session.scalar(select(Job.id)) is None


# --- FINDING (PostgreSQL): the per-person cap on open jobs is a read-then-insert, raced by parallel requests ------

@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite serialises writes: needs TEST_DATABASE_URL")
def test_parallel_starts_cannot_queue_more_jobs_than_the_cap(app, demo, db, jobs_run_by_the_test):
    """Twelve tabs (or a script) start an export at the same instant: services.jobs.create counts the open jobs then
    inserts, with no lock, so each sees fewer than MAX_OPEN_JOBS. At most MAX_OPEN_JOBS may be queued."""
    from admin_app.services import Actor

    luke_id = uid(db, LUKE[0])
    workers = 12
    barrier = threading.Barrier(workers, timeout=30)

    def start():
        with app.app_context():
            actor = Actor(_db.session.get(User, luke_id))
            barrier.wait()
            try:
                start_export_job(_db.session, actor, {})
            except ServiceError:
                pass
            finally:
                _db.session.remove()

    errors = run_together([start] * workers, barrier)
    assert not errors, errors
    db.session.expire_all()
    queued = db.session.scalars(select(Job.id).where(Job.actor_id == luke_id, Job.status == JobStatus.QUEUED.value)).all()
    assert len(queued) <= MAX_OPEN_JOBS, f"{len(queued)} jobs queued for one person"


# --- FINDING (SQLite, the default database): a reused user id inherits a deleted user's operations ---------------

@pytest.fixture
def reused_id(as_user, db, app):
    """operation_items.user_id has no foreign key (a deleted user's items stay), and SQLite gives a new row the
    highest id + 1: the newest user deleted, the next user created gets their id. Chewie activates his newest
    Cantina user, then deletes them; a Temple JEDI user is created next, inactive, and Luke activates them (their
    version then equals the one Chewie's operation left on the deleted user)."""
    from admin_app.services import bulk as bulk_service

    cantina, temple = establishment(db, CANTINA), establishment(db, TEMPLE)
    victim = f.user(db.session, [(cantina, NONE)], name="Disparu", active=False)
    db.session.commit()
    victim_id, victim_email = victim.id, victim.email
    db.session.expunge(victim)  # deleted by another session below: its id must not linger in this identity map
    chewie_id, luke_id = uid(db, CHEWIE[0]), uid(db, LUKE[0])
    with app.app_context():
        chewie = f.actor(_db.session.get(User, chewie_id))
        activated = bulk_service.set_active(_db.session, chewie, [victim_id], True)
        bulk_service.delete_users(_db.session, chewie, [victim_id])
        _db.session.remove()
    newcomer = f.user(db.session, [(temple, NONE)], name="Nouveau", active=False)
    db.session.commit()
    newcomer_id = newcomer.id
    with app.app_context():
        bulk_service.set_active(_db.session, f.actor(_db.session.get(User, luke_id)), [newcomer_id], True)
        _db.session.remove()
    return type("Reused", (), dict(victim_id=victim_id, victim_email=victim_email, newcomer_id=newcomer_id,
                                   operation_id=activated.operation_id))


def test_a_new_users_history_does_not_show_a_deleted_users_operations(as_user, reused_id):
    page = text(as_user(LUKE).get(f"/admin/users/details/?id={reused_id.newcomer_id}"))
    assert reused_id.victim_email not in page and "chewbacca" not in page.lower()


def test_undoing_an_operation_never_touches_a_user_created_after_it(app, db, reused_id):
    """Staff take back Chewie's activation (on his behalf): only the deleted user was in it; Luke's new user, who
    merely got the same id, must stay active and keep their version."""
    version = db.session.scalar(select(User.version).where(User.id == reused_id.newcomer_id))
    with app.app_context():
        staff = f.actor(_db.session.scalar(select(User).where(User.email == STAFF[0])))
        undone = undo_service.undo(_db.session, staff, reused_id.operation_id)
        _db.session.remove()
    db.session.expire_all()
    assert undone.restored == 0
    assert db.session.execute(select(User.active, User.version).where(User.id == reused_id.newcomer_id)).one() == (True, version)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite serialises writes: needs TEST_DATABASE_URL")
def test_an_undo_racing_a_new_change_counts_and_flips_each_user_once(app, demo, db):
    """Luke deactivated 40 users; at the same instant he takes it back and staff reactivate the same users. Each user
    ends active, changed by exactly one of the two; the undo's items are exactly the users it restored."""
    from admin_app.services import Actor
    from models import OperationItem

    temple = establishment(db, TEMPLE)
    ids = [f.user(db.session, [(temple, NONE)], name=f"Course {f._letters(i)}").id for i in range(40)]
    db.session.commit()
    luke_id, staff_id = uid(db, LUKE[0]), uid(db, STAFF[0])
    with app.app_context():
        done = bulk_service.set_active(_db.session, Actor(_db.session.get(User, luke_id)), ids, False)
        _db.session.remove()
    assert done.changed == 40
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, object] = {}

    def work(name, call):
        def run_it():
            with app.app_context():
                barrier.wait()
                results[name] = call()
                _db.session.remove()
        return run_it

    def undo():
        return undo_service.undo(_db.session, Actor(_db.session.get(User, luke_id)), done.operation_id)

    def reactivate():
        return bulk_service.set_active(_db.session, Actor(_db.session.get(User, staff_id)), ids, True)

    errors = run_together([work("undo", undo), work("staff", reactivate)], barrier)
    assert not errors, errors
    undone, staff = results["undo"], results["staff"]
    assert undone.restored + staff.changed == 40
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User).where(User.id.in_(ids), User.active.is_(True))) == 40
    undo_items = db.session.scalar(select(func.count()).select_from(OperationItem).where(OperationItem.operation_id == undone.operation_id))
    marked = db.session.scalar(select(func.count()).select_from(OperationItem).where(
        OperationItem.operation_id == done.operation_id, OperationItem.undone.is_(True)))
    assert undo_items == marked == undone.restored
