"""The indicator library, contract templates and target lines."""


from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import (
    ContractTemplate,
    Indicator,
)
from services.contracts.service.common import (
    DEFAULT_MAX_CONSECUTIVE_TERMS,
    DEFAULT_SIGNING_DEADLINE_DAYS,
    DEFAULT_TERM_YEARS,
    Scope,
    _visible_unit,
    check_version,
    new_id,
    require_write,
    resolve_scope,
    utcnow,
)
from shared.auth import Principal, require_group_wide_writer
from shared.db import Database
from shared.errors import ApiProblem, not_found

# --- indicators and templates -----------------------------------------------------------------


def create_indicator(db: Database, actor: Principal, data: Mapping[str, Any]) -> Indicator:
    with db.unit_of_work() as s:
        require_write(resolve_scope(s, actor))
        # The library is the group's: one code means one thing in every subsidiary.
        require_group_wide_writer(actor, "add to the indicator library")
        if s.get(Indicator, data["code"]) is not None:
            raise ApiProblem(409, "Conflict", f"Indicator {data['code']} exists",
                             errors={"code": ["already used"]})
        ind = Indicator(
            code=data["code"], name=data["name"], unit=data.get("unit", ""),
            kind=d.IndicatorKind(data["kind"]).value,
            direction=d.Direction(data["direction"]).value,
            description=data.get("description", ""), created_at=utcnow(),
        )
        s.add(ind)
        return ind


def list_indicators(db: Database) -> list[Indicator]:
    with db.read() as s:
        return list(s.scalars(select(Indicator).order_by(Indicator.code)))


def _library(s: Session, lines: Iterable[d.TargetLine]) -> dict[str, d.IndicatorDefinition]:
    codes = {line.indicator_code for line in lines}
    return {
        code: d.IndicatorDefinition(
            code=i.code, name=i.name, unit=i.unit, kind=d.IndicatorKind(i.kind),
            direction=d.Direction(i.direction),
        )
        for code, i in repo.indicator_definitions(s, codes).items()
    }


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def target_line(raw: Mapping[str, Any], part: str | None = None) -> d.TargetLine:
    """A line from a loaded request or its stored form; `part` when resolved elsewhere."""
    return d.TargetLine(
        indicator_code=raw["indicator_code"], role=d.TargetRole(raw.get("role") or "scored"),
        weight=_dec(raw.get("weight")), base=_dec(raw.get("base")),
        target=_dec(raw.get("target")), challenge=_dec(raw.get("challenge")),
        main=bool(raw.get("main", False)),
        part=part or raw.get("part") or d.TargetPart.INDIVIDUAL.value,
        max_points=_dec(raw.get("max_points")), milestones=raw.get("milestones"),
        description=raw.get("description", ""),
    )


def stored_targets(lines: Iterable[d.TargetLine], library: Mapping[str, d.IndicatorDefinition]
                   ) -> list[dict[str, Any]]:
    """Targets as stored and sent: the indicator's definition travels with each line."""
    out = []
    for line in lines:
        ind = library[line.indicator_code]
        out.append({
            "indicator_code": line.indicator_code, "name": ind.name, "unit": ind.unit,
            "kind": ind.kind.value, "direction": ind.direction.value,
            "role": d.TargetRole(line.role).value,
            "weight": None if line.weight is None else str(line.weight),
            "base": None if line.base is None else str(line.base),
            "target": None if line.target is None else str(line.target),
            "challenge": None if line.challenge is None else str(line.challenge),
            "main": line.main, "part": str(line.part),
            "max_points": None if line.max_points is None else str(line.max_points),
            "milestones": line.milestones, "description": line.description,
        })
    return out


def validated_targets(s: Session, raw_lines: Iterable[Mapping[str, Any]], *,
                      field: str = "targets",
                      document: d.DocumentKind = d.DocumentKind.ANNUAL_PERFORMANCE_CONTRACT,
                      position: str | None = None, year: int | None = None,
                      allow_empty: bool = False) -> list[dict[str, Any]]:
    """One document's targets from a request, held to the shared rules, as stored.

    A line that leaves out `part` takes it from the position (`resolve_part`: the chair and
    the general manager are scored on the organisation alone); where the position does not
    decide it (a position scored on both parts, a template for any position), a scored
    annual line without a part is refused under `<field>[i].part`. `position` None (a
    template for any position) checks the lines but not the composition, which bulk issue
    and drafting check per manager. Templates, contracts, bulk issue and amendments all come
    through here, so what is accepted can be appraised.
    """
    raws = list(raw_lines)
    if not raws and allow_empty:
        return []
    proportion = d.proportion_for(position) if position is not None else None
    missing: dict[str, list[str]] = {}
    lines = []
    for i, raw in enumerate(raws):
        part = d.resolve_part(raw.get("part"), raw.get("role") or "scored", proportion,
                              document)
        if part is None:
            missing[f"{field}[{i}].part"] = [d.part_required_message(position, proportion)]
        lines.append(target_line(raw, part))
    library = _library(s, lines)
    try:
        # Until every part is said, the composition has nothing to judge.
        d.validate_targets(lines, library, field=field, document=document, position=position,
                           proportion=None if missing else proportion, year=year)
    except d.TargetsInvalid as exc:
        raise d.TargetsInvalid(exc.detail, errors={**missing, **exc.errors}) from exc
    if missing:
        raise d.TargetsInvalid(
            f"The targets of {d.document_name(document, year)} leave out the part of "
            f"{len(missing)} scored line(s): " + d.faults_summary(missing), errors=missing)
    return stored_targets(lines, library)


