"""SQLAlchemy mappings of the appraisal service's own database.

Two halves: the read model (org units, managers, contracts and their target sets), written
only by the consumer of contract events, and the appraisal records (schemes, actuals,
appraisals, runs, appeals) written by this service's API. Decimals are stored as their exact
text ("87.50"), never as floats, and read back with `Decimal(text)`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared import audit
from shared.tables import BigId, define_audit_table, define_shared_tables

DEC = 40  # room for any decimal the API accepts, as text


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# --- read model (from hr.contracts) -----------------------------------------------------------


class OrgUnit(Base):
    __tablename__ = "org_units"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(48))
    layer: Mapped[int] = mapped_column(Integer)
    # Materialised path "/root/.../self/", rebuilt here from parent ids: a subtree is one
    # indexed prefix match, as in the contracts service.
    path: Mapped[str] = mapped_column(String(2000), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Manager(Base):
    __tablename__ = "managers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    org_unit_id: Mapped[str] = mapped_column(String(36), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(36), index=True)
    layer: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(48))
    position: Mapped[str | None] = mapped_column(String(48))
    management_level: Mapped[str | None] = mapped_column(String(48))
    employment_status: Mapped[str] = mapped_column(String(16), default="active")
    departure_reason: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Contract(Base):
    """A tenure contract as the contracts service last described it."""

    __tablename__ = "contracts"
    __table_args__ = (Index("ix_contracts_manager_state", "manager_id", "state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    manager_id: Mapped[str] = mapped_column(String(36))
    org_unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(36))
    layer: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(48))
    position: Mapped[str | None] = mapped_column(String(48))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    term_years: Mapped[int | None] = mapped_column(Integer)
    term_number: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(24))
    version: Mapped[int] = mapped_column(Integer, default=1)
    end_reason: Mapped[str | None] = mapped_column(Text)
    ended_by_exit: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TargetSet(Base):
    """The targets of one performance contract: a year's annual targets or the tenure's."""

    __tablename__ = "target_sets"
    __table_args__ = (Index("ix_target_sets_manager_year", "manager_id", "year", "kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the document id
    contract_id: Mapped[str] = mapped_column(String(36), index=True)
    manager_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))  # annual | tenure
    year: Mapped[int] = mapped_column(Integer)  # 0 for the tenure contract
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    targets: Mapped[list[Any]] = mapped_column(JSON)
    # md5 of the lines (targets_digest): a run reads each distinct set of lines once, as
    # most managers' targets come from a few templates.
    digest: Mapped[str] = mapped_column(String(32), index=True, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def targets_digest(lines: list[Any]) -> str:
    """The digest a target set is stored with: md5 of its lines as canonical JSON.

    Every contract event's documents are digested, and most managers' lines come from a
    few templates: each distinct set of lines is digested once a process, found again by
    orjson's sorted-key encoding (about a tenth of the stdlib's cost; an eighth of the
    appraisal consumer's CPU while a group was countersigned). The stored digest is still
    the stdlib's text, so digests already stored keep matching. Two sets of lines orjson
    writes alike the stdlib writes alike too, for what events carry: JSON's own types
    (orjson writes NaN as null, but a line's figures are decimal strings, which event
    validation refuses as NaN). What orjson would write otherwise than by `str` (dates,
    dataclasses, subclasses) or cannot write is digested without the memo."""
    try:
        key = orjson.dumps(lines, option=_KEY_OPTIONS)
    except TypeError:
        return _digest(lines)
    digest = _DIGESTS.get(key)
    if digest is None:
        if len(_DIGESTS) >= _DIGESTS_KEPT:
            _DIGESTS.clear()
        digest = _DIGESTS[key] = _digest(lines)
    return digest


def _digest(lines: list[Any]) -> str:
    return hashlib.md5(json.dumps(lines, sort_keys=True, separators=(",", ":"),
                                  default=str).encode(), usedforsecurity=False).hexdigest()


#: Digests of the distinct lines seen, by their orjson text (`targets_digest`). Dates,
#: dataclasses and subclasses (which the stdlib writes by `str`) are refused, not written.
_DIGESTS: dict[bytes, str] = {}
_DIGESTS_KEPT = 4096
_KEY_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS)


class Departure(Base):
    """A manager who left for another reason than appraisal (never an appraisal exit)."""

    __tablename__ = "departures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    manager_id: Mapped[str] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    on: Mapped[date] = mapped_column(Date)
    layer: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(48))
    org_unit_id: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(64))  # "event:<id>" or "api:<subject>"
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- appraisal records --------------------------------------------------------------------------


class SchemeRecord(Base):
    """One version of an appraisal scheme, in the domain's dict form."""

    __tablename__ = "schemes"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Difficulty(Base):
    """An enterprise's difficulty coefficient for a year (multiplies the organisational part)."""

    __tablename__ = "difficulty_coefficients"

    org_unit_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    coefficient: Mapped[str] = mapped_column(String(DEC))
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ActualRecord(Base):
    """What was achieved on one indicator, for a manager or (organisational lines) an
    enterprise's whole team, in a year (annual) or over the term (tenure)."""

    __tablename__ = "actuals"
    __table_args__ = (
        UniqueConstraint("subject_id", "year", "kind", "indicator_code",
                         name="uq_actuals_subject_year_kind_code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(String(36))  # manager id or enterprise unit id
    subject_kind: Mapped[str] = mapped_column(String(16))  # manager | enterprise
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # annual | tenure
    indicator_code: Mapped[str] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(String(DEC))
    rating: Mapped[str | None] = mapped_column(String(16))
    milestones_met: Mapped[int | None] = mapped_column(Integer)
    veto_hit: Mapped[bool | None] = mapped_column(Boolean)
    points: Mapped[str | None] = mapped_column(String(DEC))
    source: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    row_version: Mapped[int] = mapped_column(Integer, default=1)


class PayBase(Base):
    """A manager's base figure for performance pay in a year (from the payroll system)."""

    __tablename__ = "pay_bases"

    manager_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    amount: Mapped[str] = mapped_column(String(DEC))
    source: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AppraisalRun(Base):
    """One request to score a cohort: its criteria, progress and what it skipped and why."""

    __tablename__ = "appraisal_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    skips: Mapped[list[Any]] = mapped_column(JSON, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    org_scope: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AppraisalRunBatch(Base):
    """One batch of a running run's cohort, claimed by whichever scoring process is free.

    The run's process writes a row per batch (`work`: the candidates); any process that
    scores (the run's own, its local workers, `flask score-runs` pods) claims one with
    FOR UPDATE SKIP LOCKED and a lease, scores it and stores the rows to write (`rows_new`,
    `rows_rescored`: COPY text) and the light rest (`result`). Only the run's process writes
    appraisals, in its one transaction; it deletes the batches with that commit.
    """

    __tablename__ = "appraisal_run_batches"

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))  # queued | claimed | scored
    work: Mapped[dict[str, Any]] = mapped_column(JSON)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claims: Mapped[int] = mapped_column(Integer, default=0)  # > 1: a lapsed lease was retaken
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_new: Mapped[str | None] = mapped_column(Text)
    rows_rescored: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Appraisal(Base):
    """One manager's appraisal for a year (annual) or a term (tenure), with its full result."""

    __tablename__ = "appraisals"
    __table_args__ = (
        UniqueConstraint("manager_id", "contract_id", "year", "kind",
                         name="uq_appraisals_manager_contract_year_kind"),
        # Not on state: a review, approval or publication then changes no indexed column, so
        # PostgreSQL writes its new row version beside the old one in the same page (a HOT
        # update: no new index entries; the old version is pruned when the page is next
        # read). The page keeps room for it (fillfactor, migration 0007). A year's
        # appraisals are nearly all in one state at a time, so state narrows little.
        Index("ix_appraisals_year_kind", "year", "kind"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Looked up through the unique key above, which starts with it (no index of its own).
    manager_id: Mapped[str] = mapped_column(String(36))
    contract_id: Mapped[str] = mapped_column(String(36))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # annual | tenure
    state: Mapped[str] = mapped_column(String(24))
    org_unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(36))
    layer: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(48))
    position: Mapped[str | None] = mapped_column(String(48))
    scheme_code: Mapped[str | None] = mapped_column(String(64))
    scheme_version: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[str | None] = mapped_column(String(DEC))
    grade: Mapped[str | None] = mapped_column(String(32))
    grade_before_distribution: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    exit_rule: Mapped[str | None] = mapped_column(String(48))  # the counted trigger, if any
    tenure_outcome: Mapped[str | None] = mapped_column(String(32))
    conditions: Mapped[str | None] = mapped_column(Text)
    exit_triggers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # rules that fired
    complete: Mapped[bool] = mapped_column(Boolean, default=False)  # every line had its actual
    deferred_pay: Mapped[str | None] = mapped_column(String(DEC))
    # The full trace as JSON text, written as the domain gives it (see appraisals.trace_text):
    # per indicator the actual, levels, rule, share, points; then parts, totals, grade...
    # On PostgreSQL it is kept out of line (toast_tuple_target, migration 0007), so a step
    # that leaves it alone (review, approve, publish) writes a new row version without it.
    result: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    appraiser_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    actuals_due: Mapped[date | None] = mapped_column(Date)
    review_due: Mapped[date | None] = mapped_column(Date)
    reminded: Mapped[bool] = mapped_column(Boolean, default=False)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(String(200))
    # The manager's self-report (docs/self-report.md): its deadline, what review recorded
    # (submitted | on_paper | none), its dispute (open | upheld | overruled) and the
    # nearest reminder sent (days before the deadline).
    self_report_due: Mapped[date | None] = mapped_column(Date)
    self_report: Mapped[str | None] = mapped_column(String(16))
    self_report_dispute: Mapped[str | None] = mapped_column(String(16))
    self_report_reminded: Mapped[int | None] = mapped_column(Integer)

    @property
    def trace(self) -> dict[str, Any] | None:
        return None if self.result is None else json.loads(self.result)


