"""The SQL statements a block of code sends through an engine: tests that hold a write or a
batch to a fixed number of round trips whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def sent_statements(engine: Any) -> Iterator[list[str]]:
    """Every statement the engine sends while the block runs, in order (reads by a kept
    driver connection bypass the engine and are not seen)."""
    sent: list[str] = []

    def heard(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", heard)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", heard)
