"""E-mail over SMTP: build a UTF-8 multipart message and send it, classifying every failure.

Chinese subjects and names are encoded by `email.message.EmailMessage` (RFC 2047 headers, a
UTF-8 text part and an optional HTML alternative). The Message-ID is derived from the notice
key, so a receiver (or a mail archive) can spot a message sent twice by a crash mid-send.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

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
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read SMTP_HOST, SMTP_PORT, SMTP_SENDER, SMTP_SENDER_NAME, SMTP_STARTTLS,
        SMTP_USERNAME (or SMTP_USER), SMTP_PASSWORD, SMTP_TIMEOUT, SMTP_CAFILE; a
        NOTIFICATIONS_-prefixed name wins."""
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
        )

    def tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is not None:
            return self.ssl_context
        return ssl.create_default_context(cafile=self.cafile)


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
) -> EmailMessage:
    """A text (+ HTML alternative) message with UTF-8 headers and tracing headers.

    The Message-ID is `<notice_key@tenure.notifications>`; a deliberate resend (generation
    N > 0) gets `<notice_key.rN@...>` so mail systems that drop duplicate ids deliver it.
    """
    message = EmailMessage()
    message["From"] = Address(display_name=sender_name or "", addr_spec=sender)
    message["To"] = Address(display_name=to_name or "", addr_spec=to)
    message["Subject"] = " ".join(subject.split())
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
    message.set_content(text, charset="utf-8")
    if html:
        message.add_alternative(html, subtype="html", charset="utf-8")
    return message


def _by_code(code: int, text: str, what: str) -> DeliveryError:
    # 4xx: the server asks to come back later; 5xx: it refuses this message for good.
    retryable = not 500 <= code < 600
    return DeliveryError(retryable, f"{what}: {code} {text}".strip(), code=code)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def send_message(settings: SmtpSettings, message: EmailMessage) -> str:
    """Send a built message; returns its Message-ID. Raises `DeliveryError` on any failure."""
    if not message.get("To"):
        raise DeliveryError(False, "the message has no recipient address")
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
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
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise _by_code(code, _text(reply), "recipient refused") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise _by_code(exc.smtp_code, _text(exc.smtp_error), "authentication failed") from exc
    except smtplib.SMTPResponseException as exc:
        raise _by_code(exc.smtp_code, _text(exc.smtp_error), "server replied") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise DeliveryError(True, f"server disconnected: {exc}") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(False, f"server does not support what the settings ask: {exc}"
                            ) from exc
    except smtplib.SMTPException as exc:
        raise DeliveryError(False, f"SMTP error: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(False, f"TLS certificate not trusted: {exc.verify_message}"
                            ) from exc
    except ssl.SSLError as exc:
        raise DeliveryError(True, f"TLS error: {exc}") from exc
    except TimeoutError as exc:
        raise DeliveryError(True, f"timed out after {settings.timeout}s") from exc
    except OSError as exc:  # refused, reset, unreachable, name not resolved
        raise DeliveryError(True, f"cannot reach {settings.host}:{settings.port}: {exc}"
                            ) from exc
    return str(message["Message-ID"])


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
) -> str:
    """Build and send one message; returns its Message-ID. Raises `DeliveryError`."""
    if not to:
        raise DeliveryError(False, "the recipient has no e-mail address")
    message = build_message(settings.sender, to, subject, text, html,
                            sender_name=settings.sender_name, to_name=to_name,
                            notice_key=notice_key, event_id=event_id, generation=generation)
    return send_message(settings, message)


def send_notice_email(settings: SmtpSettings, notice: Notice, message: RenderedMessage,
                      *, generation: int = 0) -> str:
    """Send a rendered notice to its recipient's address; returns the Message-ID."""
    return send_email(settings, notice.recipient.email or "", message.subject, message.text,
                      message.html, to_name=notice.recipient.name or None,
                      notice_key=notice.notice_key, event_id=notice.event_id,
                      generation=generation)
