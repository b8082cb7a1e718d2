"""Errors, categories, positions and management levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import domain as d

ERRORS = [
    (d.IllegalTransition, 409), (d.ContractOverlap, 409), (d.TargetsInvalid, 422),
    (d.TargetsLocked, 409), (d.RenewalLimitReached, 409), (d.InvalidOrgMove, 422),
    (d.SignatoryRequired, 422), (d.InvalidCategory, 422), (d.TermInvalid, 422),
    (d.AmendmentInvalid, 422),
]


@pytest.mark.parametrize(("cls", "status"), ERRORS, ids=[c.__name__ for c, _ in ERRORS])
def test_each_domain_error_carries_its_http_status_and_a_title(cls: type[d.DomainError],
                                                                status: int) -> None:
    err = cls("what happened", errors={"field": ["why"]})
    assert isinstance(err, d.DomainError)
    assert err.status == status and cls.status == status
    assert err.title and err.title != d.DomainError.title
    assert err.detail == "what happened" and str(err) == "what happened"
    assert err.errors == {"field": ["why"]}


def test_a_domain_error_without_detail_falls_back_to_its_title_and_no_field_errors() -> None:
    err = d.TargetsLocked()
    assert err.detail == "Targets Locked" and err.errors == {}


def test_error_messages_are_copied_not_shared() -> None:
    messages = ["why"]
    err = d.TargetsInvalid("x", errors={"f": messages})
    messages.append("later")
    assert err.errors == {"f": ["why"]}


# --- categories -------------------------------------------------------------------------------

@pytest.mark.parametrize("category", list(d.Category))
def test_well_known_categories_are_valid(category: d.Category) -> None:
    assert d.validate_category(category.value) == category.value


@pytest.mark.parametrize("category", ["strategic_emerging", "ab", "a" + "b" * 47, "tier2_energy"])
def test_custom_category_slugs_are_allowed(category: str) -> None:
    assert d.validate_category(category) == category


@pytest.mark.parametrize("category", [
    "", "a", "a" + "b" * 48, "Public_welfare", "2tier", "_x", "has space", "has-dash", None, 7,
])
def test_category_that_is_not_a_slug_is_refused(category: object) -> None:
    with pytest.raises(d.InvalidCategory) as info:
        d.validate_category(category)
    assert info.value.status == 422 and "category" in info.value.errors
    assert isinstance(info.value, ValueError)  # schema fields catch it as a ValueError


@given(st.from_regex(r"[a-z][a-z0-9_]{1,47}", fullmatch=True))
def test_every_slug_matching_the_pattern_is_accepted(slug: str) -> None:
    assert d.validate_category(slug) == slug


# --- management levels ------------------------------------------------------------------------

LEADERS = [d.Position.CHAIR, d.Position.GENERAL_MANAGER, d.Position.DEPUTY_GENERAL_MANAGER,
           d.Position.CHIEF_FINANCIAL_OFFICER, d.Position.CHIEF_ENGINEER,
           d.Position.BOARD_SECRETARY]


@pytest.mark.parametrize("position", LEADERS)
def test_leaders_at_the_group_hq_are_group_leadership(position: d.Position) -> None:
    assert d.default_level(position, 1) is d.ManagementLevel.GROUP_LEADERSHIP


@pytest.mark.parametrize("position", LEADERS)
@pytest.mark.parametrize("layer", [2, 3, 4])
def test_leaders_below_the_hq_are_enterprise_leadership(position: d.Position,
                                                        layer: int) -> None:
    assert d.default_level(position, layer) is d.ManagementLevel.ENTERPRISE_LEADERSHIP


@pytest.mark.parametrize("position", [d.Position.MIDDLE_MANAGER, d.Position.OTHER])
@pytest.mark.parametrize("layer", [1, 2, 5])
def test_middle_managers_and_others_are_middle_management_at_any_layer(position: d.Position,
                                                                       layer: int) -> None:
    assert d.default_level(position, layer) is d.ManagementLevel.MIDDLE_MANAGEMENT


def test_default_level_accepts_the_stored_string() -> None:
    assert d.default_level("general_manager", 2) is d.ManagementLevel.ENTERPRISE_LEADERSHIP


def test_vocabularies_have_the_agreed_values() -> None:
    assert [k.value for k in d.UnitKind] == ["group", "enterprise", "department"]
    assert [s.value for s in d.ContractState] == [
        "draft", "pending_signature", "active", "expired", "terminated", "renewed"]
    assert [a.value for a in d.ContractAction] == [
        "issue", "sign", "expire", "terminate", "renew", "withdraw"]
    assert [k.value for k in d.DocumentKind] == [
        "appointment_agreement", "tenure_performance_contract", "annual_performance_contract"]
    assert [r.value for r in d.TargetRole] == ["scored", "veto", "bonus", "penalty"]
    assert len(d.Position) == 8 and d.Position.OTHER == "other"
