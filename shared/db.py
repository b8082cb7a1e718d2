"""SQLAlchemy 2 engine and session handling for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Row,
    Select,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import dialect as _pg_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from shared.jsonio import read_json, write_json
from shared.read_cache import ReadCache

_PG_DIALECT = _pg_dialect()


def _prepare_sqlite(url: str) -> None:
    path = url.split("sqlite:///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """One engine per process; created after gunicorn forks, never at import."""
    if url.startswith("sqlite"):
        _prepare_sqlite(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               json_serializer=write_json, json_deserializer=read_json)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets readers and the relay run beside a writer; the busy timeout makes
            # concurrent writers queue instead of failing.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # BEGIN IMMEDIATE takes the write lock up front: two writers never deadlock on
            # a lock upgrade, which pysqlite's deferred transactions would allow. Reads
            # take no lock at all (WAL gives them a snapshot).
            read_only = conn.get_execution_options().get("tenure_read", False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    # No pre-ping: it costs a round trip on every request; a connection broken by a
    # database restart fails one request and is then replaced (pool_recycle bounds age).
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                           json_serializer=write_json, json_deserializer=read_json)
    # Many rows of one INSERT without RETURNING go as psycopg's executemany (pipelined, the
    # statement parsed once), not as one multi-row INSERT ... VALUES: psycopg
    # parses a statement longer than 4 kB anew every time, in Python, at about 50 us a row
    # of audit record, which cost a consumer's poll of 500 events 30 % of its CPU
    # (docs/scale-consumer-batch.md). Use cases that write rows by the thousand use COPY
    # (bulk_insert).
    return engine


class Database:
    """An engine and its session factory; `unit_of_work()` is the only way to write."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # A session knows its Database: repository reads find the read cache's reference
        # entries through it (`reference_cache`).
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={"db": self})
        # Reads run without BEGIN/ROLLBACK round trips on PostgreSQL (autocommit), and
        # without the write lock on SQLite: half the round trips of a GET.
        read_options: dict[str, Any] = {"tenure_read": True}
        if self.engine.dialect.name == "postgresql":
            read_options["isolation_level"] = "AUTOCOMMIT"
        self.read_engine = self.engine.execution_options(**read_options)
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False,
                                          info={"db": self})
        self._compiled_sql: dict[int, tuple[Select[Any], str, list[str]]] = {}
        self.read_cache: ReadCache | None = None
        # fetch_rows: one driver connection per thread (gunicorn's threads live as long as
        # the worker), closed by dispose().
        self._local = threading.local()
        self._thread_connections: list[Any] = []
        self._thread_connections_lock = threading.Lock()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def unit_of_work(self, bind: Connection | None = None) -> Iterator[Session]:
        """Commit everything (rows and outbox events) together, or nothing.

        `bind`: a connection held by a long job (`held_connection`), so that its temporary
        tables are seen by every unit of work of the job."""
        session = self.sessions(bind=bind) if bind is not None else self.sessions()
        try:
            yield session
            session.commit()
            if self.read_cache is not None:
                # This process reads its own writes at once; others hear the notice.
                self.read_cache.invalidate()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def held_connection(self) -> Iterator[Connection]:
        """One connection for a long job's many units of work (`unit_of_work(bind=...)`):
        what it keeps in temporary tables lives as long as the job, and no longer in the
        job's own memory."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries only: nothing it changes is ever committed."""
        session = self.read_sessions()
        try:
            yield session
        finally:
            # close() ends the transaction without expiring what was loaded, so the
            # objects stay readable (detached) after the block.
            session.close()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection for the hottest reads: no Session, no ORM, nothing committed."""
        with self.read_engine.connect() as conn:
            yield conn

    def fetch_rows(self, stmt: Select[Any], params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a fixed Core select, as dicts keyed like `.mappings()`.

        For the few reads served most often. On PostgreSQL the statement, compiled once, goes
        straight to the calling thread's own driver connection, in autocommit mode:
        SQLAlchemy's execution layer and pool checkout cost more than the query itself.
        psycopg returns the same Python types SQLAlchemy would (dates, aware timestamps,
        parsed JSON). SQLite takes the Core path.
        """
        if not self.is_postgres:
            with self.read_connection() as conn:
                result = conn.execute(stmt, params)
                # Plain str keys, as the driver path gives: SQLAlchemy's labels are a str
                # subclass, which orjson refuses as a key.
                names = list(map(str, result.keys()))
                return [dict(zip(names, row, strict=True)) for row in result]
        sql, keys = self._compiled(stmt)
        for attempt in (1, 2):
            kept = getattr(self._local, "driver", None) is not None
            driver = self._thread_connection()
            try:
                with driver.cursor() as cur:
                    cur.execute(sql, params)
                    return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]
            except psycopg.OperationalError:
                # A kept connection the server dropped meanwhile (a restart, an idle
                # timeout): a read is safe to repeat once, on a fresh connection.
                self._drop_thread_connection()
                if attempt == 2 or not kept:
                    raise
            except Exception:
                # A connection in doubt is never used again; the next read opens a fresh one.
                self._drop_thread_connection()
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _thread_connection(self) -> Any:
        driver = getattr(self._local, "driver", None)
        if driver is None:
            pooled = self.engine.raw_connection()
            driver = pooled.driver_connection
            pooled.detach()  # this thread's own, for as long as the thread lives
            driver.autocommit = True  # one statement a read: no BEGIN/ROLLBACK round trips
            self._local.driver = driver
            with self._thread_connections_lock:
                self._thread_connections.append(driver)
        return driver

    def _drop_thread_connection(self) -> None:
        driver = getattr(self._local, "driver", None)
        self._local.driver = None
        if driver is not None:
            with self._thread_connections_lock:
                self._thread_connections.remove(driver)
            driver.close()

    def _compiled(self, stmt: Select[Any]) -> tuple[str, list[str]]:
        found = self._compiled_sql.get(id(stmt))
        if found is None or found[0] is not stmt:
            keys = list(stmt.selected_columns.keys())
            if len(set(keys)) != len(keys):
                raise ValueError(f"columns with the same name in {keys}")
            found = (stmt, str(stmt.compile(dialect=self.engine.dialect)), keys)
            self._compiled_sql[id(stmt)] = found
        return found[1], found[2]

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True

    def driver_connect_kwargs(self) -> dict[str, Any]:
        """What psycopg.connect needs to reach this database, as the engine connects."""
        _, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        kwargs.pop("context", None)  # SQLAlchemy's adapters, bound to its own connections
        return dict(kwargs)

    def enable_read_cache(self, channel: str) -> ReadCache | None:
        """A cache of hot reads, kept honest by the schema's NOTIFY triggers on `channel`.

        PostgreSQL only (None on SQLite). Its listener starts on first use, so it runs only
        in the processes that serve reads, after gunicorn forks.
        """
        if not self.is_postgres:
            return None
        self.read_cache = ReadCache(self.driver_connect_kwargs(), channel)
        return self.read_cache

    def dispose(self) -> None:
        if self.read_cache is not None:
            self.read_cache.stop()
        with self._thread_connections_lock:
            opened, self._thread_connections = self._thread_connections, []
        for driver in opened:
            driver.close()
        self.engine.dispose()


