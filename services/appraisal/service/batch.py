"""Scoring one batch of a run's cohort: read its inputs, appraise, turn results into rows.

A run hands its cohort out in batches: on PostgreSQL as rows any scoring process may claim
(`claims.py`; scoring is CPU work, so two cores or two pods score about twice as fast), on
SQLite to this same process. Either way a batch comes back as rows ready to write (COPY text
on PostgreSQL) and light cohort members; only the run's own process writes, in its one
transaction, and applies forced distribution, so workers never touch the results tables.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.appraisal import domain as d
from services.appraisal.models import Appraisal
from services.appraisal.service.cohorts import Candidate, Inputs, Skip
from services.appraisal.service.common import utcnow
from services.appraisal.service.lifecycle import new_appraisal
from services.appraisal.service.results import member_of, result_fields
from shared.db import Database
from shared.heap import collect_young_less_often

#: Column order of the rows a batch returns (COPY needs one order, dicts are slower).
APPRAISAL_COLUMNS = tuple(c.name for c in Appraisal.__table__.columns)
JSON_COLUMNS = frozenset(("exit_triggers", "appraiser_ids"))
#: What a re-score writes on an existing row.
UPDATE_COLUMNS = ("state", "scheme_code", "scheme_version", "total", "grade",
                  "grade_before_distribution", "outcome", "exit_rule", "exit_triggers",
                  "complete", "deferred_pay", "tenure_outcome", "conditions", "result",
                  "run_id", "scored_at", "updated_at")

Key = tuple[str, str]  # (manager id, contract id)


@dataclass(frozen=True)
class RunContext:
    """What every batch of a run needs; sent once to each worker process."""

    url: str
    run_id: str
    actor: str
    year: int
    kind: str
    schemes: tuple[dict[str, Any], ...]  # stored scheme versions (the built-in is implied)
    copy_text: bool  # rows as COPY text (PostgreSQL) or as tuples (SQLite)


@dataclass
class Batch:
    candidates: list[Candidate]
    existing: dict[Key, tuple[str, str]]  # appraisal id, state
    frozen: set[Key]


@dataclass
class BatchResult:
    inserts: Any  # COPY text or tuples in APPRAISAL_COLUMNS order
    updates: Any  # COPY text or tuples in ("id", *UPDATE_COLUMNS) order
    members: list[tuple[Any, d.CohortMember]] = field(default_factory=list)
    final: dict[Key, tuple[str, str, str]] = field(default_factory=dict)  # id, grade, outcome
    skips: list[Skip] = field(default_factory=list)
    scored: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    peak_mib: float = 0.0  # the scoring process's peak resident memory so far
    scored_by: str = ""  # the claimer that scored it (claims.py), when claimed


_STATE: dict[str, Any] = {}


def init_worker(ctx: RunContext) -> None:
    """Per process: an engine and the scheme book (a worker process keeps them); a spawned
    scorer collects its young generation as every service process does (shared/heap.py)."""
    collect_young_less_often()
    book = d.SchemeBook([d.DEFAULT_SCHEME])
    for body in ctx.schemes:
        book.add(d.scheme_from_dict(body))
    old = _STATE.get("db")
    if old is not None:
        old.dispose()
    _STATE.update(db=Database(ctx.url), book=book, ctx=ctx)


def ensure_worker(ctx: RunContext) -> None:
    """A scorer serving several runs (claims.serve) switches context only when the run does."""
    if _STATE.get("ctx") != ctx:
        init_worker(ctx)


def worker_database() -> Database:
    """The engine `init_worker` opened in this process."""
    db: Database = _STATE["db"]
    return db


def close_worker() -> None:
    db = _STATE.pop("db", None)
    if db is not None:
        db.dispose()
    _STATE.clear()


def score_batch(batch: Batch) -> BatchResult:
    ctx: RunContext = _STATE["ctx"]
    db: Database = _STATE["db"]
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with db.read() as s:
        inputs = Inputs(s, ctx.year, ctx.kind, _STATE["book"])
        inputs.load(batch.candidates)
        t1 = time.perf_counter()
        seconds["read_s"] = t1 - t0
        out = BatchResult(inserts=None, updates=None)
        scored: list[tuple[Candidate, Any]] = []
        for c in batch.candidates:
            key = (c.manager_id, c.contract_id)
            try:
                result = inputs.appraise(c)
            except d.DomainError as exc:
                if key not in batch.frozen:
                    out.skips.append(Skip(c.manager_id, c.contract_id,
                                          f"cannot be scored: {exc.detail}"))
                continue
            if isinstance(result, d.AppraisalResult):
                out.members.append(((c.layer, c.category), member_of(result)))
            if key not in batch.frozen:
                scored.append((c, result))
    t2 = time.perf_counter()
    seconds["score_s"] = t2 - t1
    inserts, updates = [], []
    now = utcnow()
    for c, result in scored:
        fields = result_fields(result)
        key = (c.manager_id, c.contract_id)
        held = batch.existing.get(key)
        if held is None:
            row = new_appraisal(c, ctx.year, ctx.kind, "scored", now, run_id=ctx.run_id,
                                scored_at=now, **fields)
            inserts.append(tuple(row[name] for name in APPRAISAL_COLUMNS))
            appraisal_id = row["id"]
        else:
            appraisal_id = held[0]
            values = {"state": "scored", "run_id": ctx.run_id, "scored_at": now,
                      "updated_at": now, **fields}
            updates.append((appraisal_id, *(values[name] for name in UPDATE_COLUMNS)))
        out.final[key] = (appraisal_id, fields["grade"], fields["outcome"])
    out.scored = len(scored)
    if ctx.copy_text:
        out.inserts = copy_text(inserts, APPRAISAL_COLUMNS)
        out.updates = copy_text(updates, ("id", *UPDATE_COLUMNS))
    else:
        out.inserts, out.updates = inserts, updates
    seconds["serialise_s"] = time.perf_counter() - t2
    out.seconds = seconds
    out.peak_mib = peak_mib()
    return out


def peak_mib() -> float:
    """This process's own peak resident memory (VmHWM). Not ru_maxrss: Linux carries that
    across exec, so a spawned worker would report its parent's peak as its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- COPY text format ---------------------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
