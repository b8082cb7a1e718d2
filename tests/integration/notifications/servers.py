"""Real receivers on 127.0.0.1 for delivery tests: an aiosmtpd SMTP server, an HTTP receiver."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it receives, or refuses recipients on demand.

    `refuse_with` refuses every recipient, `refuse` the addresses it names; `drop_after`
    closes a connection (without a reply) when it starts its next message after that many;
    `connections` counts the sessions opened (one EHLO each: the tests use no STARTTLS).
    `hold_until` keeps each message's DATA unanswered until that many sessions are in DATA
    at once (or 5 s have passed): `most_at_once` then tells whether messages were sent over
    several sessions at the same time, which messages sent one after another never are.
    """

    received: list[EmailMessage] = field(default_factory=list)
    refuse_with: str | None = None
    refuse: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    connections: int = 0
    dropped: int = 0
    hold_until: int = 0
    in_data: int = 0
    most_at_once: int = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if self.drop_after is not None and getattr(session, "messages", 0) >= self.drop_after:
            self.dropped += 1
            server.transport.close()  # as a relay enforcing a per-session limit may do
            return "421 4.7.0 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse_with:
            return self.refuse_with
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_data += 1
        self.most_at_once = max(self.most_at_once, self.in_data)
        try:
            deadline = time.monotonic() + 5
            while self.most_at_once < self.hold_until and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        finally:
            self.in_data -= 1
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(message)  # type: ignore[arg-type]
        session.messages = getattr(session, "messages", 0) + 1
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server that can be stopped and started again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[SmtpServer]:
    server = SmtpServer(port).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """An HTTP server that records every POST (raw body and headers) and answers `status`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.status = 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.calls.append(Call(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tenure-hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
