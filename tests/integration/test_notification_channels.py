"""Delivery channels against real servers on 127.0.0.1: an aiosmtpd SMTP server, an HTTP
receiver, and (when a certificate can be made) STARTTLS with authentication."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.notifications.channels import DeliveryError
from services.notifications.channels.email import SmtpSettings, send_email, send_notice_email
from services.notifications.channels.webhook import (
    EVENT_ID_HEADER,
    NOTICE_KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookEndpoint,
    post_notice,
    post_webhook,
    verify_signature,
)
from services.notifications.domain import NoticeKind, render_notice, route_event, sample_event
from services.notifications.domain.samples import SAMPLE_DIRECTORY

SUBJECT_ZH = "【任期制】您的2025年度考核结果已公布：C"
BODY_ZH = "张伟，您好：\n\n综合得分：58.40\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it receives, or refuses recipients on demand."""

    received: list[email.message.EmailMessage] = field(default_factory=list)
    refuse_with: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture()
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def settings(port: int, **kwargs: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="tenure@example.com",
                        sender_name="任期制管理系统", timeout=5, **kwargs)


def test_a_chinese_email_arrives_intact(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    message_id = send_email(settings(port), "zhang.wei@example.com", SUBJECT_ZH, BODY_ZH,
                            "<p>综合得分：<b>58.40</b></p>", to_name="张伟",
                            notice_key="3f1d2c4b-0000-5000-8000-000000000001", event_id="ev-1")
    (received,) = mailbox.received
    assert received["Subject"] == SUBJECT_ZH
    assert received["To"].addresses[0].display_name == "张伟"
    assert received["From"].addresses[0].display_name == "任期制管理系统"
    assert received["Message-ID"] == message_id == (
        "<3f1d2c4b-0000-5000-8000-000000000001@tenure.notifications>")
    assert received["X-Tenure-Notice-Key"] == "3f1d2c4b-0000-5000-8000-000000000001"
    # SMTP carries CRLF line ends; the text itself must be unchanged.
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n") == BODY_ZH
    assert "<b>58.40</b>" in received.get_body(("html",)).get_content()


def test_a_line_break_in_a_name_or_a_subject_cannot_add_a_header(
        smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    for name in ("Zhang Wei\r\nBcc: spy@example.com", "张伟\nBcc: spy@example.com"):
        send_email(settings(port), "zhang.wei@example.com", "Result\r\nX-Injected: 1",
                   "text", to_name=name)
    ascii_name, chinese_name = mailbox.received
    for received in mailbox.received:
        assert received["Bcc"] is None and received["X-Injected"] is None
        assert received["Subject"] == "Result X-Injected: 1"
        assert [a.addr_spec for a in received["To"].addresses] == ["zhang.wei@example.com"]
    assert ascii_name["To"].addresses[0].display_name == "Zhang Wei Bcc: spy@example.com"
    assert chinese_name["To"].addresses[0].display_name == "张伟 Bcc: spy@example.com"


def test_ascii_text_stays_readable_and_a_line_too_long_for_smtp_arrives_whole(
        smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    link = "https://portal.example.com/contracts?" + "x" * 1200
    send_email(settings(port), "zhang.wei@example.com", "Please sign", "Dear Zhang Wei,\n",
               f"<p><a href='{link}'>sign</a></p>")
    (received,) = mailbox.received
    text, html = received.get_body(("plain",)), received.get_body(("html",))
    assert text["Content-Transfer-Encoding"] == "7bit"
    assert text.get_content().replace("\r\n", "\n") == "Dear Zhang Wei,\n"
    # Over SMTP's 998 characters a line: encoded, so no relay cuts it.
    assert html["Content-Transfer-Encoding"] == "base64"
    assert html.get_content() == f"<p><a href='{link}'>sign</a></p>\n"


@dataclass
class Utf8Mailbox:
    """Keeps each message's envelope; its headers are UTF-8, as SMTPUTF8 allows."""

    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def test_an_address_with_an_international_domain_goes_out_with_smtputf8() -> None:
    mailbox = Utf8Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        send_email(settings(port), "zhang.wei@例子.中国", SUBJECT_ZH, BODY_ZH, to_name="张伟")
    finally:
        controller.stop()
    (envelope,) = mailbox.envelopes
    assert "SMTPUTF8" in envelope.mail_options
    assert envelope.rcpt_tos == ["zhang.wei@例子.中国"]
    # The headers travel as UTF-8, unencoded: what SMTPUTF8 is for.
    headers = envelope.content.decode().split("\r\n\r\n")[0].split("\r\n")
    assert "To: 张伟 <zhang.wei@例子.中国>" in headers
    assert f"Subject: {SUBJECT_ZH}" in headers
    received = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n") == BODY_ZH


def test_a_rendered_notice_goes_out_by_email(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    routing = route_event(sample_event("exit.triggered"), SAMPLE_DIRECTORY)
    notice = next(n for n in routing.notices if n.kind is NoticeKind.EXIT_NOTICE)
    send_notice_email(settings(port), notice, render_notice(notice))
    send_notice_email(settings(port), notice, render_notice(notice), generation=1)
    first, resent = mailbox.received
    assert first["Subject"] == "【任期制】退出决定待定：可于 2026-03-18 前申诉"
    assert first["To"].addresses[0].addr_spec == notice.recipient.email
    text = first.get_body(("plain",)).get_content()
    # The rule and the grade reach the reader in words, never as codes.
    assert "触发原因：考核等级为不称职" in text and "考核等级：不称职" in text
    assert "not_competent" not in text
    # A deliberate resend must not look like a duplicate to mail systems.
    assert first["Message-ID"] == f"<{notice.notice_key}@tenure.notifications>"
    assert resent["Message-ID"] == f"<{notice.notice_key}.r1@tenure.notifications>"


def test_a_down_server_is_retryable_and_delivery_succeeds_once_it_is_up() -> None:
    port = free_port()
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(port), "a@example.com", SUBJECT_ZH, BODY_ZH)
    assert caught.value.retryable
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        send_email(settings(port), "a@example.com", SUBJECT_ZH, BODY_ZH)
    finally:
        controller.stop()
    assert [m["Subject"] for m in mailbox.received] == [SUBJECT_ZH]


def test_a_server_that_never_answers_times_out_retryably() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            send_email(SmtpSettings(host="127.0.0.1", port=port, timeout=0.5),
                       "a@example.com", "s", "t")
    assert caught.value.retryable
    assert "timed out" in caught.value.reason
    assert time.monotonic() - started < 5


def test_a_permanent_rejection_is_not_retryable(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    mailbox.refuse_with = "550 5.1.1 No such user"
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(port), "nobody@example.com", SUBJECT_ZH, BODY_ZH)
    assert (caught.value.retryable, caught.value.code) == (False, 550)
    assert "No such user" in caught.value.reason


def test_a_temporary_rejection_is_retryable(smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    mailbox.refuse_with = "451 4.7.1 Greylisted, try later"
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(port), "a@example.com", SUBJECT_ZH, BODY_ZH)
    assert (caught.value.retryable, caught.value.code) == (True, 451)


def test_a_recipient_without_an_address_is_a_permanent_failure() -> None:
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(free_port()), "", "s", "t")
    assert not caught.value.retryable


# --- STARTTLS + AUTH ----------------------------------------------------------------------


def _self_signed_with_cryptography(cert: Path, key: Path) -> bool:
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return False
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return True


def _self_signed_with_openssl(cert: Path, key: Path) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        return False
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, timeout=30, check=False)
    return result.returncode == 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    if not (_self_signed_with_cryptography(cert, key) or _self_signed_with_openssl(cert, key)):
        pytest.skip("no way to make a self-signed certificate (cryptography or openssl)")
    return cert, key


USER, PASSWORD = "tenure", "s3cret-pass"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@pytest.fixture()
def tls_smtp_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port,
                            tls_context=server_context, require_starttls=True,
                            auth_required=True, authenticator=_authenticator)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def test_starttls_with_login_delivers(tls_smtp_server: tuple[Mailbox, int],
                                      certificate: tuple[Path, Path]) -> None:
    mailbox, port = tls_smtp_server
    send_email(settings(port, starttls=True, username=USER, password=PASSWORD,
                        cafile=str(certificate[0])), "a@example.com", SUBJECT_ZH, BODY_ZH)
    assert [m["Subject"] for m in mailbox.received] == [SUBJECT_ZH]


