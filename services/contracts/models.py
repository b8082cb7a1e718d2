"""SQLAlchemy mappings of the contracts service's own database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared import audit
from shared.tables import BigId, define_audit_table, define_shared_tables


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class OrgUnit(Base):
    __tablename__ = "org_units"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(48))
    has_board: Mapped[bool] = mapped_column(Boolean, default=False)
    layer: Mapped[int] = mapped_column(Integer)
    # Materialised path "/root/.../self/": a subtree is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(2000), index=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrgUnitHistory(Base):
    __tablename__ = "org_unit_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_unit_id: Mapped[str] = mapped_column(ForeignKey("org_units.id"), index=True)
    change: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Manager(Base):
    __tablename__ = "managers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    org_unit_id: Mapped[str] = mapped_column(ForeignKey("org_units.id"), index=True)
    position: Mapped[str] = mapped_column(String(48), index=True)
    management_level: Mapped[str] = mapped_column(String(48), index=True)
    employment_status: Mapped[str] = mapped_column(String(16), default="active")
    departure_reason: Mapped[str | None] = mapped_column(String(32))
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Indicator(Base):
    __tablename__ = "indicators"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractTemplate(Base):
    __tablename__ = "contract_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    layer: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(48))
    position: Mapped[str | None] = mapped_column(String(48))
    term_years: Mapped[int] = mapped_column(Integer)
    max_consecutive_terms: Mapped[int] = mapped_column(Integer)
    signing_deadline_days: Mapped[int] = mapped_column(Integer)
    targets: Mapped[list[Any]] = mapped_column(JSON)
    #: The tenure performance contract's targets, for the whole term (migration 0004).
    tenure_targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The unit that owns the template; None for the group's own (docs/authorization.md).
    org_unit_id: Mapped[str | None] = mapped_column(ForeignKey("org_units.id"), index=True,
                                                    default=None)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TenureContract(Base):
    __tablename__ = "tenure_contracts"
    # No index of manager_id, org_unit_id or state alone: the indexes below lead with each
    # (migration 0012 dropped those that repeated them).
    __table_args__ = (
        Index("ix_contracts_manager_position", "manager_id", "position"),
        Index("ix_contracts_state_end", "state", "end_date"),
        Index("ix_contracts_created", "created_at", "id"),
        # A list by unit and state: counted from the index alone (migration 0008).
        Index("ix_contracts_unit_state_created", "org_unit_id", "state", "created_at", "id"),
        # Who holds an active contract for which post: the coverage report's holders read
        # from this index alone, not from every contract's row (migration 0014).
        Index("ix_contracts_active_holders", "manager_id", "position",
              postgresql_where=text("state = 'active'"), sqlite_where=text("state = 'active'")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    manager_id: Mapped[str] = mapped_column(ForeignKey("managers.id"))
    org_unit_id: Mapped[str] = mapped_column(ForeignKey("org_units.id"))
    position: Mapped[str] = mapped_column(String(48))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    term_years: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(24))
    term_number: Mapped[int] = mapped_column(Integer, default=1)  # consecutive terms so far
    max_consecutive_terms: Mapped[int] = mapped_column(Integer)
    previous_contract_id: Mapped[str | None] = mapped_column(String(36))
    template_id: Mapped[str | None] = mapped_column(String(36))
    signatory: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_on: Mapped[date | None] = mapped_column(Date)
    signing_deadline: Mapped[date | None] = mapped_column(Date)
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_by: Mapped[str | None] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)  # amendment version
    row_version: Mapped[int] = mapped_column(Integer, default=1)  # ETag
    reminders_sent: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Every signature of the contract as the API shows it, oldest first: a read copy of
    # contract_signatures, rewritten with each signature in the same unit of work.
    signatures: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Whether the annual and tenure appraisals can score its documents under the shared
    #: default rule, and why not (shared.performance_contract.Appraisability.as_dict);
    #: written with the documents' targets, read as stored (migration 0004).
    appraisable: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractVersion(Base):
    """Every version of a contract's terms; signed terms are never changed in place."""

    __tablename__ = "contract_versions"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("tenure_contracts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractDocument(Base):
    """One of the "two letters and one agreement": appointment, tenure or annual contract."""

    __tablename__ = "contract_documents"
    __table_args__ = (UniqueConstraint("contract_id", "kind", "year"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Indexed by the unique (contract_id, kind, year), which leads with it.
    contract_id: Mapped[str] = mapped_column(ForeignKey("tenure_contracts.id"))
    kind: Mapped[str] = mapped_column(String(48))
    year: Mapped[int] = mapped_column(Integer, default=0)  # 0 for term-wide documents
    # When it came into force: both parties signed (documents are never signed "halfway").
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    signing_state: Mapped[str] = mapped_column(String(24), default="awaiting_manager")
    # An amendment of the targets awaiting both signatures (the targets above stay in force).
    amendment_version: Mapped[int | None] = mapped_column(Integer)
    amendment_state: Mapped[str | None] = mapped_column(String(24))
    amended_targets: Mapped[list[Any] | None] = mapped_column(JSON)


class ContractSignature(Base):
    """One party's signature of one document (or of an amendment of it): the record."""

    __tablename__ = "contract_signatures"
    __table_args__ = (UniqueConstraint("document_id", "amendment_version", "party"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("tenure_contracts.id"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("contract_documents.id"))
    amendment_version: Mapped[int] = mapped_column(Integer, default=0)  # 0: as issued
    party: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    signed_by: Mapped[str | None] = mapped_column(String(200))  # electronic: token subject
    person_manager_id: Mapped[str | None] = mapped_column(String(36))
    on_behalf_of: Mapped[str] = mapped_column(String(400))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paper_signed_on: Mapped[date | None] = mapped_column(Date)
    paper_reference: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str | None] = mapped_column(String(200))  # paper: the HR user


class ExitTermination(Base):
    """A contract terminated by a confirmed appraisal exit, and its reinstatement if the
    exit was later cancelled (a late appeal upheld): who, when, why, and which events."""

    __tablename__ = "exit_terminations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("tenure_contracts.id"), index=True)
    manager_id: Mapped[str] = mapped_column(String(36))
    exit_decision_id: Mapped[str] = mapped_column(String(36), index=True)
    appraisal_id: Mapped[str | None] = mapped_column(String(36))
    confirmed_event_id: Mapped[str] = mapped_column(String(64))
    terminated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # What the manager's employment status was before the exit, to restore it.
    previous_employment_status: Mapped[str] = mapped_column(String(16))
    previous_departure_reason: Mapped[str | None] = mapped_column(String(32))
    reinstated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reinstated_by: Mapped[str | None] = mapped_column(String(200))
    reinstate_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_event_id: Mapped[str | None] = mapped_column(String(64))
    reinstated_event_id: Mapped[str | None] = mapped_column(String(64))


class BulkIssueJob(Base):
    __tablename__ = "bulk_issue_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(36))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    start_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    all_or_nothing: Mapped[bool] = mapped_column(Boolean, default=False)
    decisions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    org_scope: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


#: Each manager's decision in a bulk issue, written with the chunk that decided it: read a
#: page at a time by place, or by outcome and place (GET /bulk-issues/{id}/decisions), while
#: the job runs and after. `body` is the decision as the API sends it (BulkDecisionOut), as
#: JSON text. Written and read by Core statements: a record of the job's work, not audited
#: (the contracts it issued are).
bulk_issue_decisions = Table(
    "bulk_issue_decisions", Base.metadata,
    Column("job_id", String(36), ForeignKey("bulk_issue_jobs.id"), primary_key=True),
    Column("place", Integer, primary_key=True, autoincrement=False),
    Column("decision", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_bulk_issue_decisions_outcome", "job_id", "decision", "place"),
)

outbox, inbox, idempotency_keys = define_shared_tables(Base.metadata)
audit_log = define_audit_table(Base.metadata)
# Every ORM write to these tables is recorded in audit_log (docs/audit.md); an update holds
# the columns it changed, before and after, as in the appraisal service: a creation holds
# the whole row, so every version of a row can be told from its records.
audit.track(Base.metadata, changes_only=True)
