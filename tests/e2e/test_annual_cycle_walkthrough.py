"""docs/annual-cycle.md's walkthrough, run as written against the whole system.

The block is taken out of the document as it stands and run by bash against every service as
a process over the real broker (the `system` fixture of test_whole_system): what HR reads is
what works.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET
from tests.e2e.test_whole_system import system  # noqa: F401  (the fixture)
from tests.support.processes import REPO
from tests.support.walkthroughs import shell_block

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def test_annual_cycle_walkthrough_works_as_written(
        system: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    urls = system["urls"]
    env = {**os.environ, "TENURE_VAR_DIR": str(tmp_path), "LOG_JSON": "false",
           "JWT_SECRET": SECRET, "CONTRACTS_URL": urls["contracts"],
           "APPRAISAL_URL": urls["appraisal"], "NOTIFICATIONS_URL": urls["notifications"],
           "CONTRACTS_DATABASE_URL": f"sqlite:///{tmp_path / 'tokens.db'}"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c",
                             shell_block(REPO / "docs" / "annual-cycle.md")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
                            check=False)
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.strip().splitlines()
    job = json.loads(lines[0])
    assert (job["status"], job["issued"], job["skipped"], job["failed"]) == \
        ("done", 4, 0, 0)
    assert lines[1:5] == ["active"] * 4  # after each employer's countersignature
    assert lines[5] == "4"  # appraisals opened
    assert json.loads(lines[6]) == {"accepted": 8, "rejected": 0}
    run = json.loads(lines[7])
    assert (run["status"], run["scored"], run["skipped"]) == ("done", 4, 0)
    steps = [json.loads(line) for line in lines[8:11]]
    assert [(s["step"], s["done"]) for s in steps] == \
        [("review", 4), ("approve", 4), ("publish", 4)]
    assert steps[2]["events"] == {"appraisal.published": 4, "exit.triggered": 1}
    results = {position: (grade, outcome) for position, grade, outcome in json.loads(lines[11])}
    assert results.pop("chief_financial_officer") == ("not_competent", "incompetence_exit")
    assert sorted(results) == ["chair", "deputy_general_manager", "general_manager"]
    assert all(outcome == "retain" and grade in ("excellent", "good")
               for grade, outcome in results.values()), results
    assert sum(json.loads(lines[12]).values()) == 4
    assert "appraisal_result" in json.loads(lines[13])
    (pending,) = json.loads(lines[14])
    assert (pending["state"], pending["appeal_window_days"]) == ("pending", 15)
    assert pending["appeal_deadline"]
    assert lines[15] == "active"  # nothing ends while the exit can be appealed
    assert len(lines) == 16
