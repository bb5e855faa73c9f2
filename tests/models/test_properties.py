"""Property-based tests (Hypothesis) of the validators and of the grant editor's rules."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from stdnum import luhn

from admin_app.services import Actor
from admin_app.services.passwords import MIN_LENGTH, common_passwords, password_problem
from admin_app.services.users import GrantInput, save_grants
from models import Company, Establishment, Grant, User
from models.rules import (
    InvalidValue,
    clean_email,
    clean_phone,
    clean_siren,
    clean_siret,
    clean_text,
    format_phone,
)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.sampled_from(["", " ", "  "]))
def test_any_luhn_valid_siren_is_accepted_with_or_without_spaces(prefix, sep):
    siren = prefix + luhn.calc_check_digit(prefix)
    assert clean_siren(sep.join([siren[:3], siren[3:6], siren[6:]])) == siren


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.integers(1, 9))
def test_a_wrong_check_digit_is_always_refused(prefix, shift):
    good = int(luhn.calc_check_digit(prefix))
    with pytest.raises(InvalidValue):
        clean_siren(prefix + str((good + shift) % 10))


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.text(alphabet="0123456789", min_size=4, max_size=4))
def test_siret_follows_the_same_rule(siren_prefix, nic):
    # A SIRET is a valid SIREN followed by a NIC, the whole Luhn-valid (La Poste has its own rule).
    siren = siren_prefix + luhn.calc_check_digit(siren_prefix)
    assume(siren != "356000000")
    siret = siren + nic + luhn.calc_check_digit(siren + nic)
    assert clean_siret(siret) == siret


# Mobile ranges allocated in metropolitan France (06 39 belongs to Mayotte, 07 0x–07 3x are unallocated).
MOBILE_PREFIXES = ["61", "62", "64", "65", "67", "68", "75", "76", "77", "78"]


@given(st.sampled_from(MOBILE_PREFIXES), st.text(alphabet="0123456789", min_size=7, max_size=7),
       st.sampled_from(["0{0}{1}", "0{0} {1}", "+33 {0} {1}", "0{0}.{1}", "0033{0}{1}"]))
def test_french_mobile_numbers_in_any_common_spelling_give_one_e164(prefix, rest, pattern):
    e164 = clean_phone(pattern.format(prefix, rest))
    assert e164 == f"+33{prefix}{rest}"
    assert clean_phone(format_phone(e164)) == e164  # what the screens show can be typed back


@given(st.from_regex(r"[a-z][a-z0-9._-]{0,15}[a-z0-9]@[a-z][a-z0-9-]{0,10}\.(fr|org|com)", fullmatch=True))
def test_email_normalisation_is_case_insensitive_and_idempotent(address):
    assume(".." not in address and "._" not in address and "-." not in address and ".-" not in address)
    try:
        clean = clean_email(address)
    except InvalidValue:
        assume(False)
    assert clean_email(address.upper()) == clean == clean_email(clean)


@given(st.text(min_size=0, max_size=40))
def test_password_policy(password):
    problem = password_problem(password, "luke@example.org")
    expected_ok = (len(password) >= MIN_LENGTH and password.casefold() not in common_passwords()
                   and password.casefold() not in ("luke@example.org", "luke"))
    assert (problem is None) == expected_ok


@given(st.text(max_size=300))
def test_clean_text_never_lets_invisible_characters_through_and_is_idempotent(value):
    try:
        cleaned = clean_text(value, "Le champ", 200, required=False)
    except InvalidValue:
        return
    assert all(ch.isprintable() or ch == " " for ch in cleaned)
    assert clean_text(cleaned, "Le champ", 200, required=False) == cleaned


# --- the grant editor: any sequence of add / remove / primary keeps exactly one primary ------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 4)),
        st.tuples(st.just("remove"), st.integers(0, 4)),
        st.tuples(st.just("primary"), st.integers(0, 4)),
    ),
    max_size=12,
)


def apply_editor(rows: list[dict], op: tuple[str, int], establishment_ids: list[int]) -> None:
    """What static/users.js does on each click."""
    kind, index = op
    if kind == "add":
        eid = establishment_ids[index]
        if any(r["id"] == eid for r in rows):
            return  # "Cet établissement est déjà dans la liste."
        rows.append({"id": eid, "primary": not any(r["primary"] for r in rows)})
    elif kind == "remove" and rows:
        removed = rows.pop(index % len(rows))
        if removed["primary"] and rows:
            rows[0]["primary"] = True
    elif kind == "primary" and rows:
        for i, row in enumerate(rows):
            row["primary"] = i == index % len(rows)


@pytest.fixture
def five_establishments(db):
    company = Company(name="Temple JEDI", siren="111385407")
    establishments = [Establishment(company=company, name=f"Site {n}", siret=(p := f"11138540700{n:02d}") + luhn.calc_check_digit(p))
                      for n in range(1, 6)]
    db.session.add_all([company, *establishments])
    db.session.commit()
    return [e.id for e in establishments]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_any_editor_sequence_saves_exactly_one_primary(db, app_context, five_establishments, ops):
    user = User(civility="M.", last_name="Skywalker", first_name="Luke", email="luke@example.org", phone="0612345678")
    db.session.add(user)
    db.session.commit()
    try:
        rows: list[dict] = []
        for op in ops:
            apply_editor(rows, op, five_establishments)
        save_grants(db.session, Actor(), user, [GrantInput(r["id"], r["primary"]) for r in rows])
        primaries = db.session.scalar(select(func.count()).select_from(Grant).where(Grant.user_id == user.id, Grant.is_primary.is_(True)))
        total = db.session.scalar(select(func.count()).select_from(Grant).where(Grant.user_id == user.id))
        assert total == len(rows)
        assert primaries == (1 if rows else 0)
    finally:
        db.session.delete(user)
        db.session.commit()
