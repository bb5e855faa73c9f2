"""A deactivation voids every link sent before it: whichever way the user is deactivated (one user, a selection,
every matching user, a job's chunks, the undo of an activation), the link does not work again once the account is
re-activated (by hand, by a job, or by undoing the deactivation). And a shared user's history names another
company's administrator to nobody of this company."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from flask import current_app
from sqlalchemy import select

from admin_app.authority import UNNAMED_ACTOR, perimeter_of
from admin_app.jobs import runner
from admin_app.services import bulk, emails
from admin_app.services import undo as undo_service
from admin_app.services.jobs import start_bulk_job
from admin_app.services.tokens import Purpose, TokenProblem, read_token
from models import Habilitation, JobStatus, Operation, User

from . import factories as f
from .factories import MANAGER

H = Habilitation
LINK = re.compile(r"/account/set-password/([A-Za-z0-9._-]+)")


@pytest.fixture
def cast(session):
    """Site A with its Gestionnaire and four users, staff."""
    site_a = f.establishment(session, name="A")
    staff = f.user(session, staff=True, name="Staff")
    manager = f.user(session, [(site_a, MANAGER)], name="Gestionnaire")
    users = [f.user(session, [(site_a, [H.REPORTING])], name=f"Salarie {f._letters(i)}") for i in range(4)]
    session.commit()
    return SimpleNamespace(site_a=site_a, staff=staff, manager=manager, users=users)


def password_link(session, user: User) -> str:
    """Send `user` a password link; return its token, as read in the email."""
    email = emails.enqueue_set_password(session, user)
    session.commit()
    return LINK.search(email.body_text).group(1)


def problem_of(session, token: str) -> TokenProblem | None:
    session.expire_all()
    config = current_app.config
    return read_token(session, config["SECRET_KEY"], Purpose.SET_PASSWORD, token, config["EMAIL_LINK_MAX_AGE"])[1]


def nonces(session, users) -> dict[int, str]:
    session.expire_all()
    return {u.id: session.get(User, u.id).link_nonce for u in users}


def test_one_user_deactivated_then_reactivated_keeps_the_old_link_void(session, cast):
    user = cast.users[0]
    token = password_link(session, user)
    assert problem_of(session, token) is None
    before = nonces(session, [user])

    bulk.set_active(session, f.actor(cast.manager), [user.id], False)
    assert problem_of(session, token) is TokenProblem.INACTIVE
    assert nonces(session, [user]) != before  # renewed by the deactivation itself, not only refused while inactive

    bulk.set_active(session, f.actor(cast.manager), [user.id], True)
    assert session.get(User, user.id).active is True
    assert problem_of(session, token) is TokenProblem.USED
    assert problem_of(session, password_link(session, user)) is None  # a link sent since works


def test_a_selection_deactivated_gives_each_user_a_nonce_of_their_own(session, cast):
    tokens = {u.id: password_link(session, u) for u in cast.users}
    before = nonces(session, cast.users)

    result = bulk.set_active(session, f.actor(cast.staff), [u.id for u in cast.users], False)
    assert result.changed == 4
    after = nonces(session, cast.users)
    assert all(after[i] != before[i] for i in after)
    assert len(set(after.values())) == 4  # one UPDATE, yet a different value for every user
    assert all(len(nonce) <= User.link_nonce.type.length for nonce in after.values())

    bulk.set_active(session, f.actor(cast.staff), [u.id for u in cast.users], True)
    assert nonces(session, cast.users) == after  # re-activation renews nothing: no old link comes back
    assert {i: problem_of(session, t) for i, t in tokens.items()} == dict.fromkeys(tokens, TokenProblem.USED)


def test_every_matching_user_deactivated_voids_their_links(session, cast):
    tokens = {u.id: password_link(session, u) for u in cast.users}
    everyone = select(User.id).where(User.id.in_([u.id for u in cast.users]))
    bulk.set_active(session, f.actor(cast.manager), everyone, False)
    bulk.set_active(session, f.actor(cast.manager), [u.id for u in cast.users], True)
    assert {problem_of(session, t) for t in tokens.values()} == {TokenProblem.USED}


def test_a_user_already_inactive_is_left_as_is(session, cast):
    """Only the users the deactivation changes get a new nonce: one already inactive keeps his (and his record)."""
    sleeper = f.user(session, [(cast.site_a, [H.REPORTING])], active=False)
    session.commit()
    before = nonces(session, [sleeper])
    bulk.set_active(session, f.actor(cast.staff), [sleeper.id, cast.users[0].id], False)
    assert nonces(session, [sleeper]) == before


def test_a_job_deactivating_then_activating_voids_the_links(session, cast, small_chunks):
    tokens = {u.id: password_link(session, u) for u in [*cast.users, cast.manager]}
    filter_args = {"etablissement": "A", "staff": "non"}  # five users: two chunks of three
    for action in ("deactivate", "activate"):
        job = start_bulk_job(session, f.actor(cast.staff), action, filter_args)
        session.commit()
        assert runner.run_job(job.id) == JobStatus.DONE.value
    session.expire_all()
    assert all(session.get(User, i).active for i in tokens)
    assert {problem_of(session, t) for t in tokens.values()} == {TokenProblem.USED}


def test_undoing_a_deactivation_does_not_revive_the_links(session, cast):
    token = password_link(session, cast.users[0])
    result = bulk.set_active(session, f.actor(cast.manager), [cast.users[0].id], False)
    undo_service.undo(session, f.actor(cast.manager), result.operation_id)
    assert session.get(User, cast.users[0].id).active is True
    assert problem_of(session, token) is TokenProblem.USED


def test_undoing_an_activation_voids_the_links_it_sent(session, cast):
    """« Activer et envoyer un lien » taken back: the user is inactive again, and the link he got must not work once
    someone activates him again."""
    user = f.user(session, [(cast.site_a, [H.REPORTING])], active=False)
    session.commit()
    result = bulk.activate_and_send_links(session, f.actor(cast.manager), [user.id])
    (sent,) = f.outbox(session, "set_password")  # his address is verified: the password link
    token = LINK.search(sent.body_text).group(1)
    assert problem_of(session, token) is None
    before = nonces(session, [user])

    undone = undo_service.undo(session, f.actor(cast.manager), result.operation_id)
    assert undone.restored == 1
    assert session.get(User, user.id).active is False
    assert nonces(session, [user]) != before

    bulk.set_active(session, f.actor(cast.manager), [user.id], True)
    assert problem_of(session, token) is TokenProblem.USED


def test_an_undo_that_deactivates_many_gives_each_a_nonce_of_their_own(session, cast):
    result = bulk.set_active(session, f.actor(cast.staff), [u.id for u in cast.users], False)
    bulk.set_active(session, f.actor(cast.staff), [u.id for u in cast.users], True)
    undo_of_activation = max(op.id for op in session.scalars(select(Operation)))
    assert undo_of_activation != result.operation_id
    before = nonces(session, cast.users)
    undo_service.undo(session, f.actor(cast.staff), undo_of_activation)
    after = nonces(session, cast.users)
    assert len(set(after.values())) == 4 and not set(after.values()) & set(before.values())


# --- who a history names -------------------------------------------------------------------------------

@pytest.fixture
def shared(session):
    """Obi on site A (company A, Gestionnaire: Ann) and site B (company B, Gestionnaire: Bob); staff; Ann's colleague."""
    site_a = f.establishment(session, f.company(session, "Compagnie A"), name="A")
    site_b = f.establishment(session, f.company(session, "Compagnie B"), name="B")
    ann = f.user(session, [(site_a, MANAGER)], name="Ann")
    colleague = f.user(session, [(site_a, MANAGER)], name="Collegue")
    bob = f.user(session, [(site_b, MANAGER)], name="Bob")
    staff = f.user(session, staff=True, name="Staff")
    obi = f.user(session, [(site_a, [H.REPORTING]), (site_b, [H.REPORTING])], name="Obi")
    session.commit()
    return SimpleNamespace(ann=ann, colleague=colleague, bob=bob, staff=staff, obi=obi)


def test_a_delegated_administrator_reads_the_names_of_themselves_staff_and_the_users_they_see(session, shared):
    def label(who):
        return f.actor(who).label

    actors = [(u.id, label(u)) for u in (shared.ann, shared.colleague, shared.staff, shared.obi, shared.bob)]
    actors += [(None, "Système"), (None, "SUPPRIME Ancien <ancien@example.org>")]
    shown = perimeter_of(session, f.actor(shared.ann)).actor_labels(session, actors)
    assert shown == {
        (shared.ann.id, label(shared.ann)): label(shared.ann),
        (shared.colleague.id, label(shared.colleague)): label(shared.colleague),
        (shared.staff.id, label(shared.staff)): label(shared.staff),
        (shared.obi.id, label(shared.obi)): label(shared.obi),
        (shared.bob.id, label(shared.bob)): UNNAMED_ACTOR,  # company B's Gestionnaire
        (None, "Système"): "Système",
        (None, "SUPPRIME Ancien <ancien@example.org>"): UNNAMED_ACTOR,  # a deleted account: nobody can say whose
    }
    # Staff read every name, without a query.
    assert perimeter_of(session, f.actor(shared.staff)).actor_labels(session, actors) == {a: a[1] for a in actors}
