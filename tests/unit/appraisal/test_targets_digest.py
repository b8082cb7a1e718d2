"""A target set's digest is the md5 of its lines as the stdlib's canonical JSON, whether the
process has seen those lines before (the memo) or not: digests already stored keep matching."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.appraisal import models
from services.appraisal.models import targets_digest


def stdlib_digest(lines: Any) -> str:
    return hashlib.md5(json.dumps(lines, sort_keys=True, separators=(",", ":"),
                                  default=str).encode(), usedforsecurity=False).hexdigest()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(st.lists(json_values, max_size=6), st.lists(json_values, max_size=6))
def test_the_digest_is_the_stdlibs_for_any_json_lines_seen_before_or_not(
        first: list[Any], second: list[Any]) -> None:
    for lines in (first, second, first, second):  # the second time from the memo
        assert targets_digest(lines) == stdlib_digest(lines)


def test_lines_in_another_key_order_share_the_digest_and_others_do_not() -> None:
    line = {"indicator_code": "PROFIT", "name": "利润总额", "weight": "40", "target": "120"}
    reordered = dict(reversed(list(line.items())))
    assert targets_digest([line]) == targets_digest([reordered]) == stdlib_digest([line])
    for changed in ({**line, "weight": "40.0"}, {**line, "weight": 40}, {**line, "x": None},
                    {**line, "name": "利润"}):
        assert targets_digest([changed]) == stdlib_digest([changed]) != \
            targets_digest([line])


def test_values_the_stdlib_writes_by_str_are_digested_without_the_memo() -> None:
    # orjson would write a date as the text the string below holds; the stdlib writes the
    # date by `str`, the same here, and a datetime otherwise ("T" against " "): never mixed.
    for lines in ([{"due": date(2026, 3, 31)}], [{"due": "2026-03-31"}],
                  [{"at": datetime(2026, 3, 31, 9, 30)}], [{"at": "2026-03-31T09:30:00"}]):
        assert targets_digest(lines) == stdlib_digest(lines)


def test_the_memo_stays_bounded() -> None:
    models._DIGESTS.clear()
    for n in range(models._DIGESTS_KEPT + 10):
        assert targets_digest([{"n": n}]) == stdlib_digest([{"n": n}])
    assert len(models._DIGESTS) <= models._DIGESTS_KEPT
