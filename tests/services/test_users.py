"""The users service called directly: creation, identity edits, grants, activation, deletion,
invitations and the edit page, each checked in the database (rows, flags, audit trail, outbox).

Who may act on whom is the governing table's business (test_authority.py); here the actor is
mostly staff or a Gestionnaire, and the tests look at what each operation writes.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admin_app.authority import REFUSED_NOT_ADMIN, REFUSED_STAFF_CREATION
from admin_app.services import SYSTEM_ACTOR, ServiceError
from admin_app.services import bulk as bulk_service
from admin_app.services import users as user_service
from admin_app.services.common import EMAIL_TAKEN
from admin_app.services.passwords import verify_password
from admin_app.services.tokens import Purpose, read_token
from admin_app.services.users import GrantInput, check_grant_rows
from models import AuditEvent, Grant, Habilitation, Operation, OperationItem, OutboundEmail, User
from models.habilitations import grant_habilitations

from . import factories as f
from .factories import count, events, outbox

H = Habilitation
ONE_PRIMARY = "Choisissez un et un seul établissement principal."
TWICE = "Un même établissement ne peut être ajouté qu'une seule fois."


# --- helpers --------------------------------------------------------------------------------------

def person(**over) -> dict:
    """The user form's personal fields, as typed."""
    return {"civility": "Mme", "last_name": "Organa", "first_name": "Leia", "email": "Leia.Organa@Example.org",
            "phone": "06 12 34 56 78", "job_title": "DRH", **over}


def identity(user: User, **over) -> dict:
    """The personal fields of an existing user, as the edit form sends them back."""
    return {name: getattr(user, name) for name in user_service.PERSONAL_FIELDS} | over


def grants_of(session, user_id: int) -> dict[int, tuple[bool, dict[str, bool]]]:
    """establishment id -> (is_primary, the seven flags as stored), read back from the database."""
    session.expire_all()
    rows = session.scalars(select(Grant).where(Grant.user_id == user_id))
    return {g.establishment_id: (g.is_primary, g.flags()) for g in rows}


def flags(*held: Habilitation) -> dict[str, bool]:
    return {h.value: h in held for h in Habilitation}


ALL_FLAGS = flags(*Habilitation)


def link_target(session, email: OutboundEmail, purpose: Purpose) -> User:
    """The user the link of a queued email opens, checked as the link's page would."""
    token = re.search(r"/account/[a-z-]+/([\w.-]+)", email.body_text).group(1)
    user, problem = read_token(session, current_app.config["SECRET_KEY"], purpose, token,
                               current_app.config["EMAIL_LINK_MAX_AGE"])
    assert problem is None
    return user


def snapshot(session) -> tuple:
    """Everything a refused operation must leave as it was: users, grants, audit trail, outbox."""
    session.expire_all()
    users = sorted((u.id, u.email, u.last_name, u.active, u.version, u.session_token, u.link_nonce)
                   for u in session.scalars(select(User)))
    grants = sorted((g.user_id, g.establishment_id, g.is_primary, tuple(g.flags().items()))
                    for g in session.scalars(select(Grant)))
    return users, grants, count(session, AuditEvent), count(session, OutboundEmail)


def operation_items(session, operation_id) -> dict[int, tuple]:
    """An operation's items: user id -> (active before, active after, label)."""
    return {i.user_id: (i.active_before, i.active_after, i.user_label) for i in session.scalars(
        select(OperationItem).where(OperationItem.operation_id == operation_id).order_by(OperationItem.user_id))}


@pytest.fixture
def cast(session):
    """Two companies: ONE with A and B, OTHER with C; a staff member, a Gestionnaire on A, a Gestion des
    utilisateurs on A."""
    one, other = f.company(session, "ONE"), f.company(session, "OTHER")
    a, b = f.establishment(session, one, "A"), f.establishment(session, one, "B")
    c = f.establishment(session, other, "C")
    staff = f.user(session, staff=True)
    manager = f.user(session, [(a, f.MANAGER)])
    user_admin = f.user(session, [(a, f.USER_ADMIN)])
    session.commit()
    return SimpleNamespace(a=a, b=b, c=c, staff=staff, manager=manager, user_admin=user_admin)


# --- create_user ----------------------------------------------------------------------------------