#: Most cells (ids, codes, a JSON trace without escapes) need no escaping: a C-speed test
#: first, the per-character translation only when something is there to escape.
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search


def copy_text(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> str:
    """Rows in PostgreSQL's COPY text format (tab-separated, \\N for NULL, escaped).

    Written for speed (a run formats 200,000 rows): text first, other values converted
    once per distinct value (a batch shares one timestamp), escaping only when needed."""
    json_at = [i for i, name in enumerate(columns) if name in JSON_COLUMNS]
    escapes, needs_escape = _ESCAPES, _NEEDS_ESCAPE
    memo: dict[tuple[type, Any], str] = {}
    lines = []
    for row in rows:
        cells = list(row)
        for i in json_at:
            value = cells[i]
            if value is not None:
                cells[i] = "[]" if not value else json.dumps(value, ensure_ascii=False)
        out: list[str] = []
        add = out.append
        for value in cells:
            kind = type(value)
            if kind is str:
                add(value.translate(escapes) if needs_escape(value) else value)
            elif value is None:
                add("\\N")
            elif kind is bool:
                add("t" if value else "f")
            else:
                key = (kind, value)
                text = memo.get(key)
                if text is None:
                    text = memo[key] = (value.isoformat() if isinstance(value, (datetime, date))
                                        else str(value))
                add(text)
        lines.append("\t".join(out))
    lines.append("")
    return "\n".join(lines) if len(lines) > 1 else ""


def as_dicts(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def subset(existing: Mapping[Key, tuple[str, str]], frozen: set[Key],
           candidates: list[Candidate]) -> Batch:
    keys = [(c.manager_id, c.contract_id) for c in candidates]
    return Batch(candidates, {k: existing[k] for k in keys if k in existing},
                 {k for k in keys if k in frozen})
