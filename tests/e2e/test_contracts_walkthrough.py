"""The contracts API walkthrough (docs/api-contracts.md), run as written against the contracts
service under gunicorn."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from tests.support.processes import REPO, service_api
from tests.support.walkthroughs import shell_block


def walkthrough() -> str:
    return shell_block(REPO / "docs" / "api-contracts.md")


def test_contracts_walkthrough_works_as_written(tmp_path: Path) -> None:
    env = {"TENURE_VAR_DIR": str(tmp_path), "LOG_JSON": "false",
           "CONTRACTS_DATABASE_URL": f"sqlite:///{tmp_path / 'contracts.db'}"}
    with service_api("contracts", env, tmp_path) as url:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=REPO,
            env={**os.environ, **env, "CONTRACTS_URL": url}, capture_output=True, text=True,
            timeout=120, check=False,
        )
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.strip().splitlines()
    job = json.loads(lines[0])
    assert job["status"] == "done" and job["issued"] == 1, job
    assert "decisions" not in job  # the poll leaves them out
    failed = json.loads(lines[1])  # whom HR must act on: nobody
    assert (failed["job_id"], failed["items"], failed["page"]["total"]) == (job["id"], [], 0)
    signed = json.loads(lines[2])
    assert signed["state"] == "active" and signed["signatory"]["kind"] == "board"
    # The manager signed with their own token; the chair countersigned with theirs. The
    # template has no tenure targets, so the tenure performance contract waits for them and
    # the first signing covers the appointment agreement and the 2026 annual contract.
    assert [(s["party"], s["method"], s["signed_by"]) for s in signed["signatures"]] == [
        ("manager", "electronic", "e0001")] * 2 + [("employer", "electronic", "e0003")] * 2
    coverage = json.loads(lines[3])
    assert coverage["totals"]["managers"] == 3 and coverage["totals"]["active"] == 1
    assert lines[4].startswith("layer,category,position")
    # Samples from both gunicorn workers, summed: every walkthrough POST is counted once.
    created = [line for line in metrics.splitlines()
               if line.startswith("tenure_http_requests_total{")
               and 'endpoint="/api/v1/org-units"' in line and 'method="POST"' in line]
    assert created and float(created[0].rsplit(" ", 1)[1]) == 2.0, created