def test_staff_creates_a_client_user_with_grants_an_audit_entry_and_a_verification_email(session, cast):
    user = user_service.create_user(session, f.actor(cast.staff), person(),
                                    [GrantInput(cast.a.id, True, {H.FUNDING}), GrantInput(cast.c.id, False, {H.REPORTING})])
    session.expire_all()
    made = session.scalars(select(User).where(User.email == "leia.organa@example.org")).one()
    assert made.id == user.id
    assert (made.civility, made.last_name, made.first_name, made.phone, made.job_title) == \
        ("Mme", "ORGANA", "Leia", "+33612345678", "DRH")
    assert (made.is_staff, made.active, made.password_hash, made.email_verified_at) == (False, True, None, None)
    assert grants_of(session, made.id) == {cast.a.id: (True, flags(H.FUNDING)), cast.c.id: (False, flags(H.REPORTING))}

    (created,) = events(session, "user.create")
    assert (created.actor_id, created.target_type, created.target_id) == (cast.staff.id, "user", made.id)
    assert created.target_label == "ORGANA Leia <leia.organa@example.org>"
    assert created.before is None
    assert set(created.after) == {*user_service.PERSONAL_FIELDS, "is_staff"}
    assert {k: created.after[k] for k in ("civility", "first_name", "email", "phone", "job_title", "is_staff")} == \
        {"civility": "Mme", "first_name": "Leia", "email": "leia.organa@example.org", "phone": "+33612345678",
         "job_title": "DRH", "is_staff": False}
    (granted,) = events(session, "user.grants")
    assert granted.before == {} and set(granted.after) == {cast.a.label, cast.c.label}

    (email,) = outbox(session)
    assert (email.kind, email.recipient, email.status) == ("verify_email", "leia.organa@example.org", "pending")
    assert link_target(session, email, Purpose.VERIFY_EMAIL).id == made.id


@pytest.mark.parametrize("create", ["create_user", "create_staff"])
def test_the_creation_entry_holds_the_values_as_stored(session, cast, create):
    if create == "create_user":
        user = user_service.create_user(session, f.actor(cast.staff), person(last_name="  Organa ", first_name="Leia"))
    else:
        user = user_service.create_staff(session, f.actor(cast.staff), person(last_name="  Organa ", first_name="Leia"),
                                         "un mot de passe assez long")
    session.expire_all()
    stored = session.get(User, user.id)
    (created,) = events(session, "user.create")
    assert {name: created.after[name] for name in user_service.PERSONAL_FIELDS} == \
        {name: getattr(stored, name) for name in user_service.PERSONAL_FIELDS}


def test_staff_creates_a_staff_account_without_grants(session, cast):
    user = user_service.create_user(session, f.actor(cast.staff), person(), is_staff=True)
    session.expire_all()
    made = session.get(User, user.id)
    assert made.is_staff and made.active and made.password_hash is None
    assert grants_of(session, made.id) == {}
    (created,) = events(session, "user.create")
    assert created.after["is_staff"] is True and created.target_id == made.id
    assert events(session, "user.grants") == []
    assert [(e.kind, e.recipient) for e in outbox(session)] == [("verify_email", made.email)]


def test_a_gestionnaire_creates_a_user_on_their_establishment(session, cast):
    user = user_service.create_user(session, f.actor(cast.manager), person(), [GrantInput(cast.a.id, True, {H.PAYMENTS})])
    assert grants_of(session, user.id) == {cast.a.id: (True, flags(H.PAYMENTS))}
    assert [e.actor_id for e in events(session, "user.create")] == [cast.manager.id]
    assert [e.recipient for e in outbox(session, "verify_email")] == [user.email]


@pytest.mark.parametrize("who, is_staff, rows, message", [
    ("manager", True, "A", REFUSED_STAFF_CREATION.reason),
    ("manager", False, "", "Rattachez le nouvel utilisateur à au moins un de vos établissements."),
    ("manager", False, "C", "hors de votre périmètre"),
    ("user_admin", False, "A+manager", "l'accès Gestionnaire"),
    ("nobody", False, "A", REFUSED_NOT_ADMIN.reason),
])
def test_a_refused_creation_writes_nothing(session, cast, who, is_staff, rows, message):
    actor = f.user(session, [(cast.a, [H.FUNDING])]) if who == "nobody" else getattr(cast, who)
    session.commit()
    grant_rows = {
        "": [],
        "A": [GrantInput(cast.a.id, True, {H.FUNDING})],
        "C": [GrantInput(cast.c.id, True, {H.FUNDING})],
        "A+manager": [GrantInput(cast.a.id, True, {H.MANAGER})],
    }[rows]
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.create_user(session, f.actor(actor), person(), grant_rows, is_staff=is_staff)
    assert message in refused.value.message
    assert snapshot(session) == before
    assert count(session, User, User.email == "leia.organa@example.org") == 0


