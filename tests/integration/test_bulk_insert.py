"""`shared.db.bulk_insert` writes any number of rows with one statement, in the caller's
transaction: on PostgreSQL one INSERT ... VALUES below `COPY_FROM` rows, COPY from it on;
SQLite's executemany. Whatever the path, a row reads back as it was given, in order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.orm import Session

from shared.db import COPY_FROM, bulk_insert, make_engine
from tests.support.statements import sent_statements

BigId = BigInteger().with_variant(Integer(), "sqlite")


def _letters() -> Table:
    return Table(
        "letters", MetaData(),
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("title", String(200), nullable=False),
        Column("amount", Numeric(12, 2)),
        Column("due_on", Date),
        Column("sent_at", DateTime(timezone=True)),
        Column("body", JSON),
        Column("note", Text),
    )


def _row(i: int) -> dict[str, Any]:
    return {
        "title": f"Offer {i} 利润 \"A\" $1 %s",  # placeholders of both kinds stay text
        "amount": Decimal(i) / 100 + Decimal("0.10"),
        "due_on": date(2026, 1, 1 + i % 28),
        "sent_at": datetime(2026, 12, 4, 9, i % 60, tzinfo=UTC),
        "body": {"lines": [{"weight": "60", "n": i}], "none": None},
        "note": None if i % 2 else f"note {i}",
    }


@pytest.mark.parametrize("count", [1, 5, COPY_FROM - 1, COPY_FROM, COPY_FROM + 7])
def test_rows_read_back_as_given_in_order_with_one_statement(
        database_url_factory: Any, count: int) -> None:
    engine = make_engine(database_url_factory("contracts"))
    letters = _letters()
    letters.metadata.create_all(engine)
    rows = [_row(i) for i in range(1, count + 1)]
    try:
        with Session(engine) as s, s.begin(), sent_statements(engine) as sent:
            bulk_insert(s, letters, rows)
        if engine.dialect.name == "postgresql":
            # VALUES goes through the engine (its hooks hear it); COPY streams past it.
            assert len(sent) == (0 if count >= COPY_FROM else 1), sent
            if count < COPY_FROM:
                assert sent[0].startswith('INSERT INTO "letters"') and "$1" in sent[0]
        with engine.connect() as conn:
            back = [dict(r._mapping) for r in conn.execute(
                select(letters).order_by(letters.c.id))]
    finally:
        engine.dispose()
    assert [r["id"] for r in back] == sorted(r["id"] for r in back)
    for given, read in zip(rows, back, strict=True):
        assert {k: _naive(read[k]) for k in given} == {k: _naive(v) for k, v in given.items()}


def _naive(value: Any) -> Any:
    """SQLite keeps no time zone: instants compare in UTC without one."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def test_a_rolled_back_transaction_keeps_none_of_the_rows(database_url_factory: Any) -> None:
    engine = make_engine(database_url_factory("contracts"))
    letters = _letters()
    letters.metadata.create_all(engine)
    try:
        for count in (3, COPY_FROM + 1):
            with Session(engine) as s:
                s.begin()
                bulk_insert(s, letters, [_row(i) for i in range(count)])
                s.rollback()
        with engine.connect() as conn:
            assert conn.execute(select(letters.c.id)).first() is None
    finally:
        engine.dispose()


def test_a_refused_row_fails_the_statement_as_any_insert_would(
        database_url_factory: Any) -> None:
    """A NOT NULL broken by one row: SQLAlchemy's IntegrityError, nothing written, and the
    connection's ordinary cursors still work afterwards."""
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(database_url_factory("contracts"))
    letters = _letters()
    letters.metadata.create_all(engine)
    rows = [_row(1), {**_row(2), "title": None}]
    try:
        with Session(engine) as s:
            s.begin()
            with pytest.raises(IntegrityError):
                bulk_insert(s, letters, rows)
            s.rollback()
            assert s.execute(select(letters.c.id).where(letters.c.title == "%s")).first() is None
    finally:
        engine.dispose()


def test_insert_new_writes_and_returns_only_the_keys_not_taken(
        database_url_factory: Any) -> None:
    """A consumer's claim of its poll's inbox rows: the ones already there (a redelivered
    event) stay as they were and are not returned; past one statement's rows too."""
    from shared.db import insert_new
    from shared.tables import define_shared_tables

    engine = make_engine(database_url_factory("contracts"))
    _, inbox, _ = define_shared_tables(MetaData())
    inbox.metadata.create_all(engine, tables=[inbox])

    def row(i: int, group: str = "g") -> dict[str, Any]:
        return {"event_id": f"e-{i:05d}", "consumer_group": group, "event_type": "t",
                "topic": "contracts", "partition": i % 3, "offset": i,
                "processed_at": datetime(2026, 12, 4, tzinfo=UTC)}

    try:
        with Session(engine) as s, s.begin():
            assert insert_new(s, inbox, [row(i) for i in range(0, 10, 2)], "event_id") == {
                f"e-{i:05d}" for i in range(0, 10, 2)}
        with Session(engine) as s, s.begin():
            again = [{**row(i), "offset": 99_999} for i in range(1_205)]
            claimed = insert_new(s, inbox, again, "event_id")
            other_group = insert_new(s, inbox, [row(0, "h")], "event_id")
        assert claimed == {f"e-{i:05d}" for i in range(1_205)} - {
            f"e-{i:05d}" for i in range(0, 10, 2)}
        assert other_group == {"e-00000"}
        with engine.connect() as conn:
            kept = dict(conn.execute(select(inbox.c.event_id, inbox.c.offset)
                                     .where(inbox.c.consumer_group == "g")).all())
    finally:
        engine.dispose()
    assert len(kept) == 1_205
    assert kept["e-00002"] == 2 and kept["e-00003"] == 99_999


