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
import io
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask import request

from shared.errors import ApiProblem
from shared.fields import TextValues

MAX_ROWS = 200_000


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
    """Each row through `schema` on its own: (number, loaded) pairs and the faults."""
    loaded: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    for n, raw in zip(numbers, rows, strict=True):
        if not isinstance(raw, dict):
            errors.append(RowError(n, "row", "must be an object"))
            continue
        try:
            loaded.append((n, schema.load(raw)))
        except ma.ValidationError as exc:
            errors.extend(row_errors(n, exc.messages))
    return loaded, errors


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