def test_an_email_already_taken_is_refused_on_the_email_field_whatever_its_case(session, cast):
    taken = f.user(session)
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.create_user(session, f.actor(cast.staff), person(email=taken.email.upper()),
                                 [GrantInput(cast.a.id, True)])
    assert (refused.value.message, refused.value.field) == (EMAIL_TAKEN, "email")
    assert refused.value.message == "Cette adresse email est déjà utilisée par un autre utilisateur."
    assert snapshot(session) == before


@pytest.mark.parametrize("field, value", [
    ("civility", "Dr"), ("last_name", "R2D2"), ("first_name", ""), ("email", "pas-une-adresse"), ("phone", "12"),
])
def test_invalid_personal_data_is_refused_on_its_field(session, cast, field, value):
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.create_user(session, f.actor(cast.staff), person(**{field: value}))
    assert refused.value.field == field and refused.value.message
    assert snapshot(session) == before


# --- create_staff ---------------------------------------------------------------------------------

def test_create_staff_makes_a_verified_staff_account_with_a_password_and_no_email(session):
    user = user_service.create_staff(session, SYSTEM_ACTOR, person(), "un mot de passe assez long")
    session.expire_all()
    made = session.get(User, user.id)
    assert made.is_staff and made.active and made.email_verified_at is not None
    assert verify_password(made.password_hash, "un mot de passe assez long")
    (created,) = events(session, "user.create")
    assert (created.actor_id, created.actor_label, created.target_id) == (None, "Système", made.id)
    assert created.after["is_staff"] is True and created.after["email"] == "leia.organa@example.org"
    assert outbox(session) == []


@pytest.mark.parametrize("password, email, field", [
    ("court", "leia@example.org", "password"),
    ("leia.organa@example.org", "leia.organa@example.org", "password"),
    ("un mot de passe assez long", "taken", "email"),
])
def test_create_staff_refusals(session, password, email, field):
    taken = f.user(session)
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.create_staff(session, SYSTEM_ACTOR, person(email=taken.email if email == "taken" else email), password)
    assert refused.value.field == field
    assert snapshot(session) == before


# --- update_user ----------------------------------------------------------------------------------

