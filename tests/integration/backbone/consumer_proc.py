"""A consumer process for the crash and shutdown tests: `python consumer_proc.py ...`.

Runs the test service's handler (one `effects` row per event, with an optional delay so the
test can kill it mid-batch) through `run_consumer_process`, like a service's `consume` CLI.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[2]), str(HERE)]

import world  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from shared.consumer import run_consumer_process  # noqa: E402
from shared.db import Database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--dead-letter-topic", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--max-poll-records", type=int, default=20)
    parser.add_argument("--one-by-one", action="store_true",
                        help="one transaction per event (no batch transactions)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")

    def handler(session: Session, envelope: dict[str, Any]) -> None:
        world.record_effect(session, envelope)
        if args.delay:
            time.sleep(args.delay)

    run_consumer_process(
        Database(args.db), world.inbox, args.bootstrap, args.group, [args.topic], handler,
        service="backbone-test", dead_letter_topic=args.dead_letter_topic,
        batch_transactions=not args.one_by_one,
        consumer_config={"max_poll_records": args.max_poll_records,
                         "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    )


if __name__ == "__main__":
    main()
