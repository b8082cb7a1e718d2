"""Whether a contract's targets can be scored under the schemes that apply to it, and why not.

The contracts service judges a contract against the shared default composition rule; this
service knows the schemes HR actually set (a scheme may give a position other proportions,
or weigh tenure targets differently), so its read model says it again, per contract, under
the scheme that will score each year and the term.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.appraisal.domain.scheme import Scheme
from shared.performance_contract import (
    Appraisability,
    Unappraisable,
    annual_scoring_faults,
    line_from_stored,
    tenure_scoring_faults,
)


def contract_appraisability(scheme_for_year: Callable[[int], Scheme], position: str | None,
                            annual: Mapping[int, Sequence[Mapping[str, Any]]],
                            tenure: Sequence[Mapping[str, Any]] | None,
                            end_year: int) -> Appraisability:
    """Each year's annual targets under that year's scheme, the tenure targets under the
    scheme of the term's last year (when the tenure appraisal falls); lines as stored.

    Every reason names the scheme, so HR sees whether to change the targets (an amendment)
    or the scheme.
    """
    reasons: list[Unappraisable] = []
    if not annual:
        reasons.append(Unappraisable("annual", None, "no annual targets"))
    for year in sorted(annual):
        lines = [line_from_stored(raw) for raw in annual[year]]
        scheme = scheme_for_year(year)
        under = f" (scheme {scheme.code} v{scheme.version})"
        if not lines:
            reasons.append(Unappraisable("annual", year, f"no annual targets for {year}"))
            continue
        reasons += [Unappraisable("annual", year, msg + under) for msg in annual_scoring_faults(
            lines, position, scheme.composition.for_position(position))]
    annual_ok = not reasons
    scheme = scheme_for_year(end_year)
    lines = [line_from_stored(raw) for raw in (tenure or ())]
    tenure_reasons = [Unappraisable("tenure", None,
                                    f"{msg} (scheme {scheme.code} v{scheme.version})")
                      for msg in tenure_scoring_faults(lines, scheme.tenure.targets_share)]
    return Appraisability(annual_ok, not tenure_reasons, (*reasons, *tenure_reasons))