def test_update_records_before_and_after_of_exactly_the_changed_fields(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    old_name, old_phone, version, verified = target.last_name, target.phone, target.version, target.email_verified_at
    user_service.update_user(session, f.actor(cast.staff), target, version,
                             identity(target, last_name="Solo", phone="07 98 76 54 32"))
    session.expire_all()
    saved = session.get(User, target.id)
    assert (saved.last_name, saved.phone, saved.version) == ("SOLO", "+33798765432", version + 1)
    assert saved.email_verified_at == verified  # the address did not change
    (updated,) = events(session, "user.update")
    assert (updated.actor_id, updated.target_id) == (cast.staff.id, target.id)
    assert updated.before == {"last_name": old_name, "phone": old_phone}
    assert updated.after == {"last_name": "SOLO", "phone": "+33798765432"}
    assert outbox(session) == []


def test_an_email_change_of_a_proven_account_waits_for_the_new_mailbox(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    old_email = target.email
    user_service.update_user(session, f.actor(cast.manager), target, target.version,
                             identity(target, email="Nouvelle.Adresse@Example.org"))
    session.expire_all()
    saved = session.get(User, target.id)
    assert (saved.email, saved.pending_email) == (old_email, "nouvelle.adresse@example.org")
    assert saved.email_verified_at is not None
    (asked,) = events(session, "user.email_change")
    assert asked.before is None and asked.after == {"pending_email": "nouvelle.adresse@example.org"}
    confirm, notice = outbox(session)
    assert (confirm.kind, confirm.recipient) == ("confirm_email_change", "nouvelle.adresse@example.org")
    assert (notice.kind, notice.recipient) == ("email_change_notice", old_email)
    assert "Un administrateur a demandé" in notice.body_text


def test_staff_replace_the_address_of_a_never_verified_account_and_ask_the_new_one_to_verify(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    target.email_verified_at = None
    session.commit()
    old_email, old_nonce = target.email, target.link_nonce
    user_service.update_user(session, f.actor(cast.staff), target, target.version,
                             identity(target, email="Nouvelle.Adresse@Example.org"))
    session.expire_all()
    saved = session.get(User, target.id)
    assert (saved.email, saved.pending_email, saved.email_verified_at) == ("nouvelle.adresse@example.org", None, None)
    assert saved.link_nonce != old_nonce
    (updated,) = events(session, "user.update")
    assert updated.before == {"email": old_email} and updated.after == {"email": "nouvelle.adresse@example.org"}
    (email,) = outbox(session)
    assert (email.kind, email.recipient) == ("verify_email", "nouvelle.adresse@example.org")
    assert link_target(session, email, Purpose.VERIFY_EMAIL).id == target.id


def test_a_delegated_administrator_changes_a_never_verified_address_as_any_other_pending(session, cast):
    """Replaced at once or pending would tell them whether the new address has an account: pending, whatever."""
    target = f.user(session, [(cast.a, [H.REPORTING])])
    target.email_verified_at = None
    session.commit()
    old_email = target.email
    user_service.update_user(session, f.actor(cast.manager), target, target.version,
                             identity(target, email="Nouvelle.Adresse@Example.org"))
    session.expire_all()
    saved = session.get(User, target.id)
    assert (saved.email, saved.pending_email) == (old_email, "nouvelle.adresse@example.org")
    assert [e.kind for e in outbox(session)] == ["confirm_email_change", "email_change_notice"]


def test_saving_unchanged_data_writes_nothing(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    before = snapshot(session)
    user_service.update_user(session, f.actor(cast.staff), target, target.version, identity(target))
    assert snapshot(session) == before


def test_an_update_from_a_stale_page_is_refused(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    seen_version = target.version
    user_service.update_user(session, f.actor(cast.staff), target, seen_version, identity(target, first_name="Han"))
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.update_user(session, f.actor(cast.staff), target, seen_version, identity(target, first_name="Chewie"))
    assert "modifié par quelqu'un d'autre" in refused.value.message
    assert snapshot(session) == before
    assert session.get(User, target.id).first_name == "Han"


def test_an_update_racing_another_save_is_refused_as_a_conflict(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    version = target.version  # the page was opened: this session holds the user at this version
    with Session(bind=session.get_bind()) as other:  # someone else saves meanwhile, on their own connection
        other.execute(update(User).where(User.id == target.id).values(job_title="Pilote", version=User.version + 1))
        other.commit()
    with pytest.raises(ServiceError) as refused:
        user_service.update_user(session, f.actor(cast.staff), target, version, identity(target, first_name="Lando"))
    # The service reads the user afresh under its lock (services.locks): it sees the other save, and says so.
    assert refused.value.message == user_service.STALE_FORM
    session.expire_all()
    saved = session.get(User, target.id)
    assert (saved.first_name, saved.job_title, saved.version) == (target.first_name, "Pilote", version + 1)
    assert events(session, "user.update") == []


def test_an_update_to_an_email_taken_is_refused_on_the_email_field(session, cast):
    target, other = f.user(session, [(cast.a, [H.REPORTING])]), f.user(session)
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.update_user(session, f.actor(cast.staff), target, target.version, identity(target, email=other.email))
    assert (refused.value.message, refused.value.field) == (EMAIL_TAKEN, "email")
    assert snapshot(session) == before


# --- check_grant_rows -----------------------------------------------------------------------------

@pytest.mark.parametrize("rows, message", [
    ("A* B*", ONE_PRIMARY),
    ("A B", ONE_PRIMARY),
    ("A* A", TWICE),
])
def test_grant_rows_breaking_the_editor_rules_are_refused_and_nothing_is_saved(session, cast, rows, message):
    ids = {"A": cast.a.id, "B": cast.b.id}
    grant_rows = [GrantInput(ids[r[0]], r.endswith("*"), {H.FUNDING}) for r in rows.split()]
    with pytest.raises(ServiceError) as refused:
        check_grant_rows(grant_rows)
    assert refused.value.message == message
    target = f.user(session, [(cast.b, [H.REPORTING])])
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.save_grants(session, f.actor(cast.staff), target, grant_rows)
    assert refused.value.message == message
    assert snapshot(session) == before


def test_grant_rows_count_the_grants_the_editor_does_not_show():
    check_grant_rows([])  # no grant at all: nothing to choose
    check_grant_rows([GrantInput(1, False)], primary_elsewhere=True, others=1)
    check_grant_rows([], primary_elsewhere=True, others=1)
    with pytest.raises(ServiceError, match="un et un seul"):
        check_grant_rows([GrantInput(1, True)], primary_elsewhere=True, others=1)
    with pytest.raises(ServiceError, match="un et un seul"):
        check_grant_rows([], others=1)


# --- save_grants ----------------------------------------------------------------------------------

def test_gestionnaire_alone_is_saved_with_every_flag_ticked(session, cast):
    target = f.user(session, [(cast.b, [H.REPORTING])])
    session.commit()
    assert user_service.save_grants(session, f.actor(cast.staff), target, [GrantInput(cast.b.id, True, {H.MANAGER})])
    assert grants_of(session, target.id) == {cast.b.id: (True, ALL_FLAGS)}
    (granted,) = events(session, "user.grants")
    assert granted.after == {cast.b.label: {"principal": True, "habilitations": sorted(h.value for h in Habilitation)}}


def test_a_grant_with_only_gestionnaire_ticked_gives_all_seven_habilitations(session, cast):
    target = f.user(session)
    target.grants.append(Grant(establishment=cast.b, is_primary=True, manager=True))
    session.commit()
    session.expire_all()
    (stored,) = session.scalars(select(Grant).where(Grant.user_id == target.id))
    assert stored.flags() == flags(H.MANAGER)  # only the one box in the database...
    assert grant_habilitations(stored) == frozenset(Habilitation)  # ...and yet all seven
    assert len(grant_habilitations(stored)) == 7


def test_staff_replaces_grants_with_before_and_after_in_the_audit_trail(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING]), (cast.b, [H.FUNDING])])
    session.commit()
    changed = user_service.save_grants(session, f.actor(cast.staff), target, [
        GrantInput(cast.b.id, True, {H.FUNDING, H.PAYMENTS}), GrantInput(cast.c.id, False, set()),
    ])
    assert changed is True
    assert grants_of(session, target.id) == {cast.b.id: (True, flags(H.FUNDING, H.PAYMENTS)), cast.c.id: (False, flags())}
    (granted,) = events(session, "user.grants")
    assert (granted.actor_id, granted.target_id) == (cast.staff.id, target.id)
    assert granted.before == {cast.a.label: {"principal": True, "habilitations": ["reporting"]},
                              cast.b.label: {"principal": False, "habilitations": ["funding"]}}
    assert granted.after == {cast.b.label: {"principal": True, "habilitations": ["funding", "payments"]},
                             cast.c.label: {"principal": False, "habilitations": []}}


def test_saving_the_same_grants_changes_nothing_and_writes_no_entry(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    version = target.version
    assert user_service.save_grants(session, f.actor(cast.staff), target, [GrantInput(cast.a.id, True, {H.REPORTING})]) is False
    assert events(session, "user.grants") == []
    assert session.get(User, target.id).version == version


def test_a_delegated_save_keeps_the_grants_outside_the_perimeter(session, cast):
    target = f.user(session, [(cast.c, [H.PAYMENTS, H.SENSITIVE_DATA]), (cast.a, [H.REPORTING])])
    session.commit()
    kept_id = session.scalar(select(Grant.id).where(Grant.user_id == target.id, Grant.establishment_id == cast.c.id))
    user_service.save_grants(session, f.actor(cast.manager), target, [GrantInput(cast.a.id, False, {H.FUNDING})])
    assert grants_of(session, target.id) == {cast.c.id: (True, flags(H.PAYMENTS, H.SENSITIVE_DATA)),
                                             cast.a.id: (False, flags(H.FUNDING))}
    assert session.scalar(select(Grant.id).where(Grant.user_id == target.id, Grant.establishment_id == cast.c.id)) == kept_id
    (granted,) = events(session, "user.grants")
    assert granted.before == {cast.a.label: {"principal": False, "habilitations": ["reporting"]}}
    assert granted.after == {cast.a.label: {"principal": False, "habilitations": ["funding"]}}


def test_a_delegated_save_cannot_make_its_establishment_primary_when_the_primary_is_elsewhere(session, cast):
    target = f.user(session, [(cast.c, [H.PAYMENTS]), (cast.a, [H.REPORTING])])
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError, match="principal de cet utilisateur est hors de votre périmètre"):
        user_service.save_grants(session, f.actor(cast.manager), target, [GrantInput(cast.a.id, True, {H.REPORTING})])
    assert snapshot(session) == before


def test_detaching_a_user_from_all_the_actors_establishments_promotes_a_kept_one(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING]), (cast.c, [H.PAYMENTS])])
    session.commit()
    assert user_service.save_grants(session, f.actor(cast.manager), target, [])
    assert grants_of(session, target.id) == {cast.c.id: (True, flags(H.PAYMENTS))}
    (granted,) = events(session, "user.grants")
    assert granted.before == {cast.a.label: {"principal": True, "habilitations": ["reporting"]}}
    assert granted.after == {}