def test_a_wrong_password_is_a_permanent_failure(tls_smtp_server: tuple[Mailbox, int],
                                                  certificate: tuple[Path, Path]) -> None:
    _, port = tls_smtp_server
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(port, starttls=True, username=USER, password="wrong",
                            cafile=str(certificate[0])), "a@example.com", "s", "t")
    assert (caught.value.retryable, caught.value.code) == (False, 535)


def test_a_non_ascii_password_is_a_permanent_failure(tls_smtp_server: tuple[Mailbox, int],
                                                      certificate: tuple[Path, Path]) -> None:
    _, port = tls_smtp_server
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(port, starttls=True, username=USER, password="密码",
                            cafile=str(certificate[0])), "a@example.com", "s", "t")
    assert not caught.value.retryable
    assert "ASCII" in caught.value.reason


def test_an_untrusted_certificate_is_a_permanent_failure(
        tls_smtp_server: tuple[Mailbox, int]) -> None:
    _, port = tls_smtp_server
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(port, starttls=True, username=USER, password=PASSWORD),
                   "a@example.com", "s", "t")
    assert not caught.value.retryable
    assert "certificate" in caught.value.reason


def test_sending_in_clear_to_a_server_that_requires_starttls_is_permanent(
        tls_smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = tls_smtp_server
    with pytest.raises(DeliveryError) as caught:
        send_email(settings(port), "a@example.com", "s", "t")
    assert not caught.value.retryable
    assert mailbox.received == []


# --- webhooks -----------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.requests: list[Received] = []
        self.answer: Callable[[], tuple[int, dict[str, str]]] = lambda: (204, {})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/tenure"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append(Received(dict(self.headers.items()), body))
        status, headers = self.server.answer()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"no")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


