"""E-mail over SMTP: build a UTF-8 multipart message and send it, classifying every failure.

Chinese subjects and names are encoded as RFC 2047 words, with a UTF-8 text part and an
optional HTML alternative. The Message-ID is derived from the notice key, so a receiver (or a
mail archive) can spot a message sent twice by a crash mid-send.

Messages are built with the email package's `email.mime` classes (its compat32 policy), and
headers that are one short line already are written as they are. `EmailMessage` parses every
header into the header registry's objects and refolds them when the message is written:
1.28 ms of CPU a message built and written, the larger part of what the delivery worker spent
on one, against 0.26 ms this way (docs/scale-delivery.md). What a receiver reads is the same:
the same headers once decoded, folded within 78 characters, the same parts. An address outside
ASCII (an internationalised mailbox, RFC 6531) still goes through `EmailMessage`, which
smtplib sends with SMTPUTF8.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.charset import BASE64, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from services.notifications.channels.errors import DeliveryError
from services.notifications.domain.notices import Notice
from services.notifications.domain.templates import RenderedMessage

MESSAGE_ID_DOMAIN = "tenure.notifications"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. `ssl_context` (for STARTTLS) defaults to the system's trust
    store, or to `cafile` when given (a private CA)."""

    host: str = "localhost"
    port: int = 25
    sender: str = "tenure@localhost"
    sender_name: str | None = None
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    cafile: str | None = None
    messages_per_connection: int = 100
    connections: int = 4  # a worker's batch goes out over this many sessions at once
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read SMTP_HOST, SMTP_PORT, SMTP_SENDER, SMTP_SENDER_NAME, SMTP_STARTTLS,
        SMTP_USERNAME (or SMTP_USER), SMTP_PASSWORD, SMTP_TIMEOUT, SMTP_CAFILE,
        SMTP_MESSAGES_PER_CONNECTION, SMTP_CONNECTIONS; a NOTIFICATIONS_-prefixed name wins."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(f"NOTIFICATIONS_SMTP_{name}") or env.get(f"SMTP_{name}")

        return cls(
            host=get("HOST") or "localhost",
            port=int(get("PORT") or 25),
            sender=get("SENDER") or "tenure@localhost",
            sender_name=get("SENDER_NAME"),
            starttls=_truthy(get("STARTTLS")),
            username=get("USERNAME") or get("USER"),
            password=get("PASSWORD"),
            timeout=float(get("TIMEOUT") or 10),
            cafile=get("CAFILE"),
            messages_per_connection=max(1, int(get("MESSAGES_PER_CONNECTION") or 100)),
            connections=max(1, int(get("CONNECTIONS") or 4)),
        )

    def tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is not None:
            return self.ssl_context
        return ssl.create_default_context(cafile=self.cafile)


class _OneLineHeaders(Compat32):
    """compat32, but a header that is already one short ASCII line is written as it is.

    compat32 passes every header through a new `email.header.Header` to fold it, a third of
    a message's CPU. The headers built here are ASCII already (a name or a subject as RFC
    2047 words, stripped of line breaks) and mostly short: those need no folding, and the
    others (a long subject or name) are folded as before.
    """

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (isinstance(value, str) and value.isascii() and len(name) + len(value) < 77
                and "\n" not in value and "\r" not in value):
            return f"{name}: {value}{self.linesep}"
        return str(super()._fold(name, value, sanitize))


_POLICY = _OneLineHeaders()
# A part's text: kept readable (7bit) when it is ASCII in lines SMTP allows, base64 otherwise.
_SEVEN_BIT = Charset("utf-8")
_SEVEN_BIT.body_encoding = None
_BASE64 = Charset("utf-8")
_BASE64.body_encoding = BASE64
_SMTP_LINE = 998


def build_message(
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    sender_name: str | None = None,
    to_name: str | None = None,
    notice_key: str | None = None,
    event_id: str | None = None,
    generation: int = 0,
    now: datetime | None = None,
) -> Message:
    """A text (+ HTML alternative) message with UTF-8 headers and tracing headers.

    The Message-ID is `<notice_key@tenure.notifications>`; a deliberate resend (generation
    N > 0) gets `<notice_key.rN@...>` so mail systems that drop duplicate ids deliver it.
    Line breaks in a subject or a name are spaces: a header is one line.
    """
    subject = " ".join(subject.split())
    sender_name = " ".join((sender_name or "").split())
    to_name = " ".join((to_name or "").split())
    message: Message
    if sender.isascii() and to.isascii():
        message = _mime_message(sender, to, subject, text, html, sender_name, to_name)
    else:
        message = _international_message(sender, to, subject, text, html, sender_name, to_name)
    _trace(message, notice_key, event_id, generation, now)
    return message


