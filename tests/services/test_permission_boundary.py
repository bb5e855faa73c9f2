"""The permission boundary: a delegated administrator grants, removes or changes only what they hold there.

Without it, a « Gestion des utilisateurs » holder could create a second account with Gestion des utilisateurs
on an address he controls and, from it, give himself what he never held. Each test calls the services
directly and checks that a refusal left the database as it was.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from admin_app.authority import REFUSED_MANAGER_GRANT, perimeter_of
from admin_app.services import ServiceError
from admin_app.services import requests as request_service
from admin_app.services import users as user_service
from admin_app.services.users import GrantInput
from models import AccountRequest, AuditEvent, Grant, Habilitation, RequestKind, RequestStatus, User

from . import factories as f

H = Habilitation
PUPPET = {"civility": "M.", "last_name": "Marionnette", "first_name": "Ben", "email": "ben.puppet@example.org",
          "phone": "0611223344", "job_title": ""}


def grants_of(session, user_id: int) -> list[tuple]:
    """A user's grants as stored (establishment, primary, ticked flags), and the audit trail's length."""
    session.expire_all()
    rows = session.scalars(select(Grant).where(Grant.user_id == user_id).order_by(Grant.establishment_id))
    return [(g.establishment_id, g.is_primary, sorted(h.value for h in H if getattr(g, h.value))) for g in rows]


def audit_count(session) -> int:
    return session.scalar(select(func.count(AuditEvent.id)))


def rows_of(user: User, on: int, habilitations) -> list[GrantInput]:
    """The user's grants as the editor sends them back, with `habilitations` on establishment `on`."""
    return [GrantInput(g.establishment_id, g.is_primary, set(habilitations) if g.establishment_id == on
                       else {h for h in H if getattr(g, h.value)}) for g in user.grants]


def test_a_sock_puppet_never_gives_its_creator_more_than_he_had(session):
    a = f.establishment(session, name="Temple")
    obiwan = f.user(session, [(a, f.USER_ADMIN)])
    session.commit()
    puppet = user_service.create_user(session, f.actor(obiwan), PUPPET, [GrantInput(a.id, True, {H.USER_ADMIN})])
    assert grants_of(session, puppet.id) == [(a.id, True, ["user_admin"])]  # what he holds, he may give
    before, events = grants_of(session, obiwan.id), audit_count(session)
    for wanted in (H.SENSITIVE_DATA, H.PAYMENTS, H.REPORTING):
        with pytest.raises(ServiceError) as refused:
            user_service.save_grants(session, f.actor(puppet), obiwan, rows_of(obiwan, a.id, {H.USER_ADMIN, wanted}))
        assert "que vous détenez vous-même sur cet établissement" in refused.value.message
        assert wanted.label in refused.value.message
    with pytest.raises(ServiceError) as refused:
        user_service.save_grants(session, f.actor(puppet), obiwan, rows_of(obiwan, a.id, {H.MANAGER}))
    assert refused.value.message == REFUSED_MANAGER_GRANT.reason
    assert grants_of(session, obiwan.id) == before and audit_count(session) == events


def test_nor_is_a_puppet_created_with_what_its_creator_lacks(session):
    a = f.establishment(session)
    obiwan = f.user(session, [(a, (H.USER_ADMIN, H.FUNDING))])
    session.commit()
    users, events = f.count(session, User), audit_count(session)
    with pytest.raises(ServiceError) as refused:
        user_service.create_user(session, f.actor(obiwan), PUPPET, [GrantInput(a.id, True, {H.USER_ADMIN, H.SENSITIVE_DATA})])
    assert refused.value.message == ("Vous ne pouvez accorder ou retirer que les habilitations que vous détenez vous-même "
                                     "sur cet établissement : Données sensibles.")
    assert f.count(session, User) == users and audit_count(session) == events and not f.outbox(session)