#: Rows from which `bulk_insert` sends COPY on PostgreSQL; fewer go as one INSERT ... VALUES.
#: For few rows COPY costs a round trip more (the server asks for the data first) and
#: more CPU: 5 audit records took the client 164 us by one VALUES against 195 us by COPY
#: and 300 us by psycopg's pipelined executemany; 30, 330 against 330-460 and 670-860 us;
#: from about 200 the two are even (1.4 ms), and COPY's stream has no parameter limit.
COPY_FROM = 100


def reference_cache(session: Session) -> ReadCache | None:
    """The read cache of the session's Database, listening, for reference entries; None on
    SQLite, with the cache off, or for a session made outside a Database."""
    db = session.info.get("db")
    cache = db.read_cache if db is not None else None
    if cache is not None:
        cache.start()
    return cache


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the caller's transaction, as fast as the database allows.

    PostgreSQL gets one statement for any number of rows: COPY (one stream, no per-row
    statement) from `COPY_FROM` rows on, one INSERT ... VALUES below it. SQLite gets its
    native executemany. Both run inside the caller's transaction, so they commit or roll
    back with everything else in the unit of work.

    The rows are written as given, as COPY writes them: JSON columns encoded by
    `_json_text`, every other value adapted by the driver; SQLAlchemy's column defaults and
    type processing do not run, so each row names every column it sets (the first row's
    keys decide the columns).
    """
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    keys, json_cols, values = _row_values(table, rows)
    if len(rows) < COPY_FROM:
        # psycopg rewrites `%s` placeholders into `$n` in Python and keeps the result only
        # for statements under 4 kB and 50 parameters (psycopg._queries): a multi-row
        # INSERT past that was parsed anew on every call, 0.9-1.3 ms for 30 audit records.
        # `$n` on a raw cursor skips it.
        _raw_execute(conn, _values_sql(table, keys, json_cols, len(rows)),
                     tuple(v for row in values for v in row))
        return
    names = ", ".join(f'"{table.c[k].name}"' for k in keys)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for value in values:
            copy.write_row(value)


def bulk_insert_together(session: Session, parts: list[tuple[Table, list[dict[str, Any]]]]
                         ) -> None:
    """`bulk_insert` of each part, in one round trip on PostgreSQL while every part is
    under `COPY_FROM` rows: each table but the last is written by a data-modifying WITH of
    the last one's INSERT (a manager's signature writes its audit records and its events
    so, one statement fewer on the busiest write of the year)."""
    parts = [(table, rows) for table, rows in parts if rows]
    conn = session.connection()
    if (conn.dialect.name != "postgresql" or len(parts) < 2
            or any(len(rows) >= COPY_FROM for _, rows in parts)):
        for table, rows in parts:
            bulk_insert(session, table, rows)
        return
    statements: list[str] = []
    params: list[Any] = []
    for table, rows in parts:
        keys, json_cols, values = _row_values(table, rows)
        statements.append(_values_sql(table, keys, json_cols, len(rows), len(params) + 1))
        params.extend(v for row in values for v in row)
    ahead = ", ".join(f"written_{n} AS ({sql})" for n, sql in enumerate(statements[:-1]))
    _raw_execute(conn, f"WITH {ahead} {statements[-1]}", tuple(params))


def _row_values(table: Table, rows: list[dict[str, Any]]
                ) -> tuple[tuple[str, ...], frozenset[str], Iterator[list[Any]]]:
    """The columns the first row names, those holding JSON, and each row's values in that
    order, JSON encoded (one text per distinct value object: a bulk issue's documents all
    share their template's target lines)."""
    keys = tuple(c.key for c in table.columns if c.key in rows[0])
    json_cols = frozenset(k for k in keys if isinstance(table.c[k].type, JSON))
    encoded: dict[int, tuple[Any, str]] = {}

    def as_json(value: Any) -> str:
        found = encoded.get(id(value))
        if found is None or found[0] is not value:
            found = encoded[id(value)] = (value, _json_text(value))
        return found[1]

    flagged = [(k, k in json_cols) for k in keys]
    return keys, json_cols, ([as_json(row.get(k)) if is_json else row.get(k)
                              for k, is_json in flagged] for row in rows)


def insert_new(session: Session, table: Table, rows: list[dict[str, Any]], key: str
               ) -> set[Any]:
    """Insert the rows whose primary key is not taken yet; the `key` values of those it
    inserted (INSERT ... ON CONFLICT DO NOTHING RETURNING), in one statement.

    A consumer claims its poll's inbox rows this way. SQLAlchemy's own multi-row form
    (insertmanyvalues) went through psycopg's `%s` rewriting, never cached past 50
    parameters: about 38 us a row, 11.5 ms for a poll of 300. On PostgreSQL the statement
    is sent with `$n` placeholders as `bulk_insert` sends its VALUES.
    """
    if not rows:
        return set()
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        stmt = sqlite_insert(table).on_conflict_do_nothing().returning(table.c[key])
        return set(conn.execute(stmt, rows).scalars())
    found: set[Any] = set()
    for start in range(0, len(rows), _VALUES_ROWS):
        chunk = rows[start:start + _VALUES_ROWS]
        keys, json_cols, values = _row_values(table, chunk)
        sql = (_values_sql(table, keys, json_cols, len(chunk))
               + f' ON CONFLICT DO NOTHING RETURNING "{table.c[key].name}"')
        params = tuple(v for row in values for v in row)
        found.update(value for (value,) in _raw_execute(conn, sql, params).all())
    return found


#: Rows of one `insert_new` statement: PostgreSQL takes at most 65,535 parameters.
_VALUES_ROWS = 1000


def insert_returning(session: Session, table: Table, rows: list[dict[str, Any]],
                     returning: tuple[str, ...]) -> list[Row[Any]]:
    """Insert rows in one statement (one per `_VALUES_ROWS`) and return the `returning`
    columns of each, in no promised order: name a column set that tells the rows apart
    along with the generated key. Written as `bulk_insert` writes (no column defaults or
    type processing); SQLite, which cannot return a multi-row INSERT's keys reliably,
    inserts them one by one."""
    if not rows:
        return []
    conn = session.connection()
    columns = [table.c[key] for key in returning]
    if conn.dialect.name != "postgresql":
        return [conn.execute(insert(table).returning(*columns), row).one() for row in rows]
    names = ", ".join(f'"{c.name}"' for c in columns)
    found: list[Row[Any]] = []
    for start in range(0, len(rows), _VALUES_ROWS):
        chunk = rows[start:start + _VALUES_ROWS]
        keys, json_cols, values = _row_values(table, chunk)
        sql = _values_sql(table, keys, json_cols, len(chunk)) + f" RETURNING {names}"
        found += _raw_execute(conn, sql, tuple(v for row in values for v in row)).all()
    return found


def update_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Set columns of rows found by their primary key, each row a dict of its key and the
    columns it sets: one statement for the rows that set the same columns.

    On PostgreSQL that is `UPDATE ... FROM (VALUES ...)` with `$n` placeholders on a raw
    cursor, each value cast to its column's type (a VALUES list has none of its own); an
    ORM flush of the same rows sent one UPDATE a row through the unit of work. SQLite gets
    an executemany. Values are written as `bulk_insert` writes them: no type processing
    but JSON encoding.
    """
    if not rows:
        return
    (pk,) = table.primary_key.columns
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(k for k in row if k != pk.key), []).append(row)
    conn = session.connection()
    for keys, same in shapes.items():
        if conn.dialect.name != "postgresql":
            # Bound names other than the columns': SQLAlchemy keeps those for itself.
            stmt = (table.update().where(pk == bindparam("_key"))
                    .values({k: bindparam(f"_set_{k}") for k in keys}))
            conn.execute(stmt, [{"_key": row[pk.key], **{f"_set_{k}": row[k] for k in keys}}
                                for row in same])
            continue
        for start in range(0, len(same), _VALUES_ROWS):
            chunk = same[start:start + _VALUES_ROWS]
            columns, _, values = _row_values(table, chunk)  # JSON encoded as bulk_insert does
            _raw_execute(conn, _update_sql(table, pk.key, columns, len(chunk)),
                         tuple(v for row in values for v in row))


_UPDATE_SQL: dict[tuple[str, tuple[str, ...], int], str] = {}


def _update_sql(table: Table, key: str, columns: tuple[str, ...], count: int) -> str:
    """The UPDATE text for `count` rows of `columns` (`key` among them), setting the others
    by `key`, built once per shape."""
    shape = (table.name, columns, count)
    found = _UPDATE_SQL.get(shape)
    if found is None:
        casts = [f"::{table.c[k].type.compile(dialect=_PG_DIALECT)}" for k in columns]
        names = {k: f'"{table.c[k].name}"' for k in columns}
        sets = ", ".join(f"{name} = v.{name}" for k, name in names.items() if k != key)
        found = _UPDATE_SQL[shape] = (
            f'UPDATE "{table.name}" AS t SET {sets} '
            f"FROM (VALUES {_placeholder_rows(casts, count)}) "
            f"AS v({', '.join(names.values())}) WHERE t.{names[key]} = v.{names[key]}")
    return found


def _raw_execute(conn: Connection, sql: str, params: tuple[Any, ...]) -> Any:
    """`sql` with `$n` placeholders, through the SQLAlchemy connection on a raw cursor."""
    driver = conn.connection.driver_connection
    factory = driver.cursor_factory
    driver.cursor_factory = psycopg.RawCursor
    try:
        return conn.exec_driver_sql(sql, params)
    finally:
        driver.cursor_factory = factory


_VALUES_SQL: dict[tuple[str, tuple[str, ...], frozenset[str], int, int], str] = {}


def _values_sql(table: Table, keys: tuple[str, ...], json_cols: frozenset[str], count: int,
                first: int = 1) -> str:
    """The INSERT text for `count` rows of these columns, built once per shape; its
    placeholders start at `$first`."""
    shape = (table.name, keys, json_cols, count, first)
    found = _VALUES_SQL.get(shape)
    if found is None:
        casts = [f"::{table.c[k].type.compile(dialect=_PG_DIALECT)}" if k in json_cols else ""
                 for k in keys]
        names = ", ".join(f'"{table.c[k].name}"' for k in keys)
        found = _VALUES_SQL[shape] = (
            f'INSERT INTO "{table.name}" ({names}) VALUES '
            f"{_placeholder_rows(casts, count, first)}")
    return found


def _placeholder_rows(casts: list[str], count: int, first: int = 1) -> str:
    """`($1<cast>, $2<cast>, ...), (...)`: `count` rows of one placeholder a cast."""
    width = len(casts)
    return ",".join(
        "(" + ",".join(f"${first + i * width + j}{cast}" for j, cast in enumerate(casts)) + ")"
        for i in range(count))


#: orjson encoding JSON columns as `json.dumps(value, default=str)` did (dates, datetimes and
#: dataclasses by `str`, keys that are not strings as strings), several times faster.
_AS_JSON_MODULE = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_NON_STR_KEYS)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str, option=_AS_JSON_MODULE).decode()


def rows_where_in(session: Session, stmt: Select[Any], column: Any, values: Iterable[Any]
                  ) -> list[Row[Any]]:
    """The rows of `stmt` whose `column` is one of `values` (text values).

    PostgreSQL: one statement joining the values sent as one array (`unnest`). Lists of
    values sent as `IN (...)` in chunks had the same text every time, so psycopg prepared
    them after five, and the server's generic plan, costed while a bulk write was growing
    the table faster than autovacuum analysed it, could scan the whole table and compare
    each row with every value of the list in turn: a bulk import's file of 20,000 managers
    went from 0.4 s to 34-63 s of such lookups as the table grew
    (docs/scale-bulk-issue.md). A join with the array probes the index or hashes the
    values, whatever the plan. SQLite: IN lists of 1000 (its limit on parameters).
    """
    wanted = sorted(set(values))
    if not wanted:
        return []
    if session.get_bind().dialect.name == "postgresql":
        listed = func.unnest(bindparam("wanted", wanted, type_=ARRAY(String))
                             ).table_valued("value").render_derived()
        return list(session.execute(stmt.join(listed, column == listed.c.value)))
    found: list[Row[Any]] = []
    for start in range(0, len(wanted), 1000):
        found.extend(session.execute(stmt.where(column.in_(wanted[start:start + 1000]))))
    return found
