"""The habilitation matrix, checked cell by cell against the guide's table (section 5)."""

from types import SimpleNamespace

import pytest

from models import FEATURES, Habilitation, can
from models.habilitations import MATRIX_COLUMNS, grant_features, opens

from ..guide_table import COLUMNS, GUIDE_TABLE


def make_user(flags_by_establishment: dict[int, set[str]], active: bool = True):
    grants = [
        SimpleNamespace(establishment_id=eid, **{h.value: h.value in flags for h in Habilitation})
        for eid, flags in flags_by_establishment.items()
    ]
    return SimpleNamespace(active=active, grants=grants)


def test_the_code_lists_exactly_the_guide_features_in_its_order():
    assert list(FEATURES) == list(GUIDE_TABLE)
    assert [h.value for h in MATRIX_COLUMNS] == COLUMNS


@pytest.mark.parametrize("feature", list(GUIDE_TABLE))
@pytest.mark.parametrize("habilitation", COLUMNS)
def test_each_cell_of_the_matrix(feature, habilitation):
    expected = GUIDE_TABLE[feature][habilitation]
    assert opens(Habilitation(habilitation), feature) is expected
    user = make_user({1: {habilitation}})
    assert can(user, feature) is expected
    assert can(user, feature, establishment_id=1) is expected
    assert can(user, feature, establishment_id=2) is False  # not on another establishment


@pytest.mark.parametrize("feature", list(GUIDE_TABLE))
def test_no_grant_opens_nothing_and_an_empty_grant_opens_the_universal_features(feature):
    assert can(make_user({}), feature) is False
    universal = all(GUIDE_TABLE[feature].values())
    assert can(make_user({1: set()}), feature) is universal


@pytest.mark.parametrize("feature", list(GUIDE_TABLE))
def test_an_inactive_user_can_do_nothing(feature):
    assert can(make_user({1: {"manager"}}, active=False), feature) is False


def test_manager_opens_every_feature_and_grant_features_follow_the_guide_order():
    manager_grant = make_user({1: {"manager"}}).grants[0]
    assert grant_features(manager_grant) == list(GUIDE_TABLE)
    reporting = make_user({1: {"reporting"}}).grants[0]
    assert grant_features(reporting) == [f for f, row in GUIDE_TABLE.items() if row["reporting"]]


def test_habilitations_combine_per_establishment():
    user = make_user({1: {"funding"}, 2: {"payments"}})
    assert can(user, "Créer un dossier", 1) and not can(user, "Créer un dossier", 2)
    assert can(user, "Déclarer les contributions formations", 2)
    assert not can(user, "Déclarer les contributions formations", 1)


def test_unknown_feature_is_an_error():
    with pytest.raises(KeyError, match="Piloter le Faucon Millenium"):
        can(make_user({1: {"manager"}}), "Piloter le Faucon Millenium")
