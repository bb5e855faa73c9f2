"""Rules the database itself enforces, on SQLite and PostgreSQL alike."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from models import Company, Establishment, Grant, User
from models.rules import InvalidValue


def make_user(email="luke@example.org", **kwargs):
    values = dict(civility="M.", last_name="Skywalker", first_name="Luke", email=email, phone="0612345678")
    values.update(kwargs)
    return User(**values)


@pytest.fixture
def jedi(db):
    company = Company(name="Temple JEDI", siren="111385407")
    first = Establishment(company=company, name="Temple JEDI", siret="11138540700015", postal_code="99019", city="Coruscant")
    second = Establishment(company=company, name="Annexe", siret="11138540700023")
    db.session.add_all([company, first, second])
    db.session.commit()
    return company, first, second


def test_establishment_label_is_the_guides(jedi):
    _, first, second = jedi
    assert first.label == "Temple JEDI – 111385407 00015 – 99019 Coruscant"
    assert second.label == "Annexe – 111385407 00023"


def test_user_values_are_normalised(db):
    user = make_user(email="Luke@Example.ORG", phone="06 12 34 56 78", last_name="  Skywalker ")
    db.session.add(user)
    db.session.commit()
    assert (user.email, user.phone, user.last_name) == ("luke@example.org", "+33612345678", "SKYWALKER")
    assert user.search_text == "skywalker luke"


def test_email_unique_case_insensitively(db):
    db.session.add(make_user())
    db.session.commit()
    db.session.add(make_user(email="LUKE@example.org"))
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_database_refuses_upper_case_email_written_around_the_model(db):
    with pytest.raises(IntegrityError):
        db.session.execute(
            text(
                "INSERT INTO users (civility, last_name, first_name, email, phone, active, is_staff, created_at,"
                " updated_at, version, search_text, session_token, link_nonce)"
                " VALUES ('M.', 'X', 'Y', 'Upper@Example.org', '+33612345678', true, false, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP, 1, '', 'a', 'b')"
            )
        )
        db.session.commit()


def test_siret_must_start_with_its_companys_siren(db, jedi):
    other = Company(name="OPCA DEFI", siren="402820658")
    db.session.add(other)
    db.session.commit()
    db.session.add(Establishment(company=other, name="Faux", siret="11138540700031"))
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_invalid_siret_is_refused_by_the_model(jedi):
    with pytest.raises(InvalidValue):
        Establishment(company=jedi[0], name="X", siret="11138540700016")


def test_one_grant_per_user_and_establishment(db, jedi):
    user = make_user()
    user.grants.append(Grant(establishment=jedi[1], is_primary=True))
    db.session.add(user)
    db.session.commit()
    db.session.add(Grant(user=user, establishment=jedi[1]))
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_at_most_one_primary_grant_per_user(db, jedi):
    user = make_user()
    user.grants.append(Grant(establishment=jedi[1], is_primary=True))
    user.grants.append(Grant(establishment=jedi[2], is_primary=False))
    other = make_user(email="leia@example.org")
    other.grants.append(Grant(establishment=jedi[1], is_primary=True))  # another user's primary is fine
    db.session.add_all([user, other])
    db.session.commit()
    user.grants[1].is_primary = True
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_deleting_a_user_deletes_their_grants(db, jedi):
    user = make_user()
    user.grants.append(Grant(establishment=jedi[1], is_primary=True))
    db.session.add(user)
    db.session.commit()
    db.session.execute(text("DELETE FROM users"))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Grant)) == 0


def test_an_establishment_with_grants_cannot_be_deleted_by_the_database(db, jedi):
    user = make_user()
    user.grants.append(Grant(establishment=jedi[1], is_primary=True))
    db.session.add(user)
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(text(f"DELETE FROM establishments WHERE id = {jedi[1].id}"))
        db.session.commit()


def test_version_increments_on_each_save(db):
    user = make_user()
    db.session.add(user)
    db.session.commit()
    assert user.version == 1
    user.job_title = "Maître Jedi"
    db.session.commit()
    assert user.version == 2


def test_datetimes_come_back_timezone_aware_utc(db):
    user = make_user()
    db.session.add(user)
    db.session.commit()
    db.session.expire_all()
    assert user.created_at.tzinfo is not None and user.created_at.utcoffset().total_seconds() == 0
