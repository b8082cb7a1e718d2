"""Reading a bulk upload (a JSON array or a CSV file) and reporting its faults row by row.

HR departments load people, units and figures from their own systems in one file. Every row
is checked on its own: a bad row is reported by its number and field and never stops the
good ones. A fault of the whole file (not UTF-8, no header, an unknown column, no rows) is a
problem+json error of the request instead, because no row could be read at all.

Row numbers: JSON rows count from 1; CSV rows carry their line number (the header is line 1),
so the number matches what a spreadsheet shows.
"""

from __future__ import annotations

import csv
import gc
import io
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import request

from shared.errors import ApiProblem
from shared.fields import DecimalString, StrictSchema, TextValues, loose_value

MAX_ROWS = 200_000


_paused = 0
_paused_lock = threading.Lock()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run a bulk upload without the cyclic garbage collector.

    An upload of 20,000 rows keeps several objects alive per row until it is written, and
    every collection the allocations trigger scans all of them again: a third of an
    upload's time. Reference counting still frees what the upload drops; the collector
    runs again when the last upload in the process ends (uploads in other threads share
    one count, so none switches it back on under another)."""
    global _paused
    with _paused_lock:
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0:
                gc.enable()


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


def row_errors(n: int, messages: Any, prefix: str = "") -> list[RowError]:
    """Flatten marshmallow's nested messages into one RowError per field and message."""
    out: list[RowError] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.extend(row_errors(n, value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list):
        for m in messages:
            out.extend(row_errors(n, m, prefix) if isinstance(m, dict | list)
                       else [RowError(n, prefix or "row", str(m))])
    else:
        out.append(RowError(n, prefix or "row", str(messages)))
    return out


def load_rows(schema: ma.Schema, rows: list[Any], numbers: list[int]
              ) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """Each row through `schema` on its own: (number, loaded) pairs and the faults.

    Where the schema allows it (see `ColumnCache`), a good row is loaded from the cached
    outcome of each of its values; a row with any fault goes through `schema.load`, so
    its messages are marshmallow's own."""
    loaded: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    cache = ColumnCache(schema) if ColumnCache.suits(schema) else None
    for n, raw in zip(numbers, rows, strict=True):
        if not isinstance(raw, dict):
            errors.append(RowError(n, "row", "must be an object"))
            continue
        good = cache.load(raw) if cache is not None else None
        if good is not None:
            loaded.append((n, good))
            continue
        try:
            loaded.append((n, schema.load(raw)))
        except ma.ValidationError as exc:
            errors.extend(row_errors(n, exc.messages))
    return loaded, errors


#: Fields whose load is a function of the raw value alone (and of nothing else in the row).
_PURE_FIELDS = frozenset({ma.fields.String, ma.fields.Integer, ma.fields.Boolean,
                          ma.fields.Decimal, ma.fields.Float, ma.fields.Date,
                          ma.fields.DateTime, DecimalString})
#: Raw values and loaded values a cache may key on and share between rows: immutable, and
#: equal only when identical in what they mean (not Decimal or float: 1.0 == 1.00).
_CACHED_RAW = frozenset({str, int, bool, type(None), type(ma.missing)})
_SHARED_VALUE = frozenset({str, int, bool, Decimal, type(None), type(ma.missing), date,
                           datetime})
_FAULT = object()


class ColumnCache:
    """Loads rows as `schema.load` does, each distinct value of a column once.

    A file of 20,000 rows holds a few thousand distinct values (the same year, kind, source
    and indicator codes again and again), and marshmallow's per-row machinery costs more
    than the database work of the row. Only for schemas where this cannot differ from
    `schema.load`: fields whose load depends on their own value alone, no schema hooks but
    `StrictSchema`'s refusal of loose values (applied here per value), nothing partial. A
    row with any fault (an unknown column, a missing or invalid value) gets None: the
    caller loads it with the schema for marshmallow's own messages.
    """

    def __init__(self, schema: ma.Schema) -> None:
        self.strict = isinstance(schema, StrictSchema)
        self.fields = [(f.data_key or name, f.attribute or name, f)
                       for name, f in schema.load_fields.items()]
        self.columns = frozenset(key for key, _, _ in self.fields)
        # Per kind of row (CSV text or JSON), per field: (type, raw value) -> its outcome.
        self.caches: dict[bool, list[dict[tuple[type, Any], Any]]] = {
            from_text: [{} for _ in self.fields] for from_text in (False, True)}

    @staticmethod
    def suits(schema: ma.Schema) -> bool:
        hooks = {tag: [hook[0] for hook in entries]
                 for tag, entries in schema._hooks.items() if entries}
        allowed = {"pre_load": ["_refuse_loose_values"]} if isinstance(
            schema, StrictSchema) else {}
        return (hooks in ({}, allowed) and not schema.many and not schema.partial
                and schema.unknown in (ma.RAISE, ma.EXCLUDE)
                and all(type(f) in _PURE_FIELDS and "." not in (f.attribute or "")
                        for f in schema.load_fields.values()))

    def load(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        """The loaded row, or None when it has a fault."""
        if not self.columns.issuperset(raw):
            return None  # unknown columns (excluded ones too: let the schema drop them)
        from_text = isinstance(raw, TextValues)
        out: dict[str, Any] = {}
        for (key, attr, f), cache in zip(self.fields, self.caches[from_text], strict=True):
            value = raw.get(key, ma.missing)
            kind = type(value)
            if kind in _CACHED_RAW:
                result = cache.get((kind, value), cache)
                if result is cache:
                    result = self._load_value(f, key, value, from_text)
                    if result is _FAULT or type(result) in _SHARED_VALUE:
                        cache[(kind, value)] = result
            else:
                result = self._load_value(f, key, value, from_text)
            if result is _FAULT:
                return None
            if result is not ma.missing:
                out[attr] = result
        return out

    def _load_value(self, f: ma.fields.Field, key: str, value: Any, from_text: bool) -> Any:
        if self.strict and value is not ma.missing and loose_value(f, value, from_text):
            return _FAULT
        try:
            return f.deserialize(value, key, None)
        except ma.ValidationError:
            return _FAULT


def parse_csv(text: str, columns: Collection[str]) -> tuple[list[dict[str, Any]], list[int]]:
    """CSV rows as dicts keyed by column, with their line numbers; empty cells are absent."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ApiProblem(422, "Unprocessable Entity", "The CSV file has no header row",
                         errors={"file": ["a header row naming the columns is required"]})
    unknown = [h for h in header if h not in columns]
    if unknown:
        raise ApiProblem(422, "Unprocessable Entity",
                         f"Unknown CSV columns: {', '.join(unknown)}",
                         errors={"file": [f"columns allowed: {', '.join(columns)}"]})
    rows, numbers = [], []
    for raw in reader:
        rows.append({k.strip(): v.strip() for k, v in raw.items()
                     if k is not None and isinstance(v, str) and v.strip() != ""})
        numbers.append(reader.line_num)
    return rows, numbers


def read_upload(columns: Collection[str]) -> tuple[list[Any], list[int]]:
    """The request's rows, from a JSON array (or `{"items": [...]}`), a `text/csv` body or a
    multipart `file` upload, with their row numbers."""
    upload = request.files.get("file")
    if upload is not None or request.mimetype in ("text/csv", "text/plain"):
        raw = upload.read() if upload is not None else request.get_data(cache=True)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiProblem(415, "Unsupported Media Type", "The CSV must be UTF-8",
                             errors={"file": ["not UTF-8"]}) from exc
        rows, numbers = parse_csv(text, columns)
        rows = [TextValues(row) for row in rows]  # CSV: every value is text ("true", "1")
    elif request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and set(body) == {"items"}:
            body = body["items"]
        if not isinstance(body, list):
            raise ApiProblem(400, "Bad Request", "The body must be a JSON array of rows",
                             errors={"items": ["a JSON array of objects is required"]})
        shapeless = [i for i, row in enumerate(body) if not isinstance(row, dict)]
        if shapeless:
            # Fields of a row are checked one by one; a row that is not an object at all
            # means the document itself is malformed.
            raise ApiProblem(422, "Unprocessable Entity",
                             f"{len(shapeless)} row(s) are not JSON objects",
                             errors={f"items[{i}]": ["must be an object"]
                                     for i in shapeless[:20]})
        rows, numbers = body, list(range(1, len(body) + 1))
    else:
        raise ApiProblem(415, "Unsupported Media Type",
                         "Send a JSON array, a text/csv body or a multipart 'file' upload",
                         errors={"Content-Type": ["application/json, text/csv or "
                                                  "multipart/form-data"]})
    if not rows:
        raise ApiProblem(422, "Unprocessable Entity", "The upload has no rows",
                         errors={"file": ["no data rows"]})
    if len(rows) > MAX_ROWS:
        raise ApiProblem(413, "Content Too Large",
                         f"At most {MAX_ROWS} rows per upload; split the file",
                         errors={"file": [f"{len(rows)} rows"]})
    return rows, numbers