def test_swapping_the_primary_establishment_in_one_save(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING]), (cast.b, [H.REPORTING])])
    session.commit()
    user_service.save_grants(session, f.actor(cast.staff), target, [
        GrantInput(cast.a.id, False, {H.REPORTING}), GrantInput(cast.b.id, True, {H.REPORTING})])
    assert grants_of(session, target.id) == {cast.a.id: (False, flags(H.REPORTING)), cast.b.id: (True, flags(H.REPORTING))}


def test_an_unknown_establishment_is_refused(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.save_grants(session, f.actor(cast.staff), target, [
            GrantInput(cast.a.id, True, {H.REPORTING}), GrantInput(cast.c.id + 1000, False, {H.FUNDING})])
    assert refused.value.message == "Un des établissements choisis n'existe pas ou plus."
    assert snapshot(session) == before


def test_nobody_delegated_changes_their_own_grants(session, cast):
    before = snapshot(session)
    with pytest.raises(ServiceError, match="vos propres rattachements"):
        user_service.save_grants(session, f.actor(cast.manager), cast.manager, [GrantInput(cast.a.id, True, {H.FUNDING})])
    assert snapshot(session) == before


# --- set_active -----------------------------------------------------------------------------------

def test_deactivation_counts_and_audits_only_real_changes_and_ends_sessions(session, cast):
    first, second = f.user(session, [(cast.a, [H.REPORTING])]), f.user(session, [(cast.a, [H.REPORTING])])
    already = f.user(session, [(cast.a, [H.REPORTING])], active=False)
    session.commit()
    tokens = {u.id: u.session_token for u in (first, second, already)}
    versions = {u.id: u.version for u in (first, second, already)}

    done = bulk_service.set_active(session, f.actor(cast.manager), [first.id, second.id, already.id], False)
    assert (done.changed, done.unchanged) == (2, 1)
    session.expire_all()
    for user in (first, second):
        saved = session.get(User, user.id)
        assert not saved.active and saved.session_token != tokens[user.id] and saved.version == versions[user.id] + 1
    untouched = session.get(User, already.id)
    assert (untouched.session_token, untouched.version) == (tokens[already.id], versions[already.id])
    # One audit entry for the operation; one item per real change, with each user's label.
    (row,) = events(session, "user.deactivate")
    assert (row.target_type, row.target_id, row.actor_id) == ("operation", done.operation_id, cast.manager.id)
    assert operation_items(session, done.operation_id) == {
        first.id: (True, False, user_service.user_label(session.get(User, first.id))),
        second.id: (True, False, user_service.user_label(session.get(User, second.id)))}

    again = bulk_service.set_active(session, f.actor(cast.manager), [first.id, second.id, already.id], False)
    assert (again.changed, again.unchanged, again.operation_id) == (0, 3, None)
    assert len(events(session, "user.deactivate")) == 1  # nothing changed, nothing recorded


def test_activation_counts_and_audits_only_inactive_users(session, cast):
    active = f.user(session, [(cast.a, [H.REPORTING])])
    inactive = f.user(session, [(cast.a, [H.REPORTING])], active=False)
    session.commit()
    token = inactive.session_token
    done = bulk_service.set_active(session, f.actor(cast.staff), [active.id, inactive.id], True)
    assert (done.changed, done.unchanged) == (1, 1)
    session.expire_all()
    assert session.get(User, inactive.id).active and session.get(User, inactive.id).session_token == token
    (row,) = events(session, "user.activate")
    assert (row.target_type, row.target_id, row.after) == ("operation", done.operation_id, {"active": True, "requested": 2, "changed": 1, "unchanged": 1})
    assert list(operation_items(session, done.operation_id)) == [inactive.id]
    assert events(session, "user.deactivate") == []


def test_set_active_takes_a_query_of_ids(session, cast):
    targets = [f.user(session, [(cast.b, [H.REPORTING])]) for _ in range(3)]
    session.commit()
    on_b = select(Grant.user_id).where(Grant.establishment_id == cast.b.id)
    done = bulk_service.set_active(session, f.actor(cast.staff), on_b, False)
    assert done.changed == 3
    session.expire_all()
    assert not any(session.get(User, t.id).active for t in targets)
    assert sorted(operation_items(session, done.operation_id)) == sorted(t.id for t in targets)


def test_the_last_active_staff_account_cannot_be_deactivated(session, cast):
    f.user(session, staff=True, active=False)
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError, match="dernier compte staff actif"):
        bulk_service.set_active(session, SYSTEM_ACTOR, [cast.staff.id], False)
    with pytest.raises(ServiceError, match="dernier compte staff actif"):
        bulk_service.set_active(session, SYSTEM_ACTOR, select(User.id).where(User.is_staff.is_(True)), False)
    assert snapshot(session) == before
    second = f.user(session, staff=True)
    session.commit()
    assert bulk_service.set_active(session, f.actor(second), [cast.staff.id], False).changed == 1
    assert not session.get(User, cast.staff.id).active