SECRET = "whsec-integration"
# The receivers listen on loopback, which only an allowlisted host may be.
LOCAL = frozenset({"127.0.0.1"})


def local(url: str, **options: Any) -> WebhookEndpoint:
    return WebhookEndpoint(url, SECRET, allowed_hosts=LOCAL, **options)


def _notice() -> Any:
    routing = route_event(sample_event("appraisal.published"), SAMPLE_DIRECTORY)
    return next(n for n in routing.notices if n.kind is NoticeKind.APPRAISAL_RESULT)


def test_the_receiver_gets_a_signed_notice_it_can_verify(receiver: Receiver) -> None:
    notice = _notice()
    status = post_notice(local(receiver.url), notice, render_notice(notice))
    assert status == 204
    (got,) = receiver.requests
    assert verify_signature(SECRET, got.headers[TIMESTAMP_HEADER], got.body,
                            got.headers[SIGNATURE_HEADER])
    assert got.headers[EVENT_ID_HEADER] == notice.event_id
    assert got.headers[NOTICE_KEY_HEADER] == notice.notice_key
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(got.body)
    assert data["subject"] == "【任期制】您的2025年度考核结果已公布：基本称职"
    # Facts stay codes, for the receiving system; the subject and text are for people.
    assert (data["facts"]["grade"], data["facts"]["score"]) == ("basically_competent", "58.40")
    assert data["notice_key"] == notice.notice_key


def test_a_tampered_body_fails_verification(receiver: Receiver) -> None:
    notice = _notice()
    post_notice(local(receiver.url), notice, render_notice(notice))
    (got,) = receiver.requests
    tampered = got.body.replace(b'"grade":"basically_competent"', b'"grade":"excellent"')
    assert tampered != got.body
    assert not verify_signature(SECRET, got.headers[TIMESTAMP_HEADER], tampered,
                                got.headers[SIGNATURE_HEADER])
    assert not verify_signature("another-secret", got.headers[TIMESTAMP_HEADER], got.body,
                                got.headers[SIGNATURE_HEADER])


@pytest.mark.parametrize("status,retryable", [(500, True), (503, True), (408, True),
                                              (429, True), (400, False), (404, False),
                                              (410, False)])
def test_receiver_errors_are_classified(receiver: Receiver, status: int,
                                        retryable: bool) -> None:
    receiver.answer = lambda: (status, {})
    with pytest.raises(DeliveryError) as caught:
        post_webhook(local(receiver.url), {"x": 1}, event_id="e",
                     notice_key="k")
    assert (caught.value.retryable, caught.value.code) == (retryable, status)


def test_a_redirect_is_not_followed_and_is_permanent(receiver: Receiver) -> None:
    receiver.answer = lambda: (301, {"Location": "http://127.0.0.1:9/elsewhere"})
    with pytest.raises(DeliveryError) as caught:
        post_webhook(local(receiver.url), {"x": 1}, event_id="e",
                     notice_key="k")
    assert not caught.value.retryable
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_retryable() -> None:
    endpoint = local(f"http://127.0.0.1:{free_port()}/hook", timeout=2)
    with pytest.raises(DeliveryError) as caught:
        post_webhook(endpoint, {"x": 1}, event_id="e", notice_key="k")
    assert caught.value.retryable


def test_a_slow_receiver_times_out_retryably(receiver: Receiver) -> None:
    def slow() -> tuple[int, dict[str, str]]:
        time.sleep(1.0)
        return 200, {}

    receiver.answer = slow
    with pytest.raises(DeliveryError) as caught:
        post_webhook(local(receiver.url, timeout=0.3), {"x": 1},
                     event_id="e", notice_key="k")
    assert caught.value.retryable


def test_a_malformed_url_is_permanent() -> None:
    with pytest.raises(DeliveryError) as caught:
        post_webhook(WebhookEndpoint("not a url", SECRET), {"x": 1}, event_id="e",
                     notice_key="k")
    assert not caught.value.retryable
