"""The whole system as it is deployed: the demo scenario over HTTP against every service.

Real Kafka and PostgreSQL, a real SMTP server, and ten processes: each service's API under
gunicorn, its outbox relay and its consumer, and the notifications delivery worker.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import demo  # deploy/local/demo.py: deploy/local is on pytest's pythonpath
import pytest

from shared.events.catalogue import TOPICS
from shared.kafka_clients import ensure_topics
from tests.conftest import SECRET, token
from tests.integration.notifications.servers import SmtpServer
from tests.support.processes import running, service_api

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
SERVICES = ("contracts", "appraisal", "notifications")
WORKERS = {"contracts": ("relay", "consume"), "appraisal": ("relay", "consume"),
           "notifications": ("relay", "consume", "deliver")}


@pytest.fixture
def system(kafka_broker: Any, postgres_databases: Any, tmp_path: Path
           ) -> Iterator[dict[str, Any]]:
    """Every service on its own PostgreSQL database, with its relay and consumer."""
    bootstrap = kafka_broker.bootstrap_servers
    ensure_topics(bootstrap, TOPICS)
    smtp = SmtpServer().start()
    common = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "LOG_JSON": "false", "LOG_LEVEL": "WARNING",
              "TENURE_VAR_DIR": str(tmp_path), "JWT_SECRET": SECRET,
              "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_STARTTLS": "false",
              "SMTP_SENDER": "tenure@example.com", "SMTP_TIMEOUT": "3",
              "NOTIFICATIONS_DELIVERY_POLL_SECONDS": "0.2"}
    envs = {s: {**common, f"{s.upper()}_DATABASE_URL": postgres_databases.fresh(s)}
            for s in SERVICES}
    with ExitStack() as stack:
        stack.callback(smtp.stop)
        urls = {s: stack.enter_context(service_api(s, envs[s], tmp_path, workers=1))
                for s in SERVICES}
        workers = [
            stack.enter_context(running(
                [sys.executable, "-m", "flask", "--app", f"services.{s}:create_app", command],
                envs[s], tmp_path / f"{s}-{command}.log"))
            for s in SERVICES for command in WORKERS[s]]
        yield {"urls": urls, "smtp": smtp, "workers": workers, "logs": tmp_path}
        dead = [" ".join(p.args[-3:]) for p in workers if p.poll() is not None]
        assert not dead, f"worker processes died: {dead} (logs in {tmp_path})"


def test_demo_year_signs_everyone_appraises_and_exits_the_not_competent_manager(
        system: dict[str, Any]) -> None:
    urls, smtp = system["urls"], system["smtp"]
    started = time.monotonic()
    summary = demo.run_demo(urls["contracts"], urls["appraisal"], urls["notifications"],
                            token("hr_admin", subject="demo-hr"), SECRET, year=2026,
                            log=print, timeout=90)

    # Contracts: fifty managers, all issued in bulk and all signed before the exit.
    assert (summary["managers"], summary["issued"], summary["signed"]) == (50, 50, 50)
    # Each manager signed with their own token; the employer countersigned: electronically
    # where a manager holds the post (a parent's general manager, an enterprise's general
    # manager), on paper recorded by HR where nobody does (no chair registered).
    assert summary["signatures"] == [("employer", "electronic"), ("employer", "paper"),
                                     ("manager", "electronic")]
    before = summary["coverage_before"]
    assert (before["managers"], before["active"], before["signing_rate"]) == (50, 50, "100.00")
    assert before["enterprises_in_force"] == before["enterprises"] == 10

    # Appraisal: everyone scored and published; exactly one exit, for the grade.
    assert (summary["run"]["status"], summary["run"]["scored"]) == ("done", 50)
    assert summary["published"]["done"] == 50
    assert summary["published"]["events"] == {"appraisal.published": 50, "exit.triggered": 1}
    totals = summary["report"]["totals"]
    assert totals["appraised"] == 50 and sum(totals["grades"].values()) == 50
    assert totals["grades"]["not_competent"] == 1
    assert totals["appraisal_exits"] == 1
    assert totals["exits_by_reason"]["grade_not_competent"] == 1
    exited = summary["exited"]
    assert summary["results"][exited["manager_id"]] == {"grade": "not_competent",
                                                         "outcome": "incompetence_exit"}
    assert all(r["outcome"] != "incompetence_exit" for m, r in summary["results"].items()
               if m != exited["manager_id"])

    # Contracts again: pending through its appeal window, the exit changed nothing; once the
    # window closed without an appeal, it terminated that one contract, and coverage shows it.
    assert exited["state_while_pending"] == "active"
    assert exited["contract_state"] == "terminated"
    assert "grade_not_competent" in exited["end_reason"]
    assert summary["coverage_after"]["active"] == 49

    # Notifications: the manager's own inbox has the result and the exit notice ...
    kinds = {item["kind"] for item in summary["inbox"]}
    assert {"contract_to_sign", "contract_in_force", "appraisal_result", "exit_notice",
            "exit_confirmed"} <= kinds
    # ... and each reached their mailbox over SMTP, with the subjects the inbox shows.
    expected = {item["subject"] for item in summary["inbox"]
                if item["kind"] in ("appraisal_result", "exit_notice", "exit_confirmed")}
    assert len(expected) == 3

    def subjects_mailed() -> set[str]:
        return {str(m["Subject"]) for m in smtp.mailbox.received
                if m["To"].addresses[0].addr_spec == exited["email"]}

    deadline = time.monotonic() + 30
    while not expected <= subjects_mailed() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert expected <= subjects_mailed(), (expected, subjects_mailed())
    assert time.monotonic() - started < 120