@pytest.mark.parametrize("who", ["staff", "manager"])
def test_nobody_deactivates_themselves(session, cast, who):
    f.user(session, staff=True)
    session.commit()
    me = getattr(cast, who)
    before = snapshot(session)
    with pytest.raises(ServiceError, match="vous désactiver vous-même"):
        bulk_service.set_active(session, f.actor(me), [me.id], False)
    assert snapshot(session) == before


# --- delete_users ---------------------------------------------------------------------------------

def test_deletion_removes_users_and_grants_and_audits_each_by_label(session, cast):
    doomed = [f.user(session, [(cast.a, [H.REPORTING]), (cast.b, [H.FUNDING])]) for _ in range(2)]
    spared = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    labels = {u.id: f"{u.last_name} {u.first_name} <{u.email}>" for u in doomed}
    ids = list(labels)

    done = bulk_service.delete_users(session, f.actor(cast.staff), ids)
    assert done.changed == 2
    session.expire_all()
    assert count(session, User, User.id.in_(ids)) == 0
    assert count(session, Grant, Grant.user_id.in_(ids)) == 0
    assert grants_of(session, spared.id) == {cast.a.id: (True, flags(H.REPORTING))}
    assert session.get(type(cast.a), cast.a.id) is not None  # establishments stay
    (row,) = events(session, "user.delete")  # one entry for the operation; its items keep each label
    assert (row.target_id, row.actor_id, row.actor_label) == (done.operation_id, cast.staff.id, f.actor(cast.staff).label)
    assert {i: label for i, (_, _, label) in operation_items(session, done.operation_id).items()} == labels

    # Deleting them again (a replayed form): they are gone, so the selection is refused whole, nothing recorded.
    with pytest.raises(ServiceError, match="^2 utilisateur\\(s\\) sélectionné\\(s\\) hors de votre périmètre ou introuvable"):
        bulk_service.delete_users(session, f.actor(cast.staff), ids)
    assert len(events(session, "user.delete")) == 1


