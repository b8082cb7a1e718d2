"""Through `appraise`: the worked examples of docs/rules-appraisal.md, traced."""

from __future__ import annotations

import json

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, bonus, penalty, qual, quant, task, value, veto

SCHEME = d.DEFAULT_SCHEME

ORG_TARGETS = [
    quant("NP", "40", "800", "1000", "1200", part="organisational", main=True),
    quant("ROE", "20", "8", "10", "12", part="organisational"),
    quant("COST", "20", "70", "65", "60", lower=True, part="organisational"),
    qual("PARTY", "10", part="organisational"),
    task("REFORM", "10", 4, part="organisational"),
    veto("SAFETY", part="organisational"),
]
ORG_ACTUALS = [value("NP", "1100"), value("ROE", "9"), value("COST", "66"),
               d.Actual("PARTY", rating="B"), d.Actual("REFORM", milestones_met=3),
               d.Actual("SAFETY", veto_hit=False)]
GM_ITEMS = [bonus("INNOV", "3"), penalty("LATE")]
GM_ITEM_ACTUALS = [d.Actual("INNOV", points=D("4")), d.Actual("LATE", points=D("1"))]
DEPUTY_TARGETS = [quant("SALES", "60", "80", "100", "120"), qual("SAFETY_MGMT", "40")]
DEPUTY_ACTUALS = [value("SALES", "95"), d.Actual("SAFETY_MGMT", rating="C")]


def test_example_general_manager() -> None:
    r = d.appraise(SCHEME, ORG_TARGETS + GM_ITEMS, ORG_ACTUALS + GM_ITEM_ACTUALS,
                   manager_id="gm", year=2025, position="general_manager",
                   base_pay=D("300000"))
    by_code = {s.code: s for s in r.indicators}
    assert [(c, by_code[c].rule, by_code[c].share, by_code[c].points) for c in
            ("NP", "ROE", "COST", "PARTY", "REFORM")] == [
        ("NP", d.ScoreRule.BETWEEN_TARGET_AND_CHALLENGE, D("1.1000"), D("44.00")),
        ("ROE", d.ScoreRule.BETWEEN_BASE_AND_TARGET, D("0.8000"), D("16.00")),
        ("COST", d.ScoreRule.BETWEEN_BASE_AND_TARGET, D("0.9200"), D("18.40")),
        ("PARTY", d.ScoreRule.RATING, D("1.0000"), D("10.00")),
        ("REFORM", d.ScoreRule.MILESTONES, D("0.7500"), D("7.50")),
    ]
    assert by_code["NP"].completion == D("1.1000")
    assert r.organisational is not None and r.organisational.score == D("95.90")
    assert r.individual is None
    assert r.composition.composed == D("95.90")
    assert (r.totals.bonus, r.totals.penalty, r.total) == (D("3.00"), D("1.00"), D("97.90"))
    assert r.grade is d.Grade.EXCELLENT
    assert r.outcome is d.Outcome.RETAIN
    assert r.pay is not None
    assert (r.pay.amount, r.pay.paid_now, r.pay.deferred) == (
        D("360000.00"), D("180000.00"), D("180000.00"))
    assert (r.scheme_code, r.scheme_version) == ("group_default", 1)
    assert r.flags == ("capped_at_line_max:INNOV",)
    assert r.complete


def test_example_deputy_sharing_the_enterprise_score_with_difficulty() -> None:
    org = d.score_organisation(SCHEME, ORG_TARGETS, ORG_ACTUALS)
    r = d.appraise(SCHEME, DEPUTY_TARGETS, DEPUTY_ACTUALS, manager_id="dgm", year=2025,
                   position="deputy_general_manager", organisation=org)
    assert r.individual is not None and r.individual.score == D("86.00")  # 54 + 32
    assert r.total == D("90.95")  # 95.90 x 0.5 + 86.00 x 0.5
    hard = d.appraise(SCHEME, DEPUTY_TARGETS, DEPUTY_ACTUALS, position="deputy_general_manager",
                      organisation=org, difficulty=D("1.05"))
    assert hard.composition.organisational_adjusted == D("100.70")
    assert hard.total == D("93.35")


