"""Webhook signature scheme v1: what receivers verify, computed without any I/O."""

from __future__ import annotations

import hashlib
import hmac

from services.notifications.channels.webhook import encode_body, sign, verify_signature

SECRET = "whsec-test"
BODY = encode_body({"notice_key": "nk-1", "subject": "考核结果"})
TS = 1_767_225_600


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, TS, BODY) == f"v1={expected}"


def test_a_genuine_signature_verifies() -> None:
    assert verify_signature(SECRET, str(TS), BODY, sign(SECRET, TS, BODY), now=TS + 10)


def test_str_and_bytes_bodies_verify_alike() -> None:
    assert verify_signature(SECRET, TS, BODY.decode(), sign(SECRET, TS, BODY), now=TS)


def test_a_tampered_body_fails() -> None:
    tampered = BODY.replace(b"nk-1", b"nk-2")
    assert not verify_signature(SECRET, TS, tampered, sign(SECRET, TS, BODY), now=TS)


def test_another_secret_fails() -> None:
    assert not verify_signature("other", TS, BODY, sign(SECRET, TS, BODY), now=TS)


def test_a_changed_timestamp_fails() -> None:
    assert not verify_signature(SECRET, TS + 1, BODY, sign(SECRET, TS, BODY), now=TS)


def test_an_old_request_is_refused_as_a_replay() -> None:
    header = sign(SECRET, TS, BODY)
    assert verify_signature(SECRET, TS, BODY, header, now=TS + 300)
    assert not verify_signature(SECRET, TS, BODY, header, now=TS + 301)
    assert not verify_signature(SECRET, TS, BODY, header, now=TS - 301)


def test_one_matching_signature_among_several_is_enough_for_secret_rotation() -> None:
    header = f"{sign('old-secret', TS, BODY)}, {sign(SECRET, TS, BODY)}"
    assert verify_signature(SECRET, TS, BODY, header, now=TS)


def test_missing_or_malformed_headers_fail() -> None:
    good = sign(SECRET, TS, BODY)
    assert not verify_signature(SECRET, TS, BODY, None, now=TS)
    assert not verify_signature(SECRET, TS, BODY, "", now=TS)
    assert not verify_signature(SECRET, None, BODY, good, now=TS)
    assert not verify_signature(SECRET, "yesterday", BODY, good, now=TS)
    assert not verify_signature(SECRET, TS, BODY, good.removeprefix("v1="), now=TS)


def test_the_body_is_compact_utf8_json_with_sorted_keys() -> None:
    assert encode_body({"b": 1, "a": "任期"}) == '{"a":"任期","b":1}'.encode()