def test_a_deleted_actor_leaves_their_history_behind(session, cast):
    deleted_actor = f.user(session, [(cast.a, f.MANAGER)])
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    done = bulk_service.set_active(session, f.actor(deleted_actor), [target.id], False)
    label = f.actor(deleted_actor).label
    assert bulk_service.delete_users(session, f.actor(cast.staff), [deleted_actor.id]).changed == 1
    session.expire_all()
    (row,) = events(session, "user.deactivate")
    assert (row.actor_id, row.actor_label, row.target_id) == (None, label, done.operation_id)
    operation = session.get(Operation, done.operation_id)
    assert (operation.actor_id, operation.actor_label) == (None, label)


@pytest.mark.parametrize("case", ["self", "last staff"])
def test_deletion_protects_oneself_and_the_last_staff(session, cast, case):
    before = snapshot(session)
    actor, ids = (f.actor(cast.staff), [cast.staff.id]) if case == "self" else (SYSTEM_ACTOR, [cast.staff.id])
    with pytest.raises(ServiceError, match="vous supprimer vous-même" if case == "self" else "dernier compte staff"):
        bulk_service.delete_users(session, actor, ids)
    assert snapshot(session) == before


# --- resend_invitations ---------------------------------------------------------------------------

def test_invitations_skip_users_with_a_password_or_inactive(session, cast):
    unverified = f.user(session, [(cast.a, [H.REPORTING])])
    unverified.email_verified_at = None
    verified = f.user(session, [(cast.a, [H.REPORTING])])
    with_password = f.user(session, [(cast.a, [H.REPORTING])], password_hash="argon2-hash")
    inactive = f.user(session, [(cast.a, [H.REPORTING])], active=False)
    session.commit()
    nonces = {u.id: u.link_nonce for u in (unverified, verified, with_password, inactive)}

    sent = bulk_service.resend_invitations(session, f.actor(cast.manager),
                                           [unverified.id, verified.id, with_password.id, inactive.id])
    assert sent == (2, 2)
    session.expire_all()
    emails = outbox(session)
    assert [(e.recipient, e.kind) for e in emails] == [(unverified.email, "verify_email"), (verified.email, "set_password")]
    assert link_target(session, emails[0], Purpose.VERIFY_EMAIL).id == unverified.id
    assert link_target(session, emails[1], Purpose.SET_PASSWORD).id == verified.id
    rows = events(session, "user.invite")
    assert [(e.target_id, e.after, e.actor_id) for e in rows] == [
        (unverified.id, {"email": "verify_email"}, cast.manager.id), (verified.id, {"email": "set_password"}, cast.manager.id)]
    for skipped in (with_password, inactive):
        assert session.get(User, skipped.id).link_nonce == nonces[skipped.id]