def _mime_message(sender: str, to: str, subject: str, text: str, html: str | None,
                  sender_name: str, to_name: str) -> Message:
    message: Message
    if html:
        message = MIMEMultipart("alternative", policy=_POLICY)
        message.attach(_part(text, "plain"))
        message.attach(_part(html, "html"))
    else:
        message = _part(text, "plain")
    message["From"] = _mailbox(sender_name, sender, "From")
    message["To"] = _mailbox(to_name, to, "To")
    message["Subject"] = (subject if subject.isascii()
                          else Header(subject, "utf-8", header_name="Subject"))
    return message


def _mailbox(name: str, address: str, header: str) -> str | Header:
    """`name <address>`; a name outside ASCII as RFC 2047 words, several when it is long,
    so that no header line grows past 78 characters."""
    if name.isascii():
        return formataddr((name, address))  # quoted where RFC 5322 needs it
    words = Header(name, "utf-8", header_name=header)
    words.append(f"<{address}>", "us-ascii")
    line = words.encode()
    return line if "\n" not in line else words  # one line: written as it is


def _part(content: str, subtype: str) -> MIMEText:
    """One part; its text ends with a line break, as `EmailMessage.set_content` leaves it."""
    if not content.endswith("\n"):
        content += "\n"
    readable = content.isascii() and all(
        len(line) <= _SMTP_LINE for line in content.splitlines())
    return MIMEText(content, subtype, _SEVEN_BIT if readable else _BASE64,  # type: ignore[arg-type]
                    policy=_POLICY)


def _international_message(sender: str, to: str, subject: str, text: str, html: str | None,
                           sender_name: str, to_name: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address(display_name=sender_name, addr_spec=sender)
    message["To"] = Address(display_name=to_name, addr_spec=to)
    message["Subject"] = subject
    message.set_content(text, charset="utf-8")
    if html:
        message.add_alternative(html, subtype="html", charset="utf-8")
    return message


def _trace(message: Message, notice_key: str | None, event_id: str | None, generation: int,
           now: datetime | None) -> None:
    message["Date"] = format_datetime(now or datetime.now(UTC))
    if notice_key:
        local = notice_key if generation == 0 else f"{notice_key}.r{generation}"
        message["Message-ID"] = f"<{local}@{MESSAGE_ID_DOMAIN}>"
    else:
        message["Message-ID"] = make_msgid(domain=MESSAGE_ID_DOMAIN)
    if notice_key:
        message["X-Tenure-Notice-Key"] = notice_key
    if event_id:
        message["X-Tenure-Event-Id"] = event_id


def _by_code(code: int, text: str, what: str) -> DeliveryError:
    # 4xx: the server asks to come back later; 5xx: it refuses this message for good.
    retryable = not 500 <= code < 600
    return DeliveryError(retryable, f"{what}: {code} {text}".strip(), code=code)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class SmtpSession:
    """One SMTP connection carrying many messages (a worker's batch), opened on first use.

    `send` raises a `DeliveryError` for that message only, classified as a one-off send is.
    A refused recipient or sender leaves the session usable (smtplib sends RSET itself); a
    connection the server dropped in between two messages (an idle timeout, a per-session
    limit) is reopened once, transparently, before the message counts as failed. Any other
    error closes the connection and the next message opens a new one, except that a failure to
    open it at all (server down, TLS or login refused) is answered for every later message
    of the session at once: trying again within one batch would only wait out the timeout
    again. After `settings.messages_per_connection` messages the connection is renewed (some
    relays refuse more per session).
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.connections = 0  # opened or tried so far
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._cannot_open: DeliveryError | None = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """QUIT politely; a connection already gone is simply dropped."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _open(self) -> smtplib.SMTP:
        settings = self.settings
        self.connections += 1
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            smtp.ehlo()
            if settings.starttls:
                smtp.starttls(context=settings.tls_context())
                smtp.ehlo()
            if settings.username:
                try:
                    smtp.login(settings.username, settings.password or "")
                except UnicodeEncodeError as exc:
                    # smtplib sends credentials as ASCII only.
                    raise DeliveryError(False, "SMTP user and password must be ASCII") from exc
        except BaseException:
            smtp.close()
            raise
        self._sent_on_connection = 0
        return smtp

    def _connection(self) -> smtplib.SMTP:
        if self._cannot_open is not None:
            raise self._cannot_open
        if self._smtp is not None and (self._sent_on_connection
                                       >= self.settings.messages_per_connection):
            self.close()
        if self._smtp is None:
            try:
                self._smtp = self._open()
            except DeliveryError as exc:
                self._cannot_open = exc
                raise
            except Exception as exc:
                error = classify(exc, self.settings)
                if error is None:
                    raise
                self._cannot_open = error
                raise error from exc
        return self._smtp

    def send(self, message: Message) -> str:
        """Send a built message; returns its Message-ID. Raises `DeliveryError`."""
        if not message.get("To"):
            raise DeliveryError(False, "the message has no recipient address")
        opened = self.connections
        smtp = self._connection()
        try:
            try:
                smtp.send_message(message)
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException,
                    smtplib.SMTPRecipientsRefused):
                # smtplib drops the socket on a disconnect and on a 421 ("closing").
                if self.connections != opened or smtp.sock is not None:
                    raise  # on a connection of its own, or a refusal: this message's error
                # The server closed the connection kept open since the last message (an idle
                # timeout, a per-session limit): the message was not acknowledged, so a new
                # connection carries it. Were it taken all the same, the receiver has the
                # Message-ID to drop the copy.
                self.close()
                smtp = self._connection()
                smtp.send_message(message)
        except DeliveryError:
            raise
        except Exception as exc:
            error = classify(exc, self.settings)
            # A refusal (MAIL, RCPT or DATA answered 4xx/5xx) leaves the dialogue where it was:
            # smtplib has sent RSET, so the next message goes on the same connection. After
            # anything else (or a 421, on which smtplib closes) the state is unknown.
            if error is None or not isinstance(exc, smtplib.SMTPResponseException | smtplib.
                                               SMTPRecipientsRefused) or smtp.sock is None:
                self.close()
            if error is None:
                raise
            raise error from exc
        self._sent_on_connection += 1
        return str(message["Message-ID"])