def test_update_rows_sets_each_rows_columns_and_leaves_the_rest(
        database_url_factory: Any) -> None:
    """What a signature writes instead of a flush: rows found by key, each set to its own
    values, JSON, instants, dates, decimals and NULLs among them; rows that set different
    columns go as separate statements; rows not named and columns not set stay."""
    from shared.db import insert_returning, update_rows

    engine = make_engine(database_url_factory("contracts"))
    letters = _letters()
    letters.metadata.create_all(engine)
    try:
        with Session(engine) as s, s.begin():
            made = insert_returning(s, letters, [_row(i) for i in range(1, 6)], ("id", "title"))
        ids = {title: key for key, title in made}
        assert len(ids) == 5
        first, second, third = (ids[_row(i)["title"]] for i in (1, 2, 3))
        changes = [
            {"id": first, "title": "Signed 1", "body": {"lines": [], "signed": True},
             "sent_at": datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)},
            {"id": second, "title": "Signed 2 $1 %s", "body": None,
             "sent_at": None},
            {"id": third, "amount": Decimal("7.25"), "due_on": date(2027, 6, 30),
             "note": None},
        ]
        with Session(engine) as s, s.begin(), sent_statements(engine) as sent:
            update_rows(s, letters, changes)
        if engine.dialect.name == "postgresql":
            assert len(sent) == 2 and all(" FROM (VALUES " in q for q in sent), sent
        with engine.connect() as conn:
            back = {r["id"]: r for r in (dict(m._mapping) for m in conn.execute(
                select(letters)))}
    finally:
        engine.dispose()
    expected = {key: {"id": key, **_row(i)} for i, key in
                ((i, ids[_row(i)["title"]]) for i in range(1, 6))}
    for change in changes:
        expected[change["id"]] |= change
    assert {k: {c: _naive(v) for c, v in row.items()} for k, row in back.items()} == {
        k: {c: _naive(v) for c, v in row.items()} for k, row in expected.items()}


def test_insert_returning_past_one_statements_rows_returns_every_rows_key(
        database_url_factory: Any) -> None:
    """A batch of 500 countersignatures inserts up to 2,000 signature rows: past
    `_VALUES_ROWS` the rows go in several statements and every one's key comes back."""
    from shared.db import _VALUES_ROWS, insert_returning

    engine = make_engine(database_url_factory("contracts"))
    letters = _letters()
    letters.metadata.create_all(engine)
    count = 2 * _VALUES_ROWS + 3
    try:
        with Session(engine) as s, s.begin(), sent_statements(engine) as sent:
            made = insert_returning(s, letters, [_row(i) for i in range(count)],
                                    ("id", "title"))
        if engine.dialect.name == "postgresql":
            assert len([q for q in sent if q.startswith("INSERT")]) == 3
        with engine.connect() as conn:
            stored = dict(conn.execute(select(letters.c.id, letters.c.title)).all())
    finally:
        engine.dispose()
    assert len(made) == count
    assert dict(made) == stored
    assert sorted(stored.values()) == sorted(_row(i)["title"] for i in range(count))


@pytest.mark.parametrize("counts", [(3, 2), (1, COPY_FROM), (4, 0)])
def test_rows_of_two_tables_written_together_read_back_as_given(
        database_url_factory: Any, counts: tuple[int, int]) -> None:
    """`bulk_insert_together`: on PostgreSQL one statement for both tables while each is
    under COPY_FROM rows (the second table's placeholders numbered after the first's), each
    its own `bulk_insert` past that; a table without rows is left out."""
    from shared.db import bulk_insert_together

    engine = make_engine(database_url_factory("contracts"))
    letters = _letters()
    copies = letters.to_metadata(MetaData(), name="copies")
    letters.metadata.create_all(engine)
    copies.metadata.create_all(engine)
    given = ([_row(i) for i in range(1, counts[0] + 1)],
             [{**_row(i), "title": f"copy {i}"} for i in range(100, 100 + counts[1])])
    try:
        with Session(engine) as s, s.begin(), sent_statements(engine) as sent:
            bulk_insert_together(s, [(letters, given[0]), (copies, given[1])])
        if engine.dialect.name == "postgresql":
            # COPY streams past the engine's hooks: each case shows one INSERT.
            assert len(sent) == 1, sent
            if all(counts) and max(counts) < COPY_FROM:
                assert sent[0].startswith('WITH written_0 AS (INSERT INTO "letters"'), sent
                width = len(given[0][0])  # placeholders a row
                second = sent[0].split('INSERT INTO "copies"')[1]
                assert f"VALUES (${width * counts[0] + 1}" in second, second
        with engine.connect() as conn:
            back = [[dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]
                    for t in (letters, copies)]
    finally:
        engine.dispose()
    for rows, read in zip(given, back, strict=True):
        assert [{k: _naive(r[k]) for k in g} for g, r in zip(rows, read, strict=True)] == [
            {k: _naive(v) for k, v in g.items()} for g in rows]
        assert len(read) == len(rows)