# --- edit_user ------------------------------------------------------------------------------------

def test_edit_without_data_changes_the_grants_only(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING]), (cast.c, [H.PAYMENTS])])
    session.commit()
    name, email = target.last_name, target.email
    user_service.edit_user(session, f.actor(cast.manager), target, target.version, None,
                           [GrantInput(cast.a.id, True, {H.FUNDING})])
    session.expire_all()
    saved = session.get(User, target.id)
    assert (saved.last_name, saved.email) == (name, email)
    assert grants_of(session, target.id) == {cast.a.id: (True, flags(H.FUNDING)), cast.c.id: (False, flags(H.PAYMENTS))}
    assert [e.action for e in events(session)] == ["user.grants"]
    assert outbox(session) == []


def test_edit_from_a_stale_page_without_data_is_refused(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    stale = target.version
    user_service.save_grants(session, f.actor(cast.staff), target, [GrantInput(cast.a.id, True, {H.PAYMENTS})])
    before = snapshot(session)
    with pytest.raises(ServiceError) as refused:
        user_service.edit_user(session, f.actor(cast.manager), target, stale, None, [GrantInput(cast.a.id, True, {H.FUNDING})])
    assert refused.value.message == user_service.STALE_FORM
    assert snapshot(session) == before


def test_edit_saves_identity_and_grants_in_one_transaction(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    before = snapshot(session)
    with pytest.raises(ServiceError, match="un et un seul"):  # the grants are refused: the new name is not kept either
        user_service.edit_user(session, f.actor(cast.staff), target, target.version, identity(target, last_name="Kenobi"),
                               [GrantInput(cast.a.id, False, {H.REPORTING})])
    assert snapshot(session) == before

    user_service.edit_user(session, f.actor(cast.staff), target, target.version, identity(target, last_name="Kenobi"),
                           [GrantInput(cast.a.id, True, {H.FUNDING})])
    session.expire_all()
    assert session.get(User, target.id).last_name == "KENOBI"
    assert grants_of(session, target.id) == {cast.a.id: (True, flags(H.FUNDING))}
    assert [e.action for e in events(session)] == ["user.update", "user.grants"]


def test_an_edit_of_a_user_deleted_meanwhile_says_it_no_longer_exists(session, cast):
    target = f.user(session, [(cast.a, [H.REPORTING])])
    session.commit()
    version, target_id = target.version, target.id  # the edit page was drawn: this session holds the user
    with Session(bind=session.get_bind()) as other:  # someone else deletes them meanwhile
        bulk_service.delete_users(other, f.actor(other.get(User, cast.staff.id)), [target_id])
    with pytest.raises(ServiceError, match="n'existe plus"):
        user_service.edit_user(session, f.actor(cast.staff), target, version, identity(target, first_name="Lando"),
                               [GrantInput(cast.a, True, {H.REPORTING})])
    session.expire_all()
    assert session.get(User, target_id) is None
