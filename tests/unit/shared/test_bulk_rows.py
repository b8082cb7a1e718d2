"""Bulk rows load value by value from a cache exactly as marshmallow loads them row by row."""

from __future__ import annotations

import gc
from typing import Any

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.appraisal.schemas import ActualIn
from shared.bulk_rows import ColumnCache, RowError, gc_paused, load_rows, row_errors
from shared.fields import StrictSchema, TextValues

# Each column's values: good ones, and every kind of fault a file carries.
VALUES: dict[str, list[Any]] = {
    "manager_id": ["m-1", "m-2", "", None, 7, "a\x00b"],
    "employee_no": ["E000001", "E2", None, True],
    "enterprise_id": ["u-1", None],
    "year": [2026, "2026", 1800, 2026.0, True, "\uff12\uff10\uff12\uff16", None, "x"],
    "kind": ["annual", "tenure", "yearly", None],
    "indicator_code": ["PROFIT", "ROE", "", "bad code!", None],
    "value": ["91", "8.25", "1.1234567", 8.5, "NaN", "abc", "\uff11", None, 3],
    "rating": ["A", "B", "", "X" * 20, None],
    "milestones_met": [0, 3, "3", -1, 2.5, None, True],
    "veto_hit": [False, True, "false", "true", "1", "yes", 0, None],
    "points": ["1.50", "-1", "1.234", None],
    "source": ["finance-erp", "", "x" * 101, None],
    "note": ["", "late figure", None],
    "colour": ["blue"],  # an unknown column
}


def reference(schema: ma.Schema, rows: list[Any]
              ) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """The plain loop: every row through schema.load."""
    loaded, errors = [], []
    for n, raw in enumerate(rows, start=1):
        try:
            loaded.append((n, schema.load(raw)))
        except ma.ValidationError as exc:
            errors.extend(row_errors(n, exc.messages))
    return loaded, errors


row = st.fixed_dictionaries({}, optional={key: st.sampled_from(values)
                                          for key, values in VALUES.items()})


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row, min_size=1, max_size=40), as_text=st.booleans())
def test_cached_loading_gives_every_row_and_fault_as_marshmallow_does(
        rows: list[dict[str, Any]], as_text: bool) -> None:
    if as_text:  # a CSV row: every value text, empty cells absent
        rows = [TextValues({k: str(v) for k, v in r.items() if v not in (None, "")})
                for r in rows]
    schema = ActualIn()
    assert load_rows(schema, rows, list(range(1, len(rows) + 1))) == reference(schema, rows)


def test_a_good_row_repeated_loads_like_the_first_and_a_bad_one_keeps_its_messages() -> None:
    good = {"manager_id": "m-1", "year": 2026, "indicator_code": "PROFIT", "value": "91",
            "source": "finance-erp"}
    bad = {**good, "value": 91}
    rows = [good, bad, dict(good), bad]
    assert ColumnCache(ActualIn()).load(good) == ActualIn().load(good)
    assert ColumnCache(ActualIn()).load(bad) is None
    loaded, errors = load_rows(ActualIn(), rows, [2, 3, 4, 5])
    assert loaded == [(2, ActualIn().load(good)), (4, ActualIn().load(good))]
    assert [(e.row, e.field) for e in errors] == [(3, "value"), (5, "value")]


class WithHook(StrictSchema):
    code = ma.fields.String()

    @ma.post_load
    def _upper(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"code": data["code"].upper()}


@pytest.mark.parametrize(("schema", "suits"), [(ActualIn(), True), (WithHook(), False)])
def test_only_schemas_whose_rows_load_value_by_value_use_the_cache(
        schema: ma.Schema, suits: bool) -> None:
    assert ColumnCache.suits(schema) is suits
    loaded, _ = load_rows(WithHook(), [{"code": "ab"}], [1])
    assert loaded == [(1, {"code": "AB"})]


def test_the_collector_stays_paused_until_the_last_of_overlapping_uploads_ends() -> None:
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer upload still runs
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a failed upload")
    assert gc.isenabled()
