"""How stored values are shown: a phone number the French way, nothing at all when there is none."""

from __future__ import annotations

import pytest

from models.rules import format_phone


@pytest.mark.parametrize("empty", ["", None])
def test_no_phone_shows_nothing(empty):
    assert format_phone(empty) == ""


@pytest.mark.parametrize("stored, shown", [
    ("+33612345678", "06 12 34 56 78"),
    ("+442071838750", "+44 20 7183 8750"),
    ("pas un numéro", "pas un numéro"),
])
def test_a_stored_phone_is_shown_as_people_write_it(stored, shown):
    assert format_phone(stored) == shown
