"""The flask commands: seed demo, seed volume, create-staff, send-mail."""

from sqlalchemy import func, select

from admin_app.extensions import db as app_db
from admin_app.services import SYSTEM_ACTOR, users
from models import AccountRequest, AuditEvent, Company, Establishment, Grant, OutboundEmail, User


def count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_seed_demo_loads_the_guides_cast_and_is_idempotent(runner, db):
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert "ajoutée" in result.output
    luke = db.session.scalar(select(User).where(User.email == "luke.skywalker@example.org"))
    assert (luke.last_name, luke.first_name, luke.job_title) == ("SKYWALKER", "Luke", "Directeur des Ressources Jedi")
    assert luke.primary_grant.establishment.name == "Temple JEDI"
    assert luke.primary_grant.manager
    jarjar = db.session.scalar(select(AccountRequest).where(AccountRequest.last_name == "BINKS"))
    assert (jarjar.first_name, jarjar.job_title, jarjar.company_name, jarjar.kind_label, jarjar.status) == (
        "Jar-Jar", "Gaffeur du mois", "OPCA DEFI", "Ouverture", "pending",
    )
    assert count(db, AccountRequest, AccountRequest.kind == "attachment") >= 1
    assert count(db, User, User.active.is_(False)) >= 1
    assert count(db, User, User.last_login_at.is_(None)) >= 1
    assert count(db, User) >= 6 and count(db, Company) >= 3
    assert db.session.scalar(select(Establishment.siret).where(Establishment.name == "OPCA DEFI")) == "40282065800217"
    totals = [count(db, m) for m in (User, Company, Establishment, Grant, AccountRequest)]
    db.session.close()

    again = runner.invoke(args=["seed", "demo"])
    assert again.exit_code == 0 and "0 ligne" in again.output
    assert [count(db, m) for m in (User, Company, Establishment, Grant, AccountRequest)] == totals


def test_seed_demo_if_empty_leaves_a_used_database_alone(runner, db):
    runner.invoke(args=["seed", "demo"])
    db.session.execute(User.__table__.delete().where(User.email == "han.solo@example.org"))
    db.session.commit()
    result = runner.invoke(args=["seed", "demo-if-empty"])
    assert "déjà" in result.output
    assert count(db, User, User.email == "han.solo@example.org") == 0


def test_seed_volume_is_deterministic_with_one_primary_each(runner, db):
    result = runner.invoke(args=["seed", "volume", "--users", "500"])
    assert result.exit_code == 0, result.output
    assert count(db, User) == 500
    assert count(db, Company) == 50 and count(db, Establishment) > 50  # sizes: tests/test_seed_volume.py
    assert count(db, Grant, Grant.is_primary.is_(True)) == 500
    grants = count(db, Grant)
    assert 500 * 1.05 < grants < 500 * 1.5
    # Their history at scale: the requests that opened some, the emails and the audit trail.
    requests = count(db, AccountRequest)
    assert 20 < requests < 90
    assert count(db, AccountRequest, AccountRequest.status == "approved", AccountRequest.user_id.is_(None)) == 0
    emails = count(db, OutboundEmail, OutboundEmail.status == "sent")
    assert count(db, OutboundEmail, OutboundEmail.kind == "verify_email") == 500 < emails
    assert count(db, AuditEvent, AuditEvent.action == "user.create") == 500
    assert count(db, AuditEvent, AuditEvent.action == "email.sent") == emails
    assert f"{requests} demandes, {emails} emails, {count(db, AuditEvent)} entrées d'historique" in result.output
    first = db.session.execute(select(User.last_name, User.first_name).order_by(User.id).limit(3)).all()
    db.session.close()
    # Same seed, same data: a fresh database gets the same names.
    for table in ("grants", "users", "establishments", "companies"):
        db.session.execute(Base_table(table).delete())
    db.session.commit()
    runner.invoke(args=["seed", "volume", "--users", "500"])
    again = db.session.execute(select(User.last_name, User.first_name).order_by(User.id).limit(3)).all()
    assert again == first


def test_records_created_after_seed_volume_get_fresh_ids(app, runner, db):
    """The volume is inserted with explicit ids: PostgreSQL's sequences must be moved past them."""
    assert runner.invoke(args=["seed", "volume", "--users", "60"]).exit_code == 0
    highest = {model: db.session.scalar(select(func.max(model.id))) for model in (User, Company, Establishment)}
    with app.app_context():
        created = users.create_user(app_db.session, SYSTEM_ACTOR, {
            "civility": "Mme", "last_name": "Organa", "first_name": "Leia", "email": "leia@example.org", "phone": "0612345678"})
        company = Company(name="Alliance", siren="732829320")
        app_db.session.add(Establishment(company=company, name="Yavin", siret="73282932000074", postal_code="75001", city="Paris"))
        app_db.session.commit()
        new_ids = {User: created.id, Company: company.id, Establishment: company.establishments[0].id}
        app_db.session.remove()
    assert all(new_ids[model] > highest[model] for model in highest), (new_ids, highest)
    assert count(db, User, User.email == "leia@example.org") == 1 and count(db, User) == 61


def Base_table(name):
    from models import Base

    return Base.metadata.tables[name]


def test_create_staff_with_options(runner, db):
    result = runner.invoke(
        args=["create-staff", "--email", "Han@Example.org", "--password", "correct horse battery",
              "--last-name", "Solo", "--first-name", "Han", "--phone", "0612345678"]
    )
    assert result.exit_code == 0, result.output
    han = db.session.scalar(select(User).where(User.email == "han@example.org"))
    assert han.is_staff and han.active and han.password_hash and han.email_verified_at
    assert count(db, AuditEvent, AuditEvent.action == "user.create", AuditEvent.target_id == han.id) == 1


def test_create_staff_refuses_a_weak_password_and_creates_nothing(runner, db):
    result = runner.invoke(
        args=["create-staff", "--email", "han@example.org", "--password", "short",
              "--last-name", "Solo", "--first-name", "Han", "--phone", "0612345678"]
    )
    assert result.exit_code != 0
    assert "au moins 12 caractères" in result.output
    common = runner.invoke(
        args=["create-staff", "--email", "han@example.org", "--password", "azertyuiop123",
              "--last-name", "Solo", "--first-name", "Han", "--phone", "0612345678"]
    )
    assert "trop courant" in common.output
    assert count(db, User) == 0


def test_create_staff_prompts(runner, db):
    result = runner.invoke(
        args=["create-staff"],
        input="leia@example.org\nun mot de passe solide\nun mot de passe solide\nOrgana\nLeia\n0612345678\n",
    )
    assert result.exit_code == 0, result.output
    assert count(db, User, User.email == "leia@example.org", User.is_staff.is_(True)) == 1