def classify(exc: Exception, settings: SmtpSettings) -> DeliveryError | None:
    """A `DeliveryError` for what smtplib, ssl or the socket raised (retryable or not);
    None for anything else, which is a bug to surface as it is."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return _by_code(code, _text(reply), "recipient refused")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _by_code(exc.smtp_code, _text(exc.smtp_error), "authentication failed")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, _text(exc.smtp_error), "server replied")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(True, f"server disconnected: {exc}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(False, f"server does not support what the settings ask: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(False, f"SMTP error: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(False, f"TLS certificate not trusted: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(True, f"TLS error: {exc}")
    if isinstance(exc, TimeoutError):
        return DeliveryError(True, f"timed out after {settings.timeout}s")
    if isinstance(exc, OSError):  # refused, reset, unreachable, name not resolved
        return DeliveryError(True, f"cannot reach {settings.host}:{settings.port}: {exc}")
    return None


def send_message(settings: SmtpSettings, message: Message) -> str:
    """Send a built message on a connection of its own; returns its Message-ID. Raises
    `DeliveryError` on any failure."""
    with SmtpSession(settings) as session:
        return session.send(message)


def send_email(
    settings: SmtpSettings,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    to_name: str | None = None,
    notice_key: str | None = None,
    event_id: str | None = None,
    generation: int = 0,
    session: SmtpSession | None = None,
) -> str:
    """Build and send one message (on `session` when given, else on a connection of its
    own); returns its Message-ID. Raises `DeliveryError`."""
    if not to:
        raise DeliveryError(False, "the recipient has no e-mail address")
    message = build_message(settings.sender, to, subject, text, html,
                            sender_name=settings.sender_name, to_name=to_name,
                            notice_key=notice_key, event_id=event_id, generation=generation)
    if session is not None:
        return session.send(message)
    return send_message(settings, message)


def send_notice_email(settings: SmtpSettings, notice: Notice, message: RenderedMessage,
                      *, generation: int = 0, session: SmtpSession | None = None) -> str:
    """Send a rendered notice to its recipient's address; returns the Message-ID."""
    return send_email(settings, notice.recipient.email or "", message.subject, message.text,
                      message.html, to_name=notice.recipient.name or None,
                      notice_key=notice.notice_key, event_id=notice.event_id,
                      generation=generation, session=session)