def targets_fit_position(stored: list[dict[str, Any]], position: str) -> list[str]:
    """Why stored annual targets (a template's) cannot be appraised for this position."""
    if not stored:
        return []
    lines = [target_line(raw) for raw in stored]
    return d.composition_faults(lines, d.proportion_for(position), position)


def template_visible(s: Session, scope: Scope, t: ContractTemplate) -> bool:
    """Group templates are for everyone on the staff; a unit's template for its subtree."""
    if t.org_unit_id is None or scope.path is None:
        return scope.manager_id is None
    unit = repo.unit_by_id(s, t.org_unit_id)
    return unit is not None and scope.covers(unit) and scope.manager_id is None


def visible_template(s: Session, scope: Scope, template_id: str) -> ContractTemplate | None:
    t = repo.template_by_id(s, template_id)
    return t if t is not None and template_visible(s, scope, t) else None


def _template_owner(s: Session, actor: Principal, scope: Scope, org_unit_id: str | None
                    ) -> str | None:
    """Who will own the template: the group (group-wide writers only) or a unit the caller
    may act in. A scoped HR admin owns their subtree's templates, never the group's."""
    if org_unit_id is None:
        require_group_wide_writer(
            actor, "write a group template (org_unit_id null); an HR administrator with an "
            "org_scope writes templates owned by a unit of their subtree",
            errors={"org_unit_id": ["a unit within your org scope is required"]})
        return None
    _visible_unit(s, scope, org_unit_id)
    return org_unit_id


def create_template(db: Database, actor: Principal, data: Mapping[str, Any]) -> ContractTemplate:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        owner = _template_owner(s, actor, scope, data.get("org_unit_id"))
        now = utcnow()
        t = ContractTemplate(
            id=new_id(), name=data["name"], layer=data.get("layer"),
            category=d.validate_category(data["category"]) if data.get("category") else None,
            position=d.Position(data["position"]).value if data.get("position") else None,
            term_years=data.get("term_years", DEFAULT_TERM_YEARS),
            max_consecutive_terms=data.get("max_consecutive_terms",
                                           DEFAULT_MAX_CONSECUTIVE_TERMS),
            signing_deadline_days=data.get("signing_deadline_days",
                                           DEFAULT_SIGNING_DEADLINE_DAYS),
            targets=validated_targets(s, data.get("targets", []), position=data.get("position"),
                                      allow_empty=True),
            tenure_targets=validated_targets(
                s, data.get("tenure_targets", []), field="tenure_targets",
                document=d.DocumentKind.TENURE_PERFORMANCE_CONTRACT,
                position=data.get("position"), allow_empty=True),
            org_unit_id=owner, row_version=1, created_at=now, updated_at=now,
        )
        s.add(t)
        return t


def replace_template(db: Database, actor: Principal, template_id: str, data: Mapping[str, Any],
                     expected: int | None) -> ContractTemplate:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        t = visible_template(s, scope, template_id)
        if t is None:
            raise not_found("template", template_id)
        _template_owner(s, actor, scope, t.org_unit_id)  # may change what it is now
        t.org_unit_id = _template_owner(s, actor, scope, data.get("org_unit_id"))
        check_version(expected, t.row_version)
        t.name = data["name"]
        t.layer = data.get("layer")
        t.category = d.validate_category(data["category"]) if data.get("category") else None
        t.position = d.Position(data["position"]).value if data.get("position") else None
        t.term_years = data.get("term_years", DEFAULT_TERM_YEARS)
        t.max_consecutive_terms = data.get("max_consecutive_terms",
                                           DEFAULT_MAX_CONSECUTIVE_TERMS)
        t.signing_deadline_days = data.get("signing_deadline_days",
                                           DEFAULT_SIGNING_DEADLINE_DAYS)
        t.targets = validated_targets(s, data.get("targets", []), position=data.get("position"),
                                      allow_empty=True)
        t.tenure_targets = validated_targets(
            s, data.get("tenure_targets", []), field="tenure_targets",
            document=d.DocumentKind.TENURE_PERFORMANCE_CONTRACT, position=data.get("position"),
            allow_empty=True)
        t.row_version += 1
        t.updated_at = utcnow()
        return t


def get_template(db: Database, actor: Principal, template_id: str) -> ContractTemplate:
    with db.read() as s:
        t = visible_template(s, resolve_scope(s, actor), template_id)
        if t is None:
            raise not_found("template", template_id)
        return t


def list_templates(db: Database, actor: Principal) -> list[ContractTemplate]:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        return [t for t in s.scalars(select(ContractTemplate).order_by(ContractTemplate.name))
                if template_visible(s, scope, t)]
