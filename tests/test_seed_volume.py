"""`seed volume`: realistic data (a long tail of company sizes, French names, consistent account
histories), reproducible, fast, on SQLite and PostgreSQL."""

import statistics
from collections import Counter

import pytest
from sqlalchemy import func, select
from stdnum import luhn

from models import (
    AccountRequest,
    AuditEvent,
    Base,
    Company,
    Establishment,
    Grant,
    OutboundEmail,
    User,
    utcnow,
)
from models.rules import clean_phone

USERS = 3000


def empty(db) -> None:
    for table in reversed(Base.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def volume(runner, db):
    result = runner.invoke(args=["seed", "volume", "--users", str(USERS)])
    assert result.exit_code == 0, result.output
    return db


# Seeding takes seconds: each test seeds once and runs several groups of checks.
def test_companies_and_people_look_real(volume):
    establishments_per_company_have_a_long_tail(volume)
    identifiers_are_valid_and_each_user_has_one_primary_grant(volume)
    names_are_french_and_varied_and_emails_unique(volume)


def test_each_account_has_dates_in_order_and_a_history_that_follows_them(volume):
    account_dates_are_in_order_and_logins_have_a_password(volume)
    history_follows_each_accounts_dates(volume)


def establishments_per_company_have_a_long_tail(volume):
    sizes = sorted(volume.session.scalars(select(func.count()).select_from(Establishment).group_by(Establishment.company_id)))
    assert len(sizes) == USERS // 10
    # Most companies have 1 to 5 establishments; a few national networks, scaled to the volume (1,500 at
    # 100,000 users: 45 here), dwarf them.
    assert statistics.median(sizes) <= 2
    assert sum(size <= 5 for size in sizes) >= 0.85 * len(sizes)
    assert sizes[-1] >= 40 and sizes[-1] >= 20 * statistics.median(sizes)
    # The largest company's users come in proportion; its first accounts administer every establishment.
    largest = volume.session.scalar(select(Establishment.company_id).group_by(Establishment.company_id)
                                    .order_by(func.count().desc()).limit(1))
    per_user = volume.session.execute(
        select(Grant.user_id, func.count()).join(Establishment).where(Establishment.company_id == largest).group_by(Grant.user_id)
    ).all()
    assert len(per_user) > USERS * sizes[-1] / sum(sizes) / 2
    assert sum(count == sizes[-1] for _, count in per_user) == 2


def identifiers_are_valid_and_each_user_has_one_primary_grant(volume):
    companies = {c.id: c.siren for c in volume.session.scalars(select(Company))}
    for establishment in volume.session.scalars(select(Establishment)):
        assert luhn.is_valid(establishment.siret) and establishment.siret[:9] == establishment.siren == companies[establishment.company_id]
        assert len(establishment.postal_code) == 5 and establishment.city
    assert all(luhn.is_valid(siren) for siren in companies.values())
    primaries = Counter(volume.session.scalars(select(Grant.user_id).where(Grant.is_primary.is_(True))))
    assert len(primaries) == USERS and set(primaries.values()) == {1}
    phones = volume.session.scalars(select(User.phone).limit(300)).all()
    assert all(clean_phone(phone) == phone for phone in phones)


def names_are_french_and_varied_and_emails_unique(volume):
    people = volume.session.execute(select(User.last_name, User.first_name, User.email, User.civility)).all()
    last_names = Counter(p.last_name for p in people)
    first_names = Counter(p.first_name for p in people)
    assert len(last_names) > 400 and len(first_names) > 200
    # No name shared by more than a small share, unlike a handful of names repeated thousands of times.
    assert max(last_names.values()) < 0.01 * USERS and max(first_names.values()) < 0.02 * USERS
    assert len({(p.last_name, p.first_name) for p in people}) > 0.95 * USERS
    assert all(p.last_name == p.last_name.upper() for p in people)
    assert any("-" in p.last_name for p in people) and any(" " in p.last_name for p in people)
    assert len({p.email for p in people}) == USERS
    assert all(p.email.endswith("@volume.example.org") and p.email == p.email.lower() for p in people)
    assert 0.5 < sum(p.civility == "Mme" for p in people) / USERS < 0.7


def account_dates_are_in_order_and_logins_have_a_password(volume):
    now = utcnow()
    users = volume.session.scalars(select(User)).all()
    for user in users:
        steps = [user.created_at, user.email_verified_at, user.last_login_at]
        present = [step for step in steps if step is not None]
        assert present == sorted(present) and present[-1] <= now, user.email
        assert user.updated_at >= present[-1]
        if user.last_login_at is not None:
            assert user.email_verified_at is not None and user.password_hash is not None, user.email
        if user.password_hash is not None:
            assert user.email_verified_at is not None
    # One hash, of a password nobody knows, for every account that has one.
    assert len({u.password_hash for u in users if u.password_hash}) == 1
    assert next(u.password_hash for u in users if u.password_hash).startswith("$argon2")
    # Ids follow creation dates.
    by_id = [u.created_at for u in sorted(users, key=lambda u: u.id)]
    assert by_id == sorted(by_id)
    share = Counter(
        "logged in" if u.last_login_at else "password, never logged in" if u.password_hash
        else "verified, no password" if u.email_verified_at else "never verified" for u in users
    )
    assert 0.8 < share["logged in"] / USERS < 0.95
    assert share["never verified"] > 0.03 * USERS and share["verified, no password"] > 0.02 * USERS
    assert share["password, never logged in"] > 0
    assert 0.05 < sum(not u.active for u in users) / USERS < 0.15
    # Logged in over the whole life of the portal, most of them recently.
    recent = sum(u.last_login_at is not None and (now - u.last_login_at).days < 30 for u in users)
    assert 0.3 * USERS < recent < 0.9 * USERS


def history_follows_each_accounts_dates(volume):
    users = {u.id: u for u in volume.session.scalars(select(User))}
    by_email = {u.email: u for u in users.values()}
    for email in volume.session.scalars(select(OutboundEmail)):
        user = by_email[email.recipient]
        assert email.created_at <= email.sent_at
        if email.kind == "verify_email":
            assert email.created_at == user.created_at and email.sent_at <= (user.email_verified_at or email.sent_at)
        else:
            assert email.kind == "set_password" and email.created_at == user.email_verified_at
    last = {}
    for event in volume.session.scalars(select(AuditEvent).where(AuditEvent.target_type == "user").order_by(AuditEvent.id)):
        user = users[event.target_id]
        assert event.created_at >= user.created_at
        expected = {"user.create": user.created_at, "user.verify_email": user.email_verified_at,
                    "login.success": user.last_login_at}.get(event.action)
        assert expected is None or event.created_at == expected, event.action
        if event.action == "user.set_password":
            assert user.email_verified_at <= event.created_at
            assert user.last_login_at is None or event.created_at <= user.last_login_at
        last[event.target_id] = event.created_at
    assert max(last.values()) <= utcnow()
    # Audit entries are numbered in time order, as the app writes them.
    times = volume.session.scalars(select(AuditEvent.created_at).order_by(AuditEvent.id)).all()
    assert times == sorted(times)
    # An approved request opened its account just before; the others are other people's.
    for request in volume.session.scalars(select(AccountRequest)):
        if request.status == "approved":
            user = users[request.user_id]
            assert request.requested_at <= request.decided_at == user.created_at and request.email == user.email
        else:
            assert request.user_id is None and request.email not in by_email
            assert request.decided_at is None if request.status == "pending" else request.requested_at <= request.decided_at


def test_two_runs_on_fresh_databases_give_the_same_data(runner, db):
    def snapshot():
        assert runner.invoke(args=["seed", "volume", "--users", "1000"]).exit_code == 0
        people = db.session.execute(select(User.last_name, User.first_name, User.email, User.phone).order_by(User.id)).all()
        companies = db.session.execute(select(Company.name, Company.siren).order_by(Company.id)).all()
        sites = db.session.execute(select(Establishment.name, Establishment.siret, Establishment.city).order_by(Establishment.id)).all()
        grants = db.session.execute(select(Grant.user_id, Grant.establishment_id, Grant.manager).order_by(Grant.user_id, Grant.establishment_id)).all()
        db.session.commit()
        return people, companies, sites, grants

    first = snapshot()
    empty(db)
    assert snapshot() == first
