"""The delivery worker's e-mail rate on PostgreSQL, against its ceiling (docs/scale-delivery.md).

Each round queues --emails e-mail deliveries (one per manager notice, routed as the consumer
does: bench_scaleout.queued_emails) in a fresh database and starts an aiosmtpd Sink on
127.0.0.1 as its own process. Then, in this process:
- worker:  `worker.run_once` in a loop until a pass finds nothing due (claims, reads,
           renders, sends, records: everything the `flask deliver` loop does);
- ceiling: the same notices rendered and built beforehand (untimed), then sent with bare
           smtplib over as many sessions at once as the worker (--connections): what the
           SMTP dialogue alone costs.
The database then holds every delivery as sent (checked). The median and every round are
printed.

Run: .venv/bin/python bench/bench_delivery.py [--emails 5000] [--rounds 3]
         [--code DIR]   # DIR: another checkout of the project (an A/B comparison)
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=200, help="DELIVERY_BATCH")
    parser.add_argument("--connections", type=int, default=4, help="SMTP_CONNECTIONS")
    parser.add_argument("--code", type=Path, default=None,
                        help="run the worker of this checkout instead of this one")
    return parser.parse_args()


ARGS = parse()
from support import bare_smtp_seconds, free_port  # noqa: E402  (puts this checkout on sys.path)

if ARGS.code is not None:  # ahead of this checkout
    sys.path.insert(0, str(ARGS.code.resolve()))


from bench_scaleout import queued_emails, sent_count  # noqa: E402
from sqlalchemy import select  # noqa: E402

from services.notifications import worker  # noqa: E402
from services.notifications.channels.email import SmtpSettings, build_message  # noqa: E402
from services.notifications.config import NotificationConfig  # noqa: E402
from services.notifications.domain import render_notice  # noqa: E402
from services.notifications.models import NoticeRow  # noqa: E402
from shared.db import Database  # noqa: E402


def sink(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c",
                             "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the SMTP sink did not start")


def drain(db: Database, config: NotificationConfig) -> tuple[float, int]:
    """Seconds until a pass finds nothing due, and the e-mails the passes counted sent."""
    sent = 0
    started = time.perf_counter()
    while True:
        result = worker.run_once(db, config)
        sent += result.sent
        if result.failed or result.given_up:
            raise RuntimeError(f"sends failed: {result.errors[:3]}")
        if result.deliveries == 0:
            return time.perf_counter() - started, sent


def ceiling(db: Database, smtp: SmtpSettings) -> float:
    """Seconds to send the same rendered messages with bare smtplib over as many sessions
    at once as the worker uses (`smtp.connections`)."""
    with db.read() as s:
        rows = list(s.scalars(select(NoticeRow).where(NoticeRow.recipient_email.is_not(None))))
    messages = []
    for row in rows:
        notice = worker.notice_of(row)
        rendered = render_notice(notice)
        messages.append(build_message(smtp.sender, notice.recipient.email or "",
                                      rendered.subject, rendered.text, rendered.html,
                                      to_name=notice.recipient.name,
                                      notice_key=notice.notice_key, event_id=notice.event_id))
    return bare_smtp_seconds(smtp.host, smtp.port, messages, getattr(smtp, "connections", 1))


def main() -> None:
    import local_postgres

    code = ARGS.code or Path(__file__).resolve().parents[1]
    print(f"worker code: {Path(worker.__file__).resolve()}", flush=True)
    figures: dict[str, list[float]] = {"worker": [], "ceiling": []}
    with local_postgres.LocalPostgres(settings={"shared_buffers": "256MB"}) as pg:
        for round_no in range(ARGS.rounds):
            url = pg.create_database(f"bd_{uuid.uuid4().hex[:8]}")
            db = queued_emails(url, ARGS.emails)
            port = free_port()
            server = sink(port)
            # A checkout from before SMTP_CONNECTIONS sends on one session (--code).
            lanes = ({"connections": ARGS.connections}
                     if "connections" in SmtpSettings.__dataclass_fields__ else {})
            smtp = SmtpSettings(host="127.0.0.1", port=port, sender="tenure@example.com",
                                **lanes)
            config = NotificationConfig(smtp=smtp, delivery_batch=ARGS.batch)
            try:
                seconds, sent = drain(db, config)
                if sent != ARGS.emails or sent_count(db) != ARGS.emails:
                    raise RuntimeError(f"{sent} counted, {sent_count(db)} stored as sent")
                bare = ceiling(db, smtp)
            finally:
                server.terminate()
                server.wait(10)
                db.dispose()
            figures["worker"].append(seconds)
            figures["ceiling"].append(bare)
            print(f"round {round_no + 1}: worker {seconds:.2f} s, bare smtplib {bare:.2f} s",
                  flush=True)
    report(figures, code)


def report(figures: dict[str, Any], code: Path) -> None:
    print(f"\n{ARGS.emails:,} e-mails, DELIVERY_BATCH={ARGS.batch}, code at {code}")
    for name, walls in figures.items():
        median = statistics.median(walls)
        rounds = ", ".join(f"{ARGS.emails / w:,.0f}" for w in walls)
        print(f"{name:<10}{median:>8.2f} s{ARGS.emails / median:>10,.0f} e-mails/s"
              f"   (rounds, e-mails/s: {rounds})")


if __name__ == "__main__":
    main()
