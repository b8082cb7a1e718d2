"""The AsyncAPI 2.6 document of every topic and event, generated from the catalogue and schemas.

Like the services' OpenAPI documents, this is a by-product of the code, never written by
hand: topics and event types come from `shared.events.catalogue`, the shape of each event's
`data` from its marshmallow schema in `shared.events.schemas` (converted to JSON Schema by
apispec's marshmallow plugin).

    python -m shared.events.asyncapi > asyncapi.json
    python -m shared.events.asyncapi --yaml > asyncapi.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from shared.events.catalogue import (
    APPRAISALS_TOPIC,
    CATALOGUE,
    CONTRACTS_TOPIC,
    DEAD_LETTER_TOPIC,
    NOTICES_TOPIC,
    TOPICS,
)
from shared.events.envelope import SPEC_VERSION
from shared.events.schemas import DATA_SCHEMAS, EventData

ASYNCAPI_VERSION = "2.6.0"
KAFKA_BINDING_VERSION = "0.4.0"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"

TOPIC_DESCRIPTIONS = {
    CONTRACTS_TOPIC: "Org units, managers, tenure contracts and their targets "
                     "(published by the contracts service).",
    APPRAISALS_TOPIC: "Appraisals, scores, grades, exit triggers and tenure conclusions "
                      "(published by the appraisal service).",
    NOTICES_TOPIC: "Notices the notifications service gave up delivering.",
    DEAD_LETTER_TOPIC: "Messages a consumer could not apply: the original key and value, "
                       "unchanged, with the reason in dl_* headers. Replayed with "
                       "`python -m shared.ops replay`.",
}

DEAD_LETTER_HEADERS = {
    "dl_original_topic": "Topic the message was read from",
    "dl_original_partition": "Its partition",
    "dl_original_offset": "Its offset",
    "dl_original_key": "Its key (also the dead letter's own key)",
    "dl_consumer_group": "The consumer group that failed",
    "dl_service": "The service running that consumer",
    "dl_error_class": "Exception class, e.g. InvalidEventData, MalformedEvent",
    "dl_error_message": "Exception message",
    "dl_attempts": "How many times the handler ran",
    "dl_failed_at": "RFC 3339 UTC time of the last failure",
}


def _schema_name(schema: type[EventData], version: int) -> str:
    return schema.__name__ if version == 1 else f"{schema.__name__}V{version}"


def _data_schemas() -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
    """JSON Schemas of every data schema, and the component name of each (type, version)."""
    spec = APISpec("tenure-events", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    names: dict[tuple[str, int], str] = {}
    registered: dict[type[EventData], str] = {}
    for event_type, versions in sorted(DATA_SCHEMAS.items()):
        for version, schema in sorted(versions.items()):
            if schema not in registered:
                name = _schema_name(schema, version)
                spec.components.schema(name, schema=schema)
                registered[schema] = name
            names[(event_type, version)] = registered[schema]
    return spec.to_dict().get("components", {}).get("schemas", {}), names


def _cloud_event_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0 envelope in structured JSON mode.",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"type": "string", "const": SPEC_VERSION},
            "id": {"type": "string", "format": "uuid",
                   "description": "Event id; consumers deduplicate on it."},
            "source": {"type": "string", "description": "/tenure/<service>"},
            "type": {"type": "string"},
            "subject": {"type": "string", "format": "uuid",
                        "description": "The manager (or org unit) the event is about."},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "dataschema": {"type": "string",
                           "description": "urn:tenure:event:<type>:<version>"},
            "data": {"type": "object"},
        },
    }


def _headers_schema(event_type: str | None = None) -> dict[str, Any]:
    ce_type: dict[str, Any] = {"type": "string"}
    if event_type:
        ce_type["const"] = event_type
    return {
        "type": "object",
        "properties": {
            "ce_id": {"type": "string", "format": "uuid"},
            "ce_type": ce_type,
            "ce_source": {"type": "string"},
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
        },
    }


def _key_binding() -> dict[str, Any]:
    return {"kafka": {
        "key": {"type": "string", "description": "The manager id (or org unit id): one "
                                                 "aggregate's events share a partition "
                                                 "and keep their order."},
        "bindingVersion": KAFKA_BINDING_VERSION,
    }}


def build_asyncapi(servers: dict[str, str] | None = None) -> dict[str, Any]:
    """The document as a dict; `servers` maps a name to a bootstrap "host:port"."""
    data_schemas, names = _data_schemas()
    schemas: dict[str, Any] = {"CloudEvent": _cloud_event_schema(), **data_schemas}
    messages: dict[str, Any] = {}
    by_topic: dict[str, list[str]] = {topic: [] for topic in TOPICS}
    for event_type, spec in sorted(CATALOGUE.items()):
        version = spec.version
        dataschema = f"urn:tenure:event:{event_type}:{version}"
        messages[event_type] = {
            "name": event_type,
            "title": event_type,
            "summary": spec.summary,
            "contentType": CONTENT_TYPE,
            "headers": _headers_schema(event_type),
            "bindings": _key_binding(),
            "x-dataschema": dataschema,
            "payload": {"allOf": [
                {"$ref": "#/components/schemas/CloudEvent"},
                {"type": "object", "properties": {
                    "type": {"const": event_type},
                    "source": {"const": spec.source},
                    "dataschema": {"const": dataschema},
                    "data": {"$ref": f"#/components/schemas/{names[(event_type, version)]}"},
                }},
            ]},
        }
        by_topic.setdefault(spec.topic, []).append(event_type)
    messages["dead_letter"] = {
        "name": "dead_letter",
        "title": "Dead letter",
        "summary": "A message a consumer group could not apply, with the reason.",
        "contentType": CONTENT_TYPE,
        "headers": {"type": "object", "properties": {
            **_headers_schema()["properties"],
            **{name: {"type": "string", "description": text}
               for name, text in DEAD_LETTER_HEADERS.items()},
        }},
        "bindings": _key_binding(),
        "payload": {"description": "The original message value, byte for byte (usually a "
                                   "CloudEvent, possibly malformed)."},
    }
    by_topic[DEAD_LETTER_TOPIC] = ["dead_letter"]

    channels: dict[str, Any] = {}
    for topic, types in by_topic.items():
        refs = [{"$ref": f"#/components/messages/{t}"} for t in sorted(types)]
        channels[topic] = {
            "description": TOPIC_DESCRIPTIONS.get(topic, ""),
            "bindings": {"kafka": {"topic": topic, "partitions": 3, "replicas": 1,
                                   "bindingVersion": KAFKA_BINDING_VERSION}},
            "subscribe": {
                "operationId": "receive_" + topic.replace(".", "_"),
                "summary": f"Messages on {topic}",
                "message": refs[0] if len(refs) == 1 else {"oneOf": refs},
            },
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:tenure:events",
        "info": {
            "title": "Tenure events",
            "version": "1.0.0",
            "description": "Domain events between the Tenure services: CloudEvents 1.0 in "
                           "structured JSON mode on Kafka, keyed by manager id, published "
                           "at least once from each service's outbox and applied once per "
                           "consumer group (inbox deduplication by event id).",
        },
        "servers": {name: {"url": url, "protocol": "kafka"}
                    for name, url in (servers or {"local": "127.0.0.1:9092"}).items()},
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.events.asyncapi",
                                     description="Print the AsyncAPI document of the events.")
    parser.add_argument("--yaml", action="store_true", help="YAML instead of JSON")
    parser.add_argument("--server", default="127.0.0.1:9092",
                        help="bootstrap host:port to put in servers.local")
    args = parser.parse_args(argv)
    document = build_asyncapi({"local": args.server})
    if args.yaml:
        import yaml

        yaml.safe_dump(document, sys.stdout, sort_keys=False, allow_unicode=True)
    else:
        json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
