"""Forced distribution in a cohort: at most a share excellent (and good-or-better)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.appraisal.domain.errors import CohortInvalid
from services.appraisal.domain.frozen import FrozenMap
from services.appraisal.domain.scheme import DistributionRules
from services.appraisal.domain.vocabulary import GRADE_RANK, Grade, one_grade_down

_LOWEST = Decimal("-Infinity")


@dataclass(frozen=True, slots=True)
class CohortMember:
    """What the distribution reads of one manager's provisional result."""

    manager_id: str
    total: Decimal
    organisational: Decimal | None
    individual: Decimal | None
    grade: Grade


@dataclass(frozen=True, slots=True)
class GradeChange:
    """A manager moved down one grade because they ranked outside a quota."""

    manager_id: str
    from_grade: Grade
    to_grade: Grade
    reason: str
    rank: int
    quota: int
    cohort_size: int


@dataclass(frozen=True)
class Distribution:
    """The final grades of a cohort, every change, and who kept a grade on a tie."""

    cohort_size: int
    excellent_quota: int
    good_or_better_quota: int | None
    grades: Mapping[str, Grade]
    changes: tuple[GradeChange, ...]
    kept_on_tie: tuple[str, ...]


def quota(share: Decimal, cohort_size: int) -> int:
    """floor(share x cohort size): 30 % of 7 is 2, of 10 is 3, of 3 is 0."""
    return math.floor(share * cohort_size)


def ranking_key(m: CohortMember) -> tuple[Decimal, Decimal, Decimal, str]:
    """Order within a grade, best first: higher total, then higher organisational score,
    then higher individual score (a missing part ranks lowest), then manager id ascending
    (so the order is total and never depends on input order)."""
    return (-m.total, -(_LOWEST if m.organisational is None else m.organisational),
            -(_LOWEST if m.individual is None else m.individual), m.manager_id)


def _cut(ranked: list[CohortMember], limit: int, grades: dict[str, Grade], movable: Grade,
         reason: str, size: int, ties_keep: bool, changes: list[GradeChange],
         kept: list[str]) -> None:
    """Members of `movable` ranked after `limit` go down one grade (ranks count from 1)."""
    boundary = ranked[limit - 1].total if ties_keep and 0 < limit <= len(ranked) else None
    for rank, m in enumerate(ranked, start=1):
        if rank <= limit or grades[m.manager_id] is not movable:
            continue
        if boundary is not None and m.total == boundary:
            kept.append(m.manager_id)
            continue
        new = one_grade_down(movable)
        changes.append(GradeChange(m.manager_id, movable, new,
                                   f"{reason}: ranked {rank}, quota {limit} of {size}", rank,
                                   limit, size))
        grades[m.manager_id] = new


def apply_forced_distribution(members: Sequence[CohortMember],
                              rules: DistributionRules) -> Distribution:
    """Move down one grade everyone ranked outside the quotas.

    1. Excellent: quota = floor(excellent_share x cohort size); the excellent are ranked by
       `ranking_key` and those after the quota become good.
    2. Good-or-better (only if the scheme sets a share): quota = floor(share x size); the
       excellent and good are ranked (grade first, then `ranking_key`) and the *good* ranked
       after the quota become competent (the excellent left after step 1 count toward this
       quota but are never moved by it).
    With `ties_keep_grade`, whoever has the same total as the last member inside a quota
    keeps the grade, even if the quota is then exceeded (recorded in `kept_on_tie`).
    """
    size = len(members)
    ids = [m.manager_id for m in members]
    if len(set(ids)) != size:
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise CohortInvalid(f"Managers appear twice in the cohort: {', '.join(dupes)}",
                            errors={"cohort": [f"duplicate manager {i}" for i in dupes]})
    grades = {m.manager_id: m.grade for m in members}
    changes: list[GradeChange] = []
    kept: list[str] = []
    ties = rules.ties_keep_grade
    excellent_quota = quota(rules.excellent_share, size)
    excellent = sorted((m for m in members if m.grade is Grade.EXCELLENT), key=ranking_key)
    if len(excellent) > excellent_quota:
        _cut(excellent, excellent_quota, grades, Grade.EXCELLENT, "excellent_quota", size,
             ties, changes, kept)
    good_quota = None
    if rules.good_or_better_share is not None:
        good_quota = quota(rules.good_or_better_share, size)
        top = sorted((m for m in members if grades[m.manager_id] in (Grade.EXCELLENT,
                                                                       Grade.GOOD)),
                     key=lambda m: (GRADE_RANK[grades[m.manager_id]], *ranking_key(m)))
        if len(top) > good_quota:
            _cut(top, good_quota, grades, Grade.GOOD, "good_or_better_quota", size, ties,
                 changes, kept)
    return Distribution(size, excellent_quota, good_quota, FrozenMap(grades),
                        tuple(changes), tuple(dict.fromkeys(kept)))