def test_example_red_line_crossed() -> None:
    actuals = [a if a.code != "SAFETY" else d.Actual("SAFETY", veto_hit=True)
               for a in ORG_ACTUALS]
    r = d.appraise(SCHEME, ORG_TARGETS, actuals, position="general_manager", year=2025)
    assert r.total == D("95.90")
    assert r.grade is d.Grade.NOT_COMPETENT
    assert [t.rule for t in r.exit_triggers] == [d.ExitRule.VETO,
                                                 d.ExitRule.GRADE_NOT_COMPETENT]
    capped = d.appraise(d.scheme_from_dict({"code": "cap", "version": 1,
                                            "items": {"veto_mode": "cap_total"}}),
                        ORG_TARGETS, actuals, position="general_manager", year=2025)
    assert (capped.total, capped.grade) == (D("69.99"), d.Grade.BASICALLY_COMPETENT)
    assert [t.rule for t in capped.exit_triggers] == [d.ExitRule.VETO,
                                                      d.ExitRule.SCORE_BELOW_EXIT_LINE]


def test_missing_actuals_are_flagged_and_the_result_is_incomplete() -> None:
    r = d.appraise(SCHEME, ORG_TARGETS, ORG_ACTUALS[1:], position="general_manager")
    assert "missing_actual:NP" in r.flags
    assert not r.complete
    assert r.total == D("51.90")
    assert d.ExitRule.MAIN_INDICATOR_BELOW_COMPLETION in [t.rule for t in r.exit_triggers]


def test_result_serialises_to_json_with_decimals_as_strings() -> None:
    r = d.appraise(SCHEME, ORG_TARGETS + GM_ITEMS, ORG_ACTUALS + GM_ITEM_ACTUALS,
                   manager_id="gm", year=2025, position="general_manager",
                   base_pay=D("300000"))
    data = json.loads(json.dumps(d.to_dict(r)))
    assert data["totals"]["total"] == "97.90"
    assert data["grade"] == "excellent"
    assert data["indicators"][0]["rule"] == "between_target_and_challenge"
    assert data["indicators"][0]["share"] == "1.1000"
    assert "scheme" not in data
    assert "indicators" not in data["organisational"]
    assert data["pay"]["deferred"] == "180000.00"


def test_exit_trigger_evidence_serialises() -> None:
    r = d.appraise(SCHEME, ORG_TARGETS, [value("NP", "600"), *ORG_ACTUALS[1:]],
                   position="general_manager", year=2025)
    data = json.loads(json.dumps(d.to_dict(r)))
    main = next(t for t in data["exit_triggers"]
                if t["rule"] == "main_indicator_below_completion")
    assert main["evidence"]["completion"] == "0.6000"
    assert data["outcome"] == "incompetence_exit"


def test_scheme_version_is_recorded_from_the_resolved_scheme() -> None:
    book = d.SchemeBook([SCHEME, d.scheme_from_dict({"code": "group_default", "version": 2,
                                                     "grades": {"excellent": "99.00"}})])
    scheme, version = book.resolve(2, "commercial_competitive", "general_manager")
    r = d.appraise(scheme, ORG_TARGETS, ORG_ACTUALS, position="general_manager")
    assert (r.scheme_version, version, r.grade) == (2, 2, d.Grade.GOOD)


def test_example_general_manager_outside_the_excellent_quota_becomes_good() -> None:
    gm = d.appraise(SCHEME, ORG_TARGETS + GM_ITEMS, ORG_ACTUALS + GM_ITEM_ACTUALS,
                    manager_id="gm", year=2025, position="general_manager",
                    base_pay=D("300000"))
    one = [quant("KPI", "100", "0", "100", "120")]
    lin = d.scheme_from_dict({"code": "group_default", "version": 1,
                              "scoring": {"base_share": "0"},
                              "composition": {"default": {"organisational": "0",
                                                          "individual": "1"}}})
    others = [d.appraise(lin, one, [value("KPI", t)], manager_id=f"m{i}")
              for i, t in enumerate(["99", "98.5", "98", "98", "80", "75", "72", "70", "70"])]
    out = d.appraise_cohort([gm, *others], SCHEME).by_manager()
    assert out["gm"].grade is d.Grade.GOOD
    assert out["gm"].distribution[0].rank == 5
    assert out["gm"].pay is not None and out["gm"].pay.amount == D("300000.00")
