"""Where PostgreSQL's time goes, statement by statement: pg_stat_statements, for the benches.

`SETTINGS` preloads the extension in a bench's own server (`LocalPostgres(settings=...)`);
`reset` starts a window and `report` prints its statements with the most execution time,
over every database of the server. Execution time is the backend's time inside a statement:
its CPU, and its waits (locks, WAL, and for `COPY ... FROM STDIN` the client's streaming of
the rows, so a COPY's figure is not the server's cost alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

SETTINGS = {"shared_preload_libraries": "pg_stat_statements",
            "pg_stat_statements.track": "all"}

_TOP = """
SELECT d.datname, s.calls, s.rows, s.total_exec_time,
       left(regexp_replace(s.query, '\\s+', ' ', 'g'), %(width)s)
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
ORDER BY s.total_exec_time DESC LIMIT %(top)s
"""


_TOTALS = """
SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0),
       coalesce(sum(calls) FILTER (WHERE jit_functions > 0), 0),
       coalesce(sum(jit_generation_time + jit_inlining_time + jit_optimization_time
                    + jit_emission_time), 0)
FROM pg_stat_statements
"""


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


def reset(url: str) -> None:
    """Forget what was counted so far (the extension made in `url`'s database if need be)."""
    with _connect(url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")


def report(url: str, per: int, unit: str, top: int = 25, width: int = 110) -> None:
    """The `top` statements since `reset`, with their time per `unit` (`per` of them)."""
    with _connect(url) as conn:
        total, calls, jitted, jit_ms = conn.execute(_TOTALS).fetchone() or (0, 0, 0, 0)
        # JIT compiles a statement whose plan costs more than jit_above_cost, in the
        # backend, on every execution: time inside total_exec_time that no row needed.
        print(f"    PostgreSQL statements: {total / 1000:.1f} s executing "
              f"({1000 * total / per:.0f} us a {unit}), {calls} calls, "
              f"{jitted} of them JIT-compiled ({jit_ms / 1000:.1f} s compiling); the top {top}:")
        print(f"    {'database':>14} {'calls':>8} {'rows':>8} {'exec ms':>9} "
              f"{'us/' + unit:>12}  statement")
        for database, n, rows, ms, query in conn.execute(_TOP, {"top": top, "width": width}):
            print(f"    {database:>14} {n:>8} {rows:>8} {ms:>9.0f} {1000 * ms / per:>12.0f}  "
                  f"{query}")


@contextmanager
def window(url: str, top: int, title: str, per: int, unit: str) -> Iterator[None]:
    """`reset` before the block and `report` after it under `title`; nothing when `top` is
    0 (the bench was not asked for statements)."""
    if not top:
        yield
        return
    reset(url)
    yield
    print(title)
    report(url, per, unit, top=top)
