"""The AsyncAPI document is generated from the catalogue and covers every event type."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.events.asyncapi import build_asyncapi, main
from shared.events.catalogue import CATALOGUE, DEAD_LETTER_TOPIC, TOPICS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_asyncapi()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_document_is_asyncapi_2_6_with_a_channel_per_topic(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "2.6.0"
    assert set(document["channels"]) == set(TOPICS)
    assert document["info"]["title"] and document["info"]["version"]


def test_every_catalogue_type_is_a_message_on_its_topics_channel(
        document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    for event_type, spec in CATALOGUE.items():
        assert messages[event_type]["summary"] == spec.summary
        channel = document["channels"][spec.topic]["subscribe"]["message"]
        listed = [m["$ref"] for m in channel.get("oneOf", [channel])]
        assert f"#/components/messages/{event_type}" in listed


def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert _resolve(document, ref) is not None


def test_message_payload_pins_type_and_points_data_at_its_schema(
        document: dict[str, Any]) -> None:
    payload = document["components"]["messages"]["contract.expiring"]["payload"]
    pinned = payload["allOf"][1]["properties"]
    assert pinned["type"] == {"const": "contract.expiring"}
    data = _resolve(document, pinned["data"]["$ref"])
    assert "days_left" in data["required"]
    assert data["properties"]["days_left"]["enum"] == [90, 30, 7]
    assert data["additionalProperties"] is True  # producers may add keys


def test_decimal_fields_are_documented_as_strings(document: dict[str, Any]) -> None:
    scored = document["components"]["schemas"]["AppraisalScoredData"]
    assert scored["properties"]["score"]["type"] == "string"


def test_dead_letter_channel_documents_the_reason_headers(document: dict[str, Any]) -> None:
    message = _resolve(document,
                       document["channels"][DEAD_LETTER_TOPIC]["subscribe"]["message"]["$ref"])
    assert {"dl_original_topic", "dl_error_class", "dl_attempts"} <= set(
        message["headers"]["properties"])


def test_command_line_prints_the_document_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server", "kafka:9092"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["servers"]["local"] == {"url": "kafka:9092", "protocol": "kafka"}
    assert set(printed["components"]["messages"]) >= set(CATALOGUE)
