"""How a message is written (channels/email.py): header lines within RFC 5322's 78
characters however long the subject or name, and read back as they were given."""

# ruff: noqa: RUF001

from __future__ import annotations

import email
import email.policy
from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest

from services.notifications.channels.email import build_message

LONG_SUBJECT = "【任期制】" + "您的二〇二六年度经营业绩考核结果已经公布，请登录系统查看并确认" * 3
LONG_NAME = " ".join(["Director of the Board Office and Secretary of the Party Committee"] * 2)


def written(**kwargs: str) -> bytes:
    message = build_message("tenure@example.com", "zhang.wei@example.com",
                            kwargs.get("subject", "Result"), "正文\n", "<p>正文</p>",
                            to_name=kwargs.get("to_name", "张伟"), notice_key="k-1",
                            event_id="e-1")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@pytest.mark.parametrize("kwargs", [{"subject": LONG_SUBJECT}, {"to_name": LONG_NAME},
                                    {"to_name": "张伟" * 40}, {}])
def test_every_header_line_fits_78_characters_and_reads_back_as_given(
        kwargs: dict[str, str]) -> None:
    raw = written(**kwargs)
    assert all(len(line) <= 78 for line in header_lines(raw)), header_lines(raw)
    read = email.message_from_bytes(raw, policy=email.policy.default)
    assert read["Subject"] == kwargs.get("subject", "Result")
    # Adjacent RFC 2047 words make one text (RFC 2047 6.2), as decode_header reads them;
    # the header registry's address parser would put a space between them.
    name, address = parseaddr(email.message_from_bytes(raw)["To"].replace("\r\n", ""))
    assert str(make_header(decode_header(name))) == kwargs.get("to_name", "张伟")
    assert address == read["To"].addresses[0].addr_spec == "zhang.wei@example.com"


def test_short_headers_are_written_as_they_are() -> None:
    lines = header_lines(written())
    assert b"Subject: Result" in lines
    assert b"Message-ID: <k-1@tenure.notifications>" in lines
    assert b"X-Tenure-Notice-Key: k-1" in lines
    assert b"X-Tenure-Event-Id: e-1" in lines
