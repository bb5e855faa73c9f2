"""authority.Perimeter.may_hand_over: a new address gives the account to whoever reads it, so a delegated
administrator may give one only to an account they govern holding nothing beyond them, establishment by
establishment."""

from __future__ import annotations

from admin_app.authority import REFUSED_HAND_OVER, UserAction, perimeter_of
from models import Habilitation as H

from . import factories as f


def test_the_habilitations_beyond_the_actor_are_named_in_the_matrix_order(session):
    a = f.establishment(session)
    obiwan = f.user(session, [(a, [H.USER_ADMIN, H.FUNDING])])
    target = f.user(session, [(a, [H.FUNDING, H.REPORTING, H.SENSITIVE_DATA])])
    session.commit()
    decision = perimeter_of(session, f.actor(obiwan)).may(UserAction.CHANGE_EMAIL, target)
    assert not decision
    assert decision.reason == REFUSED_HAND_OVER.format(labels="Données sensibles, Données des reporting")


def test_what_the_actor_holds_elsewhere_does_not_count(session):
    """Données sensibles held on B does not let them hand over an account holding it on A."""
    a, b = f.establishment(session), f.establishment(session)
    actor = f.user(session, [(a, [H.USER_ADMIN]), (b, [H.USER_ADMIN, H.SENSITIVE_DATA])])
    on_a, on_b = f.user(session, [(a, [H.SENSITIVE_DATA])]), f.user(session, [(b, [H.SENSITIVE_DATA])])
    session.commit()
    perimeter = perimeter_of(session, f.actor(actor))
    assert not perimeter.may(UserAction.CHANGE_EMAIL, on_a)
    assert perimeter.may(UserAction.CHANGE_EMAIL, on_b)


def test_an_account_they_do_not_govern_is_refused_for_that_reason(session):
    a, c = f.establishment(session), f.establishment(session)
    manager = f.user(session, [(a, f.MANAGER)])
    elsewhere, staff = f.user(session, [(a, [H.FUNDING]), (c, [H.FUNDING])]), f.user(session, staff=True)
    session.commit()
    perimeter = perimeter_of(session, f.actor(manager))
    for target in (elsewhere, staff):
        assert perimeter.may(UserAction.CHANGE_EMAIL, target) == perimeter.governs(target)
        assert not perimeter.governs(target)


def test_a_gestionnaire_hands_over_any_account_of_their_establishments_and_staff_any_account(session):
    a = f.establishment(session)
    manager, staff = f.user(session, [(a, f.MANAGER)]), f.user(session, staff=True)
    target = f.user(session, [(a, [H.SENSITIVE_DATA, H.PAYMENTS, H.REPORTING])])
    session.commit()
    assert perimeter_of(session, f.actor(manager)).may(UserAction.CHANGE_EMAIL, target)
    assert perimeter_of(session, f.actor(staff)).may(UserAction.CHANGE_EMAIL, target)
