"""The shared performance contract at its edges: every position against every mix of parts,
the part a line defaults to, the line's boundaries, and appraisability.

The cross-check at the top is the point of the shared schema: for every position and every
mix of parts, the contracts rule accepts a document exactly when the appraisal service's
default scheme scores it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.appraisal import domain as ad
from shared import performance_contract as pc
from shared.vocabulary import Direction, DocumentKind, IndicatorKind, Position, TargetPart
from shared.vocabulary import TargetRole as R

ORG, IND = TargetPart.ORGANISATIONAL.value, TargetPart.INDIVIDUAL.value
LIBRARY = {
    code: pc.IndicatorDefinition(code, code.title(), "", IndicatorKind.QUANTITATIVE,
                                 Direction.HIGHER_IS_BETTER)
    for code in ("PROFIT", "ROE", "COST", "SAFETY", "AWARD")
}


def scored(code: str, weight: str, part: str) -> pc.TargetLine:
    return pc.TargetLine(code, R.SCORED, Decimal(weight), Decimal("80"), Decimal("100"),
                         Decimal("120"), part=part)


#: Every mix of parts a document can hold; weights always sum to 100 where anything is scored.
MIXES: dict[str, tuple[pc.TargetLine, ...]] = {
    "organisational only": (scored("PROFIT", "60", ORG), scored("ROE", "40", ORG)),
    "individual only": (scored("COST", "100", IND),),
    "both": (scored("PROFIT", "50", ORG), scored("COST", "50", IND)),
    "none": (),
    "veto and bonus only": (
        pc.TargetLine("SAFETY", R.VETO, part=ORG),
        pc.TargetLine("AWARD", R.BONUS, max_points=Decimal("5"), part=IND)),
}
#: What the shared rule says for each (default proportions: chair and GM 1.00/0.00).
SOLE_ORGANISATION = {"organisational only": True, "individual only": False, "both": True,
                     "none": False, "veto and bonus only": False}
BOTH_PARTS = {"organisational only": False, "individual only": False, "both": True,
              "none": False, "veto and bonus only": False}


def expected(position: Position, mix: str) -> bool:
    if position in (Position.CHAIR, Position.GENERAL_MANAGER):
        return SOLE_ORGANISATION[mix]
    return BOTH_PARTS[mix]


def contracts_accept(position: Position, lines: tuple[pc.TargetLine, ...]) -> bool:
    return not pc.document_faults(lines, LIBRARY, position=position.value,
                                  proportion=pc.proportion_for(position.value))


def appraisal_scores(position: Position, lines: tuple[pc.TargetLine, ...]) -> bool:
    targets = [ad.IndicatorTarget(
        line.indicator_code, line.weight, line.base, line.target, line.challenge,
        role=ad.TargetRole(line.role), part=ad.TargetPart(line.part),
        kind=ad.IndicatorKind.QUALITATIVE if line.role == R.VETO
        else ad.IndicatorKind.QUANTITATIVE, max_points=line.max_points) for line in lines]
    actuals = [ad.Actual(t.code, value=Decimal("100")) if t.role is ad.TargetRole.SCORED
               else ad.Actual(t.code, veto_hit=False, points=None) for t in targets]
    try:
        ad.appraise(ad.DEFAULT_SCHEME, targets, actuals, position=position.value)
    except ad.AppraisalInputInvalid:
        return False
    return True


@pytest.mark.parametrize("mix", list(MIXES))
@pytest.mark.parametrize("position", list(Position))
def test_every_position_against_every_mix_of_parts(position: Position, mix: str) -> None:
    lines = MIXES[mix]
    assert contracts_accept(position, lines) is expected(position, mix)
    verdict = pc.annual_scoring_faults(lines, position.value, pc.proportion_for(position))
    assert (not verdict) is expected(position, mix)


@pytest.mark.parametrize("mix", [m for m in MIXES if m not in ("none", "veto and bonus only")])
@pytest.mark.parametrize("position", list(Position))
def test_what_the_contracts_service_accepts_the_appraisal_service_scores(
        position: Position, mix: str) -> None:
    # ("none" and "veto and bonus only" fail on their weights before composition.)
    assert contracts_accept(position, MIXES[mix]) is appraisal_scores(position, MIXES[mix])


def test_a_general_managers_individual_lines_alone_name_the_missing_part() -> None:
    errors = pc.document_faults(MIXES["individual only"], LIBRARY, position="general_manager",
                                proportion=pc.proportion_for("general_manager"))
    assert errors == {"targets": [
        "position general_manager takes 1.00 from the organisation's score, but no scored "
        "line is organisational"]}


def test_a_deputys_document_names_each_missing_part() -> None:
    errors = pc.document_faults(MIXES["organisational only"], LIBRARY,
                                position="deputy_general_manager",
                                proportion=pc.proportion_for("deputy_general_manager"))
    assert errors["targets"] == [
        "position deputy_general_manager takes 0.50 from the manager's own score, but no "
        "scored line is individual"]


def test_a_tenure_document_pools_its_lines_whatever_their_part() -> None:
    assert not pc.document_faults(MIXES["individual only"], LIBRARY,
                                  document=DocumentKind.TENURE_PERFORMANCE_CONTRACT,
                                  position="general_manager",
                                  proportion=pc.proportion_for("general_manager"))


# --- the composition rule and the appraisal scheme's defaults ---------------------------------

def test_chair_and_general_manager_are_scored_on_the_organisation_alone_others_half_half(
        ) -> None:
    for position in Position:
        prop = pc.proportion_for(position.value)
        if position in (Position.CHAIR, Position.GENERAL_MANAGER):
            assert prop == pc.Proportion(Decimal("1.00"), Decimal("0.00"))
            assert prop.sole_part() is TargetPart.ORGANISATIONAL
        else:
            assert prop == pc.Proportion(Decimal("0.50"), Decimal("0.50"))
            assert prop.sole_part() is None
    assert pc.Proportion(Decimal("0"), Decimal("1")).sole_part() is TargetPart.INDIVIDUAL


def test_the_appraisal_schemes_defaults_are_the_shared_rule() -> None:
    rules = ad.DEFAULT_SCHEME.composition
    assert dict(rules.positions) == dict(pc.POSITION_PROPORTIONS)
    assert rules.default == pc.DEFAULT_PROPORTION
    assert ad.Proportion is pc.Proportion
    assert (ad.DEFAULT_SCHEME.tenure.annual_share, ad.DEFAULT_SCHEME.tenure.targets_share) == \
        (pc.TENURE_ANNUAL_SHARE, pc.TENURE_TARGETS_SHARE)


# --- the part a line leaves out ---------------------------------------------------------------

ANNUAL, TENURE = DocumentKind.ANNUAL_PERFORMANCE_CONTRACT, DocumentKind.TENURE_PERFORMANCE_CONTRACT


@pytest.mark.parametrize("role", list(R))
@pytest.mark.parametrize("position", list(Position))
def test_a_left_out_part_comes_from_the_position(position: Position, role: R) -> None:
    prop = pc.proportion_for(position.value)
    annual = pc.resolve_part(None, role, prop, ANNUAL)
    tenure = pc.resolve_part(None, role, prop, TENURE)
    if position in (Position.CHAIR, Position.GENERAL_MANAGER):
        assert annual == tenure == ORG
    elif role is R.SCORED:
        assert annual is None  # a position scored on both parts must say which
        assert tenure == IND
    else:
        assert annual == tenure == IND
    assert pc.resolve_part(IND, role, prop, ANNUAL) == IND  # what is said stands


def test_a_template_for_any_position_must_say_the_part_of_a_scored_line() -> None:
    assert pc.resolve_part(None, R.SCORED, None, ANNUAL) is None
    assert pc.resolve_part(None, R.VETO, None, ANNUAL) == IND
    assert "any position" in pc.part_required_message(None, None)


# --- one line at its boundaries ---------------------------------------------------------------

def faults(line: pc.TargetLine, kind: IndicatorKind = IndicatorKind.QUANTITATIVE,
           direction: Direction = Direction.HIGHER_IS_BETTER, *, contract: bool = True
           ) -> dict[str, str]:
    return dict(pc.line_faults(line, kind, direction, contract=contract))


@pytest.mark.parametrize(("weight", "fault"), [
    ("0", "must be greater than 0"), ("-1", "must be greater than 0"), ("0.01", None),
    ("100", None), ("100.00", None), ("100.01", "must not exceed 100"),
    ("33.333", "at most 2 decimal places"), ("NaN", "must be a finite decimal number"),
])
def test_the_weight_of_a_scored_line(weight: str, fault: str | None) -> None:
    got = faults(scored("PROFIT", weight, ORG)).get("weight")
    assert got == fault


def test_scoring_alone_accepts_any_positive_weight() -> None:
    assert faults(scored("PROFIT", "150.555", ORG), contract=False) == {}


@pytest.mark.parametrize(("direction", "levels", "fields"), [
    (Direction.HIGHER_IS_BETTER, ("80", "100", "120"), set()),
    (Direction.HIGHER_IS_BETTER, ("100", "100", "120"), {"target"}),
    (Direction.HIGHER_IS_BETTER, ("80", "120", "120"), {"challenge"}),
    (Direction.HIGHER_IS_BETTER, ("120", "100", "80"), {"target", "challenge"}),
    (Direction.LOWER_IS_BETTER, ("70", "65", "60"), set()),
    (Direction.LOWER_IS_BETTER, ("60", "65", "70"), {"target", "challenge"}),
    (Direction.LOWER_IS_BETTER, ("70", "70", "60"), {"target"}),
])
def test_levels_are_strictly_ordered_in_the_indicators_direction(
        direction: Direction, levels: tuple[str, str, str], fields: set[str]) -> None:
    base, target, challenge = (Decimal(v) for v in levels)
    line = pc.TargetLine("X", R.SCORED, Decimal("100"), base, target, challenge)
    for contract in (True, False):  # both services check the same order
        assert set(faults(line, direction=direction, contract=contract)) == fields


def test_a_scored_quantitative_line_needs_all_three_levels() -> None:
    line = pc.TargetLine("X", R.SCORED, Decimal("100"), base=Decimal("1"))
    assert set(faults(line)) == {"target", "challenge"}


def test_veto_bonus_and_penalty_lines_carry_no_weight() -> None:
    for role in (R.VETO, R.BONUS, R.PENALTY):
        line = pc.TargetLine("X", role, Decimal("10"), max_points=Decimal("5")
                             if role is not R.VETO else None)
        assert faults(line, IndicatorKind.QUALITATIVE)["weight"] == \
            f"a {role} line carries no weight"


@pytest.mark.parametrize(("cap", "contract", "fault"), [
    (None, True, "a bonus line needs max_points (its cap)"), (None, False, None),
    ("0", True, "must be greater than 0"), ("0", False, None),
    ("-1", False, "must not be negative"), ("0.01", True, None),
])
def test_the_cap_of_a_bonus_line(cap: str | None, contract: bool, fault: str | None) -> None:
    line = pc.TargetLine("X", R.BONUS, max_points=None if cap is None else Decimal(cap))
    assert faults(line, IndicatorKind.QUALITATIVE, contract=contract).get("max_points") == fault


def test_only_bonus_and_penalty_lines_have_a_cap() -> None:
    line = pc.TargetLine("X", R.VETO, max_points=Decimal("5"))
    assert faults(line, IndicatorKind.QUALITATIVE)["max_points"] == \
        "only bonus and penalty lines have max_points"


@pytest.mark.parametrize(("milestones", "fault"), [
    (None, "a key task needs at least one milestone"),
    (0, "a key task needs at least one milestone"), (True, "a key task needs at least one "
                                                     "milestone"), (1, None)])
def test_a_key_task_needs_milestones(milestones: int | None, fault: str | None) -> None:
    line = pc.TargetLine("X", R.SCORED, Decimal("100"), milestones=milestones)
    assert faults(line, IndicatorKind.KEY_TASK).get("milestones") == fault


def test_only_a_scored_quantitative_line_is_a_main_indicator() -> None:
    assert "main" in faults(pc.TargetLine("X", R.SCORED, Decimal("100"), main=True),
                            IndicatorKind.QUALITATIVE)
    assert "main" in faults(pc.TargetLine("X", R.VETO, main=True), IndicatorKind.QUANTITATIVE)


def test_an_unknown_role_or_part_is_named() -> None:
    assert set(faults(pc.TargetLine("X", "stretch"))) == {"role"}
    assert "part" in faults(pc.TargetLine("X", R.VETO, part="team"), IndicatorKind.QUALITATIVE)


@pytest.mark.parametrize(("weights", "ok"), [
    (("60", "40"), True), (("60", "39.99"), False), (("60", "40.01"), False),
    (("33.33", "33.33", "33.34"), True),
])
def test_the_scored_weights_sum_to_exactly_100(weights: tuple[str, ...], ok: bool) -> None:
    codes = ("PROFIT", "ROE", "COST")
    lines = [scored(code, w, ORG) for code, w in zip(codes, weights, strict=False)]
    errors = pc.document_faults(lines, LIBRARY, field="tenure_targets")
    assert (not errors) is ok
    if not ok:
        assert list(errors) == ["tenure_targets"]


def test_an_unknown_or_repeated_indicator_is_named_by_its_index() -> None:
    lines = [scored("PROFIT", "50", ORG), scored("NOPE", "25", ORG), scored("PROFIT", "25", ORG)]
    errors = pc.document_faults(lines, LIBRARY)
    assert errors["targets[1].indicator_code"] == ["unknown indicator 'NOPE'"]
    assert errors["targets[2].indicator_code"] == ["duplicate of targets[0]"]


def test_a_stored_line_reads_back_as_it_was_written() -> None:
    stored = {"indicator_code": "PROFIT", "role": "scored", "weight": "70", "base": "800",
              "target": "1000", "challenge": "1200", "main": True, "part": ORG,
              "max_points": None, "milestones": None, "description": "", "kind": "x"}
    line = pc.line_from_stored(stored)
    assert (line.weight, line.part, line.main) == (Decimal("70"), ORG, True)


# --- appraisability ---------------------------------------------------------------------------

def test_a_contract_without_targets_says_every_document_it_lacks() -> None:
    verdict = pc.appraisability("general_manager", {2026: [], 2027: []}, [])
    assert (verdict.annual, verdict.tenure) == (False, False)
    assert [(r.document, r.year) for r in verdict.reasons] == \
        [("annual", 2026), ("annual", 2027), ("tenure", None)]


def test_a_complete_contract_is_appraisable_and_its_json_keeps_its_keys_in_order() -> None:
    lines = list(MIXES["organisational only"])
    verdict = pc.appraisability("chair", {2026: lines}, lines)
    assert verdict.as_dict() == {"annual": True, "tenure": True, "reasons": []}
    assert list(verdict.as_dict()) == ["annual", "tenure", "reasons"]


def test_tenure_targets_are_needed_only_while_the_tenure_appraisal_weighs_them() -> None:
    lines = list(MIXES["both"])
    assert pc.appraisability("other", {2026: lines}, None,
                             tenure_targets_share=Decimal("0")).tenure is True
    assert pc.appraisability("other", {2026: lines}, None).tenure is False


def test_a_scheme_of_its_own_proportion_changes_the_verdict() -> None:
    lines = list(MIXES["organisational only"])
    split = pc.Proportion(Decimal("0.70"), Decimal("0.30"))
    verdict = pc.appraisability("general_manager", {2026: lines}, lines, proportion=split)
    assert verdict.annual is False
    assert "0.30 from the manager's own score" in verdict.reasons[0].reason
