"""A throw-away PostgreSQL server from the machine's binaries, for tests, benches and demos."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

# Durability is worthless for a server that is deleted after the run; these settings trade it
# for speed. shared_buffers stays small because several servers may run beside each other.
TEST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "log_checkpoints": "off",
    "logging_collector": "off",
    "ssl": "off",
    "timezone": "UTC",
}

# Client variables that would silently redirect our own pg_isready / psql calls.
_PG_CLIENT_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS",
                  "PGPASSWORD", "PGSERVICE", "PGSSLMODE", "PGDATA")

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """Raised when the server cannot be found, initialised, started or stopped."""


def find_pg_bin() -> Path:
    """Directory holding initdb/pg_ctl/postgres: $PG_BIN, else Debian's newest, else PATH.

    Debian keeps the server binaries off PATH (/usr/lib/postgresql/<major>/bin), so looking
    there first works on a machine where only the `postgresql` package was installed.
    """
    override = os.environ.get("PG_BIN")
    if override:
        path = Path(override)
        if not (path / "pg_ctl").is_file():
            raise PostgresError(f"PG_BIN={override} has no pg_ctl")
        return path
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "pg_ctl").is_file()]
    if candidates:
        return max(candidates, key=lambda p: _major_version(p.parent.name))
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise PostgresError(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/pg_ctl, no pg_ctl "
        "on PATH). Run deploy/local/install-system-deps.sh as root, or set PG_BIN."
    )


def _major_version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _service_account() -> pwd.struct_passwd:
    """The unprivileged account that runs the server when we are root.

    initdb, pg_ctl and postgres all refuse to run as root. Debian's package creates the
    `postgres` system user; `nobody` is the fallback for hand-built binaries.
    """
    wanted = os.environ.get("PG_RUN_AS")
    names = [wanted] if wanted else ["postgres", "nobody"]
    for name in names:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresError(f"running as root but no unprivileged user among {names} exists")


class LocalPostgres:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only.

    Use as a context manager; `url` is the SQLAlchemy URL of the `postgres` database and
    `create_database()` hands out more. Everything lives under one temp dir that `stop()`
    removes, so nothing outlives the run.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        superuser: str = "postgres",
        base_dir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
        pg_bin: str | os.PathLike[str] | None = None,
    ) -> None:
        self.pg_bin = Path(pg_bin) if pg_bin else find_pg_bin()
        self.host = "127.0.0.1"
        self.superuser = superuser
        self.startup_timeout = startup_timeout
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self._requested_port = port
        self._base_dir = base_dir
        self.port: int = 0
        self.root: Path | None = None
        self.pid: int | None = None
        self.startup_seconds: float = 0.0
        self._account = _service_account() if os.geteuid() == 0 else None
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths and URLs -------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._require_root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_root() / "sock"

    @property
    def log_file(self) -> Path:
        return self._require_root() / "postgres.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default `postgres` database."""
        return self.url_for("postgres")

    def url_for(self, name: str) -> str:
        return f"postgresql+psycopg://{self.superuser}@{self.host}:{self.port}/{name}"

    def socket_url_for(self, name: str) -> str:
        """SQLAlchemy URL of `name` over the server's Unix socket, as a service on the
        database host reaches it (no TCP stack in what a benchmark measures)."""
        return (f"postgresql+psycopg://{self.superuser}@/{name}"
                f"?host={self.socket_dir}&port={self.port}")

    @property
    def dsn(self) -> str:
        """libpq connection string (for psql, pgbench, psycopg.connect)."""
        return f"host={self.host} port={self.port} user={self.superuser} dbname=postgres"

    def _require_root(self) -> Path:
        if self.root is None:
            raise PostgresError("server not started")
        return self.root

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalPostgres:
        if self.root is not None:
            raise PostgresError("server already started")
        began = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="tenure-pg-", dir=self._base_dir))
        atexit.register(self.stop)
        try:
            self.socket_dir.mkdir()
            self._hand_over(self.root)
            self._initdb()
            self._start_with_retries()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _hand_over(self, root: Path) -> None:
        """When root, give the temp dir to the service account and check it can get there."""
        if self._account is None:
            return
        for path in (root, root / "sock"):
            os.chown(path, self._account.pw_uid, self._account.pw_gid)
        probe = self._run(["test", "-w", str(root)], check=False)
        if probe.returncode != 0:
            raise PostgresError(
                f"user {self._account.pw_name} cannot write {root}: a parent directory is not "
                "traversable by it; pass base_dir= (or TMPDIR) pointing somewhere like /tmp"
            )

    def _initdb(self) -> None:
        cmd = [
            str(self.pg_bin / "initdb"),
            "-D", str(self.data_dir),
            "-U", self.superuser,
            "-A", "trust",
            "-E", "UTF8",
            "--no-locale",
            "--no-sync",  # the cluster is thrown away; skipping fsync saves about a second
            "--no-instructions",
        ]
        result = self._run(cmd, check=False)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed ({result.returncode}):\n{result.stdout}")
        # The last assignment in postgresql.conf wins, so appending overrides initdb's values.
        lines = [f"{key} = '{value}'" for key, value in self.settings.items()]
        lines += [
            f"listen_addresses = '{self.host}'",
            f"unix_socket_directories = '{self.socket_dir}'",
        ]
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# tenure throw-away server\n" + "\n".join(lines) + "\n")

    def _start_with_retries(self) -> None:
        # A free port can be taken between probing and binding by a neighbour doing the
        # same; that race is the only failure worth retrying.
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            self.port = self._requested_port or free_port(self.host)
            try:
                self._start_once()
                return
            except PostgresError as error:
                if attempt + 1 == attempts or "could not bind" not in str(error):
                    raise

    def _start_once(self) -> None:
        """Run the postmaster as our own child, so it is reaped when it stops.

        pg_ctl start would daemonise it instead, and in a container whose PID 1 never reaps,
        every stopped server would linger as a zombie. A new session keeps a terminal's Ctrl-C
        away from it: shutdown is ours to order, so the temp dir is always removed after it.
        """
        cmd = [str(self.pg_bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **self._popen_options(),
            )
        self.pid = self._process.pid
        self._wait_ready()

    def _wait_ready(self) -> None:
        isready = self.pg_bin / "pg_isready"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll() if self._process else None
            if code is not None:
                self._process = None
                raise PostgresError(
                    f"PostgreSQL exited with code {code} while starting on port {self.port}"
                    f"\n--- log tail ---\n{self.log_tail()}"
                )
            if self._accepting(isready):
                return
            if time.monotonic() > deadline:
                self._shutdown()
                raise PostgresError(
                    f"PostgreSQL not accepting connections on {self.host}:{self.port} after "
                    f"{self.startup_timeout:.0f}s\n--- log tail ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _accepting(self, isready: Path) -> bool:
        if not isready.is_file():  # hand-built trees may lack it; an open port will do
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                return sock.connect_ex((self.host, self.port)) == 0
        probe = subprocess.run(
            [str(isready), "-q", "-h", self.host, "-p", str(self.port),
             "-U", self.superuser, "-d", "postgres", "-t", "1"],
            check=False, env=self._env(), stdin=subprocess.DEVNULL,
        )
        return probe.returncode == 0

    def stop(self) -> None:
        """Fast shutdown (open sessions are cut), then remove every file. Safe to call twice."""
        with self._lock:
            if self.root is None:
                return
            try:
                self._shutdown()
            finally:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None
                atexit.unregister(self.stop)

    def _shutdown(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        result = self._run(
            [str(self.pg_bin / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast",
             "-w", "-t", "30"],
            check=False, timeout=40,
        )
        try:
            process.wait(timeout=5 if result.returncode == 0 else 0.1)
            return
        except subprocess.TimeoutExpired:
            pass
        # pg_ctl could not do it: immediate shutdown, then the hard way.
        for signum, grace in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
                return

    def is_running(self) -> bool:
        """True while the postmaster process is alive."""
        if self.pid is None:
            return False
        if self._process is not None:
            return self._process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # Not our child any more (stopped): a zombie left for a non-reaping PID 1 is not alive.
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] != "Z"
        return True

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except (OSError, PostgresError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    # -- databases ------------------------------------------------------------------------

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (optionally copied from `template`); return its URL."""
        statement = f'CREATE DATABASE "{_checked_name(name)}"'
        if template is not None:
            statement += f' TEMPLATE "{_checked_name(template)}"'
        self.execute(statement)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop `name`, disconnecting whoever is still connected (WITH FORCE, PostgreSQL 13+)."""
        self.execute(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')

    def execute(self, statement: str, dbname: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg  # imported late so the CLI and finder work without the venv

        with psycopg.connect(
            host=self.host, port=self.port, user=self.superuser, dbname=dbname,
            autocommit=True, connect_timeout=10,
        ) as conn:
            conn.execute(statement.encode())  # bytes: psycopg types str queries as literals

    # -- running commands as the right user -----------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _PG_CLIENT_ENV}
        env["LC_ALL"] = "C"
        if self._account is not None:
            env.update(HOME=self._account.pw_dir, USER=self._account.pw_name,
                       LOGNAME=self._account.pw_name)
        return env

    def _popen_options(self) -> dict[str, Any]:
        if self._account is None:
            return {"env": self._env(), "cwd": self._require_root()}
        return {"env": self._env(), "cwd": self._require_root(),
                "user": self._account.pw_uid, "group": self._account.pw_gid,
                "extra_groups": [], "umask": 0o077}

    def _run(
        self, cmd: Sequence[str], *, check: bool, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(cmd), check=check, timeout=timeout, text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **self._popen_options(),
        )


def _checked_name(name: str) -> str:
    """Database names are interpolated into DDL, so only plain identifiers are accepted."""
    if not _NAME_RE.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


def _run_until_interrupted(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalPostgres(port=args.port) as server:
        for name in args.database:
            server.create_database(name)
        print(f"PostgreSQL {server.pg_bin.parent.name} ready in {server.startup_seconds:.2f}s "
              f"(pid {server.pid}, data {server.data_dir})")
        print(f"url: {server.url}")
        for name in args.database:
            print(f"url: {server.url_for(name)}")
        print(f"psql: {server.pg_bin / 'psql'} '{server.dsn}'")
        print("Ctrl-C to stop and delete it.", flush=True)
        while not stop.wait(1.0):
            if not server.is_running():
                print(f"server exited unexpectedly\n{server.log_tail()}", file=sys.stderr)
                return 1
    print("stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a server and keep it until SIGINT/SIGTERM")
    run.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    run.add_argument("--database", action="append", default=[],
                     help="also create this database (repeatable)")
    sub.add_parser("which", help="print the PostgreSQL bin directory that would be used")
    args = parser.parse_args(argv)
    if args.command == "which":
        print(find_pg_bin())
        return 0
    return _run_until_interrupted(args)


if __name__ == "__main__":
    sys.exit(main())
