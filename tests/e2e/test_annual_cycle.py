"""Two annual cycles and the end of a tenure, where the services meet.

The scenario (deploy/local/annual_cycle.py) drives every service as a process over the real
broker: each API under gunicorn, the relays, the consumers, the notifications delivery worker
and a real SMTP server (the `system` fixture of test_whole_system). Here each step's outcome
is checked: who was issued, skipped or failed, the contracts in force after both signatures,
appraisal states, exit decisions and their deadlines, the contracts after the appeal window,
the notices in the inbox and the mails on the SMTP server.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import annual_cycle  # deploy/local/annual_cycle.py: deploy/local is on pytest's pythonpath
import pytest

from tests.conftest import SECRET, token
from tests.e2e.test_whole_system import system  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
YEAR = 2026
# Issue 10, A: "an unknown query parameter gets a 400 or 422 that names it". GET
# /api/v1/contracts still ignores one (`ends_befor`); set True once it refuses it.
UNKNOWN_QUERY_PARAMETERS_REFUSED = True


def mailed_subjects(smtp: Any, email: str) -> set[str]:
    return {str(m["Subject"]) for m in smtp.mailbox.received
            if m["To"].addresses[0].addr_spec == email}


def wait_for_mail(smtp: Any, email: str, subjects: set[str], timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    while not subjects <= mailed_subjects(smtp, email) and time.monotonic() < deadline:
        time.sleep(0.3)
    return mailed_subjects(smtp, email)


@pytest.mark.timeout(1200)
def test_two_years_and_a_tenure_issue_sign_appraise_exit_with_due_process_and_renew(
        system: dict[str, Any]) -> None:  # noqa: F811
    urls, smtp = system["urls"], system["smtp"]
    started = time.monotonic()
    s = annual_cycle.run_cycle(urls["contracts"], urls["appraisal"], urls["notifications"],
                               token("hr_admin", subject="cycle-hr"), SECRET, year=YEAR,
                               log=print, timeout=180)
    print(f"annual cycle: {time.monotonic() - started:.0f} s")

    # 200 managers across 3 layers (the department under HQ counts one layer deeper).
    assert s["managers"] == 200
    assert s["by_layer"] == {1: 20, 2: 66, 3: 114}

    # Bulk issue: the README's GM template reaches the one commercial second-level GM.
    readme = s["jobs"]["readme"]
    assert (readme["status"], readme["issued"], readme["skipped"]) == ("done", 1, 3), readme
    assert readme["reasons"] == Counter({"template_does_not_match": 3})
    assert s["readme_gm_template"]
    layer1, layer2, layer3 = (s["jobs"][f"layer{n}"] for n in (1, 2, 3))
    assert (layer1["status"], layer1["issued"]) == ("done", 20), layer1
    assert (layer3["status"], layer3["issued"]) == ("done", 114), layer3
    # The department's GM fails alone, with the reason and the remedy; the README GM already
    # holds a contract; everyone else of layer 2 is issued.
    assert (layer2["status"], layer2["issued"], layer2["skipped"], layer2["failed"]) == \
        ("partial", 64, 1, 1)
    assert layer2["reasons"] == Counter({"overlapping_contract": 1, "signatory_required": 1})
    (failure,) = layer2["failures"]
    assert "signatory override" in failure["detail"]
    # The department's GM drafted with an override: every manager has a contract to sign.
    assert s["pending_signature"] == 200

    # Both sides signed: every contract is active.
    assert s["signed_states"] == Counter({"active": 200})
    assert "own token" in s["sign_refusals"]["hr_signs"]
    assert "manager signs first" in s["sign_refusals"]["employer_first"]
    # The three documents of the first signing (appointment, tenure and first annual
    # contract), each signed by both sides, each side electronically with its own token.
    assert s["signature_kinds"] == Counter({("manager", "electronic"): 600,
                                            ("employer", "electronic"): 600})
    # Signed is signed: the 409 names the tenure document and the amendment to use.
    assert "amendments with tenure_targets" in s["locked_tenure_targets"]

    # Year one: everyone opened with a self-report deadline; three reports, one dispute that
    # HR overruled; the review waited for the others until the deadline passed.
    scored_ones = 200  # the README's template too: its lines take their part from the GM
    assert s["opened"]["opened"] + s["opened"]["skipped"] == 200
    assert "paper" in s["self_reports"]["hr_refused"]
    assert s["self_reports"]["overruled"]["dispute"] == "overruled"
    assert s["run1"]["status"] == "done" and s["run1"]["scored"] == scored_ones
    assert s["run1"]["skipped"] == 0
    assert s["review_before_deadline"]["done"] == 3
    assert sum(s["review_before_deadline"]["refused"].values()) == scored_ones - 3
    assert all("wait for it, or review from" in reason
               for reason in s["review_before_deadline"]["refused"]), \
        s["review_before_deadline"]
    assert s["deadline_moved"] >= scored_ones - 3
    actions = s["run1_actions"]
    assert actions["review"]["done"] == scored_ones - 3
    assert actions["approve"]["done"] == actions["publish"]["done"] == scored_ones
    assert actions["publish"]["events"]["appraisal.published"] == scored_ones
    assert actions["publish"]["events"]["exit.triggered"] == 2
    assert s["self_report_states"]["submitted"] == 3
    assert s["self_report_states"]["none"] == scored_ones - 3
    poor, appellant = s["poor"], s["appellant"]
    assert s["results1"][poor["id"]] == ("not_competent", "incompetence_exit")
    assert s["results1"][appellant["id"]][1] == "incompetence_exit"
    exits = [mid for mid, (_, outcome) in s["results1"].items()
             if outcome == "incompetence_exit"]
    assert sorted(exits) == sorted([poor["id"], appellant["id"]])

    # Both exits waited in their appeal window with their contracts in force.
    for m in (poor, appellant):
        pending = s["exits_pending"][m["id"]]
        assert pending["state"] == "pending" and pending["appeal_deadline"]
        assert pending["appeal_window_days"] == 15
        assert s["contracts_while_pending"][m["id"]] == "active"
    # Appealed in time, re-scored, upheld: the exit is cancelled and nothing ended.
    assert "score" in s["appeal"]["refused_early"]
    assert s["appeal"]["result"]["outcome"] == "retain"
    assert s["exit_appellant"]["state"] == "cancelled"
    assert s["contract_appellant"]["state"] == "active"
    assert s["person_appellant"]["employment_status"] == "active"
    # The other window elapsed: the daily job confirmed the exit and the contract ended.
    assert s["windows_closed"]["confirmed"] == 1
    assert s["exit_poor"]["state"] == "confirmed"
    assert s["contract_poor"]["state"] == "terminated"
    assert "grade_not_competent" in s["contract_poor"]["end_reason"]
    assert (s["person_poor"]["employment_status"], s["person_poor"]["departure_reason"]) == \
        ("departed", "appraisal_exit")

    # The exited manager heard it in the inbox and by mail, with the same subjects, in words.
    inbox = {i["kind"]: i["subject"] for i in s["inbox_poor"]}
    result = next(i for i in s["inbox_poor"] if i["kind"] == "appraisal_result")
    words = result["subject"] + result["text"]
    assert "not_competent" not in words and ("not competent" in words or "不称职" in words)
    expected = {inbox["appraisal_result"], inbox["exit_notice"]}
    assert expected <= wait_for_mail(smtp, poor["email"], expected)
    cancelled = {i["kind"]: i for i in s["inbox_appellant"]}["exit_cancelled"]
    assert cancelled["subject"] in wait_for_mail(smtp, appellant["email"],
                                                 {cancelled["subject"]})

    # Year two: everyone still under contract signs the year's annual contract and is
    # appraised; nobody exits.
    y2 = s["year2"]
    stayed = 199
    assert y2["managers"] == stayed
    assert sum(s["year2_signed"].values()) == stayed
    assert s["year2_signed"] == Counter({"in_force": stayed})
    assert (y2["run"]["status"], y2["run"]["scored"]) == ("done", stayed)
    assert y2["actions"]["publish"]["done"] == stayed
    assert "exit.triggered" not in y2["actions"]["publish"]["events"]

    # Expiry: HR lists the contracts ending before the term's end and previews a later
    # sweep; nothing is sent, and a sweep for a later day is refused.
    e = s["expiry"]
    assert e["ending"] == stayed
    if UNKNOWN_QUERY_PARAMETERS_REFUSED:
        assert e["misspelt"]["status"] in (400, 422)
        assert "ends_befor" in str(e["misspelt"])
    assert "dry_run" in e["real_sweep"]["detail"] + str(e["real_sweep"].get("errors"))
    assert e["preview"]["dry_run"] is True
    assert e["preview"]["expiring"] == len(e["preview"]["would_send"]) == stayed
    assert {w["reminder_days"] for w in e["preview"]["would_send"]} == {30}

    # The end of the term: the tenure targets came with the template; the board revised one
    # by an amendment that both sides signed; scored with the two years, one manager is
    # renewed and one exits (a veto).
    t = s["tenure"]
    assert s["tenure_amended"] == Counter({"in_force": s["tenure_team"]})
    assert t["run"]["status"] == "done" and t["run"]["scored"] == s["tenure_team"] == 19
    assert t["published"] == 19
    assert t["events"]["tenure.concluded"] == 19
    assert t["outcomes"][t["renewing"]] == "renew"
    assert t["outcomes"][t["leaving"]] == "exit"
    assert Counter(t["outcomes"].values())["exit"] == 1
    assert t["renewed"]["state"] == "renewed"
    assert t["successor"]["state"] == "draft"
    assert t["successor"]["start_date"] == f"{YEAR + 2}-01-01"
    assert t["exit_decision"]["kind"] == "tenure"
    assert t["leaving_contract"]["state"] == "terminated"
    assert "tenure_not_passed" in t["leaving_contract"]["end_reason"]
    assert time.monotonic() - started < 900
