"""A table of letters in a metadata of its own, for tests of the audit trail's capture: the
trail's listener records its writes once the metadata is tracked (`audit.track`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase


def letter_model(**extra: Column[Any]) -> type[Any]:
    """The `letters` model (id, title, a secret the trail redacts, a JSON body) and any
    `extra` columns; its metadata is `Letter.metadata`."""

    class Base(DeclarativeBase):
        metadata = MetaData()

    namespace: dict[str, Any] = {
        "__tablename__": "letters",
        "id": Column(Integer, primary_key=True),
        "title": Column(String(50)),
        "secret": Column(String(50), nullable=True),
        "body": Column(JSON, nullable=True),
        **extra,
    }
    return type("Letter", (Base,), namespace)