def test_a_user_admin_removes_nothing_he_does_not_hold(session):
    a = f.establishment(session)
    obiwan = f.user(session, [(a, (H.USER_ADMIN, H.FUNDING))])
    padme = f.user(session, [(a, (H.SENSITIVE_DATA, H.FUNDING))])
    session.commit()
    before, events = grants_of(session, padme.id), audit_count(session)
    with pytest.raises(ServiceError) as refused:  # untick Données sensibles
        user_service.save_grants(session, f.actor(obiwan), padme, rows_of(padme, a.id, {H.FUNDING}))
    assert refused.value.message.endswith(": Données sensibles.")
    with pytest.raises(ServiceError):  # detach her from A: every habilitation of the grant goes
        user_service.save_grants(session, f.actor(obiwan), padme, [])
    assert grants_of(session, padme.id) == before and audit_count(session) == events
    # What he holds he may still untick, leaving hers alone.
    assert user_service.save_grants(session, f.actor(obiwan), padme, rows_of(padme, a.id, {H.SENSITIVE_DATA}))
    assert grants_of(session, padme.id) == [(a.id, True, ["sensitive_data"])]


def test_moving_the_primary_flag_touches_no_habilitation(session):
    one = f.company(session)
    a, b = f.establishment(session, one), f.establishment(session, one)
    obiwan = f.user(session, [(a, f.USER_ADMIN), (b, f.USER_ADMIN)])
    padme = f.user(session, [(a, (H.SENSITIVE_DATA,)), (b, (H.PAYMENTS, H.REPORTING))])
    session.commit()
    rows = [GrantInput(g.establishment_id, not g.is_primary, {h for h in H if getattr(g, h.value)}) for g in padme.grants]
    assert user_service.save_grants(session, f.actor(obiwan), padme, rows)
    assert grants_of(session, padme.id) == [(a.id, False, ["sensitive_data"]), (b.id, True, ["payments", "reporting"])]


def test_a_manager_gives_and_removes_everything_on_his_establishments_only(session):
    one = f.company(session)
    a, b = f.establishment(session, one), f.establishment(session, one)
    luke = f.user(session, [(a, f.MANAGER)])
    padme = f.user(session, [(a, (H.FUNDING,))])
    session.commit()
    assert perimeter_of(session, f.actor(luke)).grantable(a.id) == frozenset(H)
    assert perimeter_of(session, f.actor(luke)).grantable(b.id) == frozenset()
    specific = set(H) - {H.MANAGER}
    assert user_service.save_grants(session, f.actor(luke), padme, rows_of(padme, a.id, specific))
    assert grants_of(session, padme.id) == [(a.id, True, sorted(h.value for h in specific))]
    assert user_service.save_grants(session, f.actor(luke), padme, rows_of(padme, a.id, {H.MANAGER}))
    assert grants_of(session, padme.id) == [(a.id, True, sorted(h.value for h in H))]
    assert user_service.save_grants(session, f.actor(luke), padme, rows_of(padme, a.id, set()))
    assert grants_of(session, padme.id) == [(a.id, True, [])]


def test_approving_a_request_asks_the_boundary_too(session):
    a = f.establishment(session)
    obiwan = f.user(session, [(a, (H.USER_ADMIN, H.FUNDING))])
    opening = AccountRequest(**{k: v for k, v in PUPPET.items() if k != "job_title"}, company_name="X", siret=a.siret,
                             kind=RequestKind.OPENING.value, status=RequestStatus.PENDING.value)
    session.add(opening)
    session.commit()
    with pytest.raises(ServiceError):
        request_service.approve_opening(session, f.actor(obiwan), opening, PUPPET, [GrantInput(a.id, True, {H.PAYMENTS})])
    session.expire_all()
    assert session.get(AccountRequest, opening.id).status == RequestStatus.PENDING.value
    assert session.scalar(select(User.id).where(User.email == PUPPET["email"])) is None
    user = request_service.approve_opening(session, f.actor(obiwan), opening, PUPPET, [GrantInput(a.id, True, {H.FUNDING})])
    assert grants_of(session, user.id) == [(a.id, True, ["funding"])]


def test_a_perimeter_without_its_full_held_sets_falls_back_to_what_administering_implies():
    from admin_app.authority import Perimeter

    manual = Perimeter(actor_id=1, unrestricted=False, held={1: frozenset({H.USER_ADMIN}), 2: frozenset({H.MANAGER, H.USER_ADMIN})})
    assert manual.grantable(1) == {H.USER_ADMIN} and manual.grantable(2) == frozenset(H) and manual.grantable(3) == frozenset()
    assert manual.grantable(None) == frozenset(H)  # an establishment still to be chosen: held on at least one
