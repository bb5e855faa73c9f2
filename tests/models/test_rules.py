"""Validation rules for SIREN, SIRET, phone numbers and emails."""

import pytest

from models.rules import InvalidValue, clean_email, clean_phone, clean_siren, clean_siret, format_phone


@pytest.mark.parametrize("typed, stored", [("402820658", "402820658"), ("402 820 658", "402820658")])
def test_valid_siren(typed, stored):
    assert clean_siren(typed) == stored


@pytest.mark.parametrize(
    "typed, message",
    [
        ("40282065", "9 chiffres"),
        ("4028206581", "9 chiffres"),
        ("40282065A", "9 chiffres"),
        ("402820659", "clé de contrôle"),
        ("", "9 chiffres"),
    ],
)
def test_invalid_siren(typed, message):
    with pytest.raises(InvalidValue, match=message):
        clean_siren(typed)


def test_siret():
    assert clean_siret("402 820 658 00217") == "40282065800217"
    with pytest.raises(InvalidValue, match="14 chiffres"):
        clean_siret("4028206580021")
    with pytest.raises(InvalidValue, match="clé de contrôle"):
        clean_siret("40282065800218")


# La Poste (SIREN 356 000 000): its head office's SIRET follows Luhn, its other establishments do not;
# their digits add up to a multiple of 5 instead (python-stdnum's rule, checked against stdnum itself).
@pytest.mark.parametrize("typed, stored", [
    ("356 000 000 00048", "35600000000048"),  # the head office
    ("356 000 000 49837", "35600000049837"),  # an establishment: not Luhn-valid, sum of digits 45
    ("35600000000015", "35600000000015"),
])
def test_la_poste_sirets_are_accepted(typed, stored):
    assert clean_siret(typed) == stored
    assert clean_siren(stored[:9]) == "356000000"


@pytest.mark.parametrize("typed", ["35600000049836", "35600000000049"])
def test_la_poste_sirets_with_a_wrong_key_are_refused_in_french(typed):
    with pytest.raises(InvalidValue, match=r"^Ce SIRET n'est pas valide \(clé de contrôle incorrecte\)\.$"):
        clean_siret(typed)


def test_a_siret_must_start_with_a_valid_siren():
    # 123456781 is not a valid SIREN; 12345678100004 is Luhn-valid over its 14 digits all the same.
    with pytest.raises(InvalidValue, match="clé de contrôle"):
        clean_siret("12345678100004")


@pytest.mark.parametrize("typed", ["40282065\u00b2", "4O2820658", "402820658\u0000"])
def test_only_digits_make_a_siren(typed):
    with pytest.raises(InvalidValue, match="^Le SIREN doit comporter 9 chiffres.$"):
        clean_siren(typed)


@pytest.mark.parametrize(
    "typed",
    ["06 12 34 56 78", "0612345678", "06.12.34.56.78", "+33 6 12 34 56 78", "+33612345678", "0033 6 12 34 56 78"],
)
def test_french_phone_numbers_as_people_type_them(typed):
    assert clean_phone(typed) == "+33612345678"
    assert format_phone("+33612345678") == "06 12 34 56 78"


def test_foreign_phone_numbers_are_kept_international():
    assert clean_phone("+32 470 12 34 56") == "+32470123456"
    assert format_phone("+32470123456").startswith("+32")


@pytest.mark.parametrize("typed", ["", "12", "06 12 34", "not a number", "07 11 22 33 44"])
def test_invalid_phone_numbers(typed):
    with pytest.raises(InvalidValue):
        clean_phone(typed)


def test_email_is_normalised_lower_case():
    assert clean_email("  Luke.Skywalker@Example.ORG ") == "luke.skywalker@example.org"


@pytest.mark.parametrize("typed", ["", "luke", "luke@", "@example.org", "luke@@example.org", "luke skywalker@example.org"])
def test_invalid_emails(typed):
    with pytest.raises(InvalidValue):
        clean_email(typed)
