"""The audit trail keeps values as JSON would (shared/audit.py `jsonable`)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from shared.audit import jsonable


class Colour(enum.StrEnum):
    RED = "red"


def test_decimals_and_dates_nested_in_plain_json_columns_become_strings() -> None:
    value = {"targets": [{"weight": Decimal("40.50"), "main": True, "n": 1, "x": 0.5,
                          "none": None}],
             "signed_on": date(2026, 1, 2), 7: [datetime(2026, 1, 2, 3, 4, tzinfo=UTC)]}
    assert jsonable(value) == {
        "targets": [{"weight": "40.50", "main": True, "n": 1, "x": 0.5, "none": None}],
        "signed_on": "2026-01-02", "7": ["2026-01-02T03:04:00+00:00"]}


def test_an_enum_is_kept_as_its_value_tuples_as_lists_and_plain_values_as_they_are() -> None:
    assert jsonable([Colour.RED, "a", 1, None]) == ["red", "a", 1, None]
    assert jsonable({"k": (1, 2)}) == {"k": [1, 2]}


def test_an_update_recorded_by_its_changes_keeps_only_the_columns_that_differ() -> None:
    from shared.audit import changed_columns

    before = {"id": "a1", "state": "scored", "result": "{...trace...}", "row_version": 2,
              "reviewed_by": None}
    after = {"id": "a1", "state": "reviewed", "result": "{...trace...}", "row_version": 3,
             "reviewed_by": "hr-1"}
    assert changed_columns(before, after) == (
        {"state": "scored", "row_version": 2, "reviewed_by": None},
        {"state": "reviewed", "row_version": 3, "reviewed_by": "hr-1"})
    # A column known on one side only (not loaded before) still shows what it became.
    assert changed_columns({"a": 1}, {"a": 1, "b": 2}) == ({}, {"b": 2})
    # A value changed in place and flagged modified compares equal: the flush still wrote it.
    assert changed_columns({"a": [1], "b": 0}, {"a": [1], "b": 0}, {"a"}) == (
        {"a": [1]}, {"a": [1]})


def _audited_world(*, changes_only: bool = False) -> tuple[Any, Any]:
    """An in-memory database with one audited table (the trail's own listener writes it)."""
    from sqlalchemy import create_engine

    from shared.audit import AUDIT, track
    from tests.support.audited_letters import letter_model

    letter_cls = letter_model()
    engine = create_engine("sqlite://")
    letter_cls.metadata.create_all(engine)
    AUDIT.metadata.create_all(engine)
    track(letter_cls.metadata, changes_only=changes_only)
    return engine, letter_cls


def test_the_trail_keeps_each_column_before_and_after_and_skips_a_write_that_changes_nothing(
        ) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from shared.audit import AUDIT

    engine, letter_cls = _audited_world()
    with Session(engine) as s, s.begin():
        s.add(letter_cls(id=1, title="Offer", secret="s1", body={"n": "1.5"}))
    with Session(engine) as s, s.begin():
        letter = s.get(letter_cls, 1)
        letter.title = "Offer"  # the same value: no change, no record
    with Session(engine) as s, s.begin():
        letter = s.get(letter_cls, 1)
        letter.title = "Signed offer"
        letter.body = {"n": "2"}
    with Session(engine) as s, s.begin():
        s.delete(s.get(letter_cls, 1))
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT.c.action, AUDIT.c.before, AUDIT.c.after)
                            .order_by(AUDIT.c.id)).all()
    assert [tuple(r) for r in rows] == [
        ("created", None, {"id": 1, "title": "Offer", "secret": "[redacted]",
                           "body": {"n": "1.5"}}),
        ("updated", {"id": 1, "title": "Offer", "secret": "[redacted]", "body": {"n": "1.5"}},
         {"id": 1, "title": "Signed offer", "secret": "[redacted]", "body": {"n": "2"}}),
        ("deleted", {"id": 1, "title": "Signed offer", "secret": "[redacted]",
                     "body": {"n": "2"}}, None),
    ]


def test_a_transaction_audited_by_changes_holds_only_the_changes_until_it_commits() -> None:
    """A run's publication updates 100,000 appraisals in one transaction: what waits for the
    commit is what changed, not two whole versions of each row."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from shared.audit import _PENDING, AUDIT

    engine, letter_cls = _audited_world(changes_only=True)
    with Session(engine) as s, s.begin():
        s.add(letter_cls(id=1, title="Offer", secret="s1", body={"n": "1.5" * 500}))
    with Session(engine) as s, s.begin():
        letter = s.get(letter_cls, 1)
        letter.title = "Draft"
        s.flush()
        letter.secret = "s2"
        s.flush()
        letter.title = "Signed offer"
        s.flush()
        waiting = s.info[_PENDING][("letters", "1")]
        assert (waiting["before"], waiting["after"]) == (
            {"title": "Offer", "secret": "[redacted]"},
            {"title": "Signed offer", "secret": "[redacted]"})
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT.c.action, AUDIT.c.before, AUDIT.c.after)
                            .order_by(AUDIT.c.id)).all()
    assert [tuple(r) for r in rows][1:] == [
        ("updated", {"title": "Offer", "secret": "[redacted]"},
         {"title": "Signed offer", "secret": "[redacted]"})]


def test_records_written_mid_transaction_leave_memory_and_roll_back_with_it() -> None:
    """A whole run's review writes each chunk's records as it goes (audit.write_pending)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from shared.audit import _PENDING, AUDIT, write_pending

    engine, letter_cls = _audited_world(changes_only=True)
    with Session(engine) as s, s.begin():
        s.add_all([letter_cls(id=i, title="Offer") for i in (1, 2)])
    with Session(engine) as s:
        s.begin()
        s.get(letter_cls, 1).title = "Signed offer"
        s.flush()
        write_pending(s)
        assert not s.info.get(_PENDING)
        assert s.scalar(select(func.count()).select_from(AUDIT)) == 3
        s.rollback()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AUDIT)) == 2


def test_both_versions_of_an_update_are_what_each_read_alone_gives() -> None:
    """`_both_values` makes each unchanged column JSON once for both sides: the versions are
    the ones `_values` reads for each side, columns in the same order, the redacted secret
    and a JSON value replaced or changed in place among them."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.attributes import flag_modified

    from shared.audit import _both_values, _values

    engine, letter_cls = _audited_world()
    with Session(engine) as s, s.begin():
        s.add(letter_cls(id=1, title="Offer", secret="s1", body={"lines": [1]}))
        s.add(letter_cls(id=2, title="Offer", secret="s1", body={"lines": [1]}))
    with Session(engine) as s:  # never committed: the versions are read before a flush
        replaced, in_place = s.get(letter_cls, 1), s.get(letter_cls, 2)
        replaced.title, replaced.secret = "Signed", "s2"
        replaced.body = {"lines": [1, Decimal("2.50")]}
        in_place.body["lines"].append(date(2026, 1, 2))
        flag_modified(in_place, "body")
        for letter in (replaced, in_place):
            state = inspect(letter)
            both = _both_values(state)
            alone = (_values(state, old=True), _values(state, old=False))
            assert both == alone
            assert [list(side) for side in both] == [list(side) for side in alone]
        assert _both_values(inspect(replaced))[0]["title"] == "Offer"
        assert _both_values(inspect(replaced))[1]["body"] == {"lines": [1, "2.50"]}
