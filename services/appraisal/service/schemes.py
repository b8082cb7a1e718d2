"""Appraisal schemes: list, read, resolve for a manager, and a new version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from services.appraisal import domain as d
from services.appraisal.models import SchemeRecord
from services.appraisal.service.common import (
    load_scheme_book,
    require_group_wide,
    resolve_scope,
    utcnow,
)
from shared.auth import Principal
from shared.db import Database


def scheme_out(scheme: d.Scheme, record: SchemeRecord | None) -> dict[str, Any]:
    return {**d.scheme_to_dict(scheme), "builtin": record is None,
            "created_by": record.created_by if record else None,
            "created_at": record.created_at if record else None}


def list_schemes(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        records = {(r.code, r.version): r for r in s.scalars(select(SchemeRecord))}
        return [scheme_out(x, records.get((x.code, x.version))) for x in load_scheme_book(s)]


def get_scheme(db: Database, code: str, version: int | None) -> dict[str, Any]:
    with db.read() as s:
        scheme = load_scheme_book(s).get(code, version)
        record = s.scalar(select(SchemeRecord).where(SchemeRecord.code == scheme.code,
                                                     SchemeRecord.version == scheme.version))
        return scheme_out(scheme, record)


def resolve_scheme(db: Database, layer: int | None, category: str | None,
                   position: str | None, year: int | None) -> dict[str, Any]:
    with db.read() as s:
        scheme, _ = load_scheme_book(s).resolve(layer, category, position, year=year)
        record = s.scalar(select(SchemeRecord).where(SchemeRecord.code == scheme.code,
                                                     SchemeRecord.version == scheme.version))
        return scheme_out(scheme, record)


def create_scheme(db: Database, actor: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """A new scheme, or a new version of one: what it leaves out comes from the version
    before it (or, for a new code, from the group default), so an override states only
    what differs. Versions are never changed in place."""
    with db.unit_of_work() as s:
        require_group_wide(resolve_scope(s, actor))
        book = load_scheme_book(s)
        code = body.get("code")
        if not isinstance(code, str) or not code:
            raise d.SchemeInvalid("code: required", errors={"code": ["required"]})
        known = book.versions(code)
        data = dict(body)
        if known:
            base = book.get(code)
            for key in ("layer", "category", "position", "name", "valid_from_year"):
                data.setdefault(key, d.scheme_to_dict(base)[key])
        else:
            base = book.resolve(None, None, None)[0]
        data.setdefault("version", (max(known) + 1) if known else 1)
        scheme = d.scheme_from_dict(data, base=base)
        if scheme.version in known:
            raise d.SchemeConflict(
                f"Scheme {code} v{scheme.version} exists: a change is a new version",
                errors={"version": [f"v{scheme.version} is taken; next is {max(known) + 1}"]})
        book.add(scheme)
        record = SchemeRecord(code=scheme.code, version=scheme.version,
                              body=d.scheme_to_dict(scheme), created_by=actor.subject,
                              created_at=utcnow())
        s.add(record)
        s.flush()
        return scheme_out(scheme, record)