class AppraisalLog(Base):
    """Every state change of an appraisal, who made it, when and why."""

    __tablename__ = "appraisal_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    appraisal_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Appeal(Base):
    """An appeal against a published appraisal, and the decision that closed it."""

    __tablename__ = "appeals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    appraisal_id: Mapped[str] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(String(200))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # open | decided
    decision: Mapped[str | None] = mapped_column(String(16))  # upheld | rejected
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Filed after the appeal window closed: only HR may accept it, with its reason.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    late_reason: Mapped[str | None] = mapped_column(Text)
    #: The exit decision the appeal holds (or reopens), if the result was an exit.
    exit_decision_id: Mapped[str | None] = mapped_column(String(36))


class ExitDecision(Base):
    """A published exit and its due process: pending through the appeal window, then
    confirmed (the contract is terminated) or cancelled (domain/exit_decisions.py)."""

    __tablename__ = "exit_decisions"
    __table_args__ = (Index("ix_exit_decisions_state_closes", "state", "closes_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    appraisal_id: Mapped[str] = mapped_column(String(36), index=True)
    manager_id: Mapped[str] = mapped_column(String(36), index=True)
    contract_id: Mapped[str] = mapped_column(String(36))
    org_unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # annual | tenure
    state: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str | None] = mapped_column(String(48))
    triggers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_days: Mapped[int] = mapped_column(Integer)
    window_zone: Mapped[str] = mapped_column(String(64))
    last_day: Mapped[date] = mapped_column(Date)  # the last day an appeal is in time
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    appeal_id: Mapped[str | None] = mapped_column(String(36))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
    confirmed_because: Mapped[str | None] = mapped_column(String(32))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[str | None] = mapped_column(String(200))
    # Every event about this decision, in order: [{"type", "id", "at"}].
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SelfReport(Base):
    """One revision of a manager's self-report for an appraisal; the highest is current."""

    __tablename__ = "self_reports"
    __table_args__ = (UniqueConstraint("appraisal_id", "revision",
                                       name="uq_self_reports_appraisal_revision"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    appraisal_id: Mapped[str] = mapped_column(String(36), index=True)
    manager_id: Mapped[str] = mapped_column(String(36))
    revision: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    actuals: Mapped[str] = mapped_column(String(16))  # confirmed | disputed
    dispute: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    channel: Mapped[str] = mapped_column(String(16))  # manager | paper
    received_on: Mapped[date | None] = mapped_column(Date)  # paper only
    document_no: Mapped[str | None] = mapped_column(String(200))  # paper only
    submitted_by: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(String(16))  # upheld | overruled
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


outbox, inbox, idempotency_keys = define_shared_tables(Base.metadata)
audit_log = define_audit_table(Base.metadata)
# Every ORM write to these tables is recorded in audit_log (docs/audit.md).
# A run's batches are work in flight, deleted when the run commits: not audited.
# An update records only the columns it changed: a review, approval or publication says what
# it changed, not the scoring trace it left alone (docs/audit.md).
audit.track(Base.metadata, skip=("appraisal_run_batches",), changes_only=True)
