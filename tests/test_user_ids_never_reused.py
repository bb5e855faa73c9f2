"""A user id is never given twice, on either database: operation items keep a deleted user's id (no foreign key),
so a newer account with that id would inherit their history and be touched by undoing their operations."""

from sqlalchemy import delete, func, select

from models import User

from .services import factories as f


def newest_deleted(db) -> int:
    newest = db.session.scalar(select(func.max(User.id)))
    db.session.execute(delete(User).where(User.id == newest))
    db.session.commit()
    return newest


def test_the_next_user_does_not_get_the_deleted_newest_users_id(db):
    f.user(db.session), f.user(db.session)
    db.session.commit()
    gone = newest_deleted(db)
    assert f.user(db.session).id > gone


def test_a_user_created_after_seed_volume_then_deleted_does_not_give_its_id_to_the_next(runner, db):
    result = runner.invoke(args=["seed", "volume", "--users", "60"])
    assert result.exit_code == 0, result.output
    seeded = db.session.scalar(select(func.max(User.id)))
    after_seed = f.user(db.session)
    db.session.commit()
    assert after_seed.id > seeded  # the explicit ids moved SQLite's AUTOINCREMENT mark (PostgreSQL's sequence) on
    gone = newest_deleted(db)
    assert f.user(db.session).id > gone


def test_seed_volume_does_not_give_a_deleted_users_id_to_a_seeded_account(app, runner, db):
    """Chewie deletes the newest user (the deletion keeps their id in its operation's items): the accounts seeded
    next start past it, so none of them inherits that history."""
    from admin_app.extensions import db as _db
    from admin_app.services import bulk

    company = f.company(db.session)
    site = f.establishment(db.session, company)
    deleter = f.user(db.session, [(site, f.MANAGER)])
    victim = f.user(db.session, [(site, f.NONE)])
    db.session.commit()
    deleter_id, gone = deleter.id, victim.id
    with app.app_context():
        bulk.delete_users(_db.session, f.actor(_db.session.get(User, deleter_id)), [gone])
        _db.session.remove()
    db.session.expire_all()
    assert db.session.get(User, gone) is None
    result = runner.invoke(args=["seed", "volume", "--users", "60"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(User, gone) is None and db.session.scalar(select(func.count()).select_from(User)) > 60
