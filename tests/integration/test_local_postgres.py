"""The throw-away PostgreSQL server: databases stay apart, tuning applies, stop leaves nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import local_postgres
import pytest
from local_postgres import LocalPostgres, PostgresError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

pytestmark = pytest.mark.postgres

MODULE = Path(local_postgres.__file__).resolve()


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines opened by a test, disposed afterwards so no connection blocks a DROP."""
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def _engine(url: str, engines: list[Engine]) -> Engine:
    engine = create_engine(url)
    engines.append(engine)
    return engine


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _port_refuses(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_each_database_keeps_its_own_tables_and_rows(
    postgres_server: LocalPostgres, engines: list[Engine]
) -> None:
    first = _engine(postgres_server.create_database(_unique("cohort_a")), engines)
    second = _engine(postgres_server.create_database(_unique("cohort_b")), engines)
    for engine, names in ((first, ["Ana", "Bo"]), (second, ["Cy"])):
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE manager (id serial PRIMARY KEY, name text NOT NULL)"))
            for name in names:
                conn.execute(text("INSERT INTO manager (name) VALUES (:name)"), {"name": name})
    with first.begin() as conn:
        conn.execute(text("CREATE TABLE only_in_first (x int)"))

    with first.connect() as conn:
        assert conn.execute(text("SELECT name FROM manager ORDER BY id")).scalars().all() == [
            "Ana", "Bo"]
    with second.connect() as conn:
        assert conn.execute(text("SELECT name FROM manager ORDER BY id")).scalars().all() == [
            "Cy"]
        with pytest.raises(ProgrammingError, match="only_in_first"):
            conn.execute(text("SELECT * FROM only_in_first"))


def test_urls_name_psycopg3_the_loopback_address_and_the_database(
    postgres_server: LocalPostgres,
) -> None:
    name = _unique("appraisal")
    url = postgres_server.create_database(name)
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/{name}"
    assert postgres_server.url.endswith(f":{postgres_server.port}/postgres")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == name
            assert conn.execute(text("SHOW server_encoding")).scalar_one() == "UTF8"
            assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_server_runs_with_durability_traded_for_speed(
    postgres_server: LocalPostgres, engines: list[Engine]
) -> None:
    with _engine(postgres_server.url, engines).connect() as conn:
        shown = {key: conn.execute(text(f"SHOW {key}")).scalar_one()
                 for key in ("fsync", "synchronous_commit", "full_page_writes",
                             "max_connections", "listen_addresses")}
    assert shown == {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                     "max_connections": "200", "listen_addresses": "127.0.0.1"}


def test_database_copied_from_template_starts_with_its_schema(
    postgres_server: LocalPostgres, engines: list[Engine]
) -> None:
    template = _unique("contracts_template")
    template_engine = _engine(postgres_server.create_database(template), engines)
    with template_engine.begin() as conn:
        conn.execute(text("CREATE TABLE tenure_contract (id text PRIMARY KEY)"))
    template_engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template idle

    copy = _engine(postgres_server.create_database(_unique("contracts"), template=template),
                   engines)
    with copy.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tenure_contract")).scalar_one() == 0


def test_dropping_a_database_cuts_open_sessions_and_removes_it(
    postgres_server: LocalPostgres,
) -> None:
    name = _unique("dropped")
    engine = create_engine(postgres_server.create_database(name))
    try:
        held = engine.connect()
        held.execute(text("SELECT 1"))
        postgres_server.drop_database(name)
        postgres_server.drop_database(name)  # dropping what is gone is not an error
        with pytest.raises(OperationalError, match="does not exist"):
            create_engine(postgres_server.url_for(name)).connect()
        held.invalidate()
    finally:
        engine.dispose()


def test_names_that_are_not_plain_identifiers_are_refused(
    postgres_server: LocalPostgres,
) -> None:
    for bad in ('x"; DROP DATABASE postgres; --', "", "1abc", "a-b"):
        with pytest.raises(ValueError, match="plain database name"):
            postgres_server.create_database(bad)


def test_server_process_never_runs_as_root(postgres_server: LocalPostgres) -> None:
    assert postgres_server.pid is not None
    status = Path(f"/proc/{postgres_server.pid}/status").read_text()
    real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert real_uid != 0
    if os.geteuid() != 0:
        assert real_uid == os.geteuid()


def test_stop_ends_the_server_process_and_removes_its_files() -> None:
    server = LocalPostgres()
    with server:
        pid, port, root = server.pid, server.port, server.root
        assert pid is not None and root is not None
        assert server.is_running()
        assert server.startup_seconds < 15
        engine = create_engine(server.create_database("kept_open"))
        held = engine.connect()  # fast shutdown must not wait for open sessions
        held.execute(text("SELECT 1"))
    assert not server.is_running()
    assert not Path(f"/proc/{pid}").exists()  # reaped, not left as a zombie
    assert not root.exists()
    assert _port_refuses(port)
    server.stop()  # a second stop is harmless
    held.invalidate()
    engine.dispose()


def test_failed_start_reports_the_log_and_leaves_no_files() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        server = LocalPostgres(port=blocker.getsockname()[1])
        with pytest.raises(PostgresError, match="could not bind"):
            server.start()
    assert server.root is None
    assert not server.is_running()


def test_command_line_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, str(MODULE), "run", "--database", "bench"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        urls: list[str] = []
        for line in process.stdout:
            if line.startswith("url: "):
                urls.append(line.removeprefix("url: ").strip())
            if line.startswith("Ctrl-C"):
                break
        assert len(urls) == 2 and urls[1].endswith("/bench")
        engine = create_engine(urls[1])
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_database()")).scalar_one() == "bench"
        finally:
            engine.dispose()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "stopped" in rest
        port = int(urls[0].rsplit(":", 1)[1].split("/")[0])
        assert _port_refuses(port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
