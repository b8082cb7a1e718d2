"""bench/support.py, smtp_sink_command: the year's bench sends its e-mails to a real SMTP
server, Postfix's smtp-sink where it is installed (`make bench`), aiosmtpd's Sink otherwise;
either must take a message as the delivery worker sends it."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.mime.text import MIMEText
from pathlib import Path
from types import ModuleType

import pytest

BENCH = str(Path(__file__).resolve().parents[2] / "bench")


@pytest.fixture(scope="module")
def support() -> Iterator[ModuleType]:
    # The module sets TENURE_ENV for the benches; the tests' own environment stays as it was.
    before = os.environ.get("TENURE_ENV")
    sys.path.insert(0, BENCH)
    import support as module

    if before is None:
        os.environ.pop("TENURE_ENV", None)
    yield module


def _listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the SMTP server exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the SMTP server did not listen within 20 s")


def _send_one(port: int) -> None:
    message = MIMEText("Your appraisal for 2026 is published.", "plain", "utf-8")
    message["From"] = "tenure@example.com"
    message["To"] = "manager@example.com"
    message["Subject"] = "Appraisal result"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as conn:
        code, _ = conn.ehlo()
        assert code == 250
        assert conn.send_message(message) == {}  # no recipient refused
        assert conn.noop()[0] == 250  # the session goes on after the message


@pytest.mark.parametrize("installed", ["as found", "without smtp-sink"])
def test_the_benchs_smtp_server_takes_a_message(support: ModuleType, installed: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if installed == "without smtp-sink":
        monkeypatch.setattr(support.shutil, "which", lambda _name: None)
    found = any(support.shutil.which(path) for path in support.SMTP_SINK_PATHS)
    port = support.free_port()
    command, name = support.smtp_sink_command(port)
    assert ("smtp-sink" in name) == found
    assert (Path(command[0]).name == "smtp-sink") == found
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _listening(port, proc)
        _send_one(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

