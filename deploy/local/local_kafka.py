"""A real single-node Apache Kafka broker (KRaft) run from Maven Central jars, for dev and tests."""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

KAFKA_VERSION = os.environ.get("TENURE_KAFKA_VERSION", "4.1.1")
SCALA_ARTIFACT = "kafka_2.13"
# Kafka 4.x logs through SLF4J 1.7 to Log4j2, but kafka_2.13's pom brings only log4j-api: the
# core and the SLF4J 1.x binding are named here so the broker gets our quiet file config.
LOG4J2_VERSION = "2.24.3"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MARKER = ".tenure-complete"

INSTALL_HINT = "apt-get install -y openjdk-17-jre-headless maven"

# A small heap for a 2-core machine; serial GC suits a heap this size. C1 only: a dev broker
# carries little load, and leaving C2 out cut start-to-ready by a third here. Flags in
# TENURE_KAFKA_JVM_OPTS come later and win (e.g. -XX:TieredStopAtLevel=4 for a benchmark).
DEFAULT_JVM_OPTIONS: tuple[str, ...] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)

# One node, no replication. Internal topics get few partitions so the first consumer group
# (which creates __consumer_offsets) and the first transaction do not wait for 50 partitions.
BROKER_SETTINGS: dict[str, str] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "num.partitions": "3",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "5",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "5",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    # The broker is unfenced on its first heartbeat after catching up: beat often, start fast.
    # After a kill, the controller refuses the new incarnation until the old session expires
    # (default 9 s); 4 s is still eight missed heartbeats.
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "4000",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "num.recovery.threads.per.data.dir": "1",
    "background.threads": "4",
    "log.retention.hours": "168",
}

LOG4J2_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by local_kafka.py on each start: warnings and errors only, to a file. -->
<Configuration status="WARN">
  <Appenders>
    <File name="server" fileName="{log_file}" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="server"/></Root>
  </Loggers>
</Configuration>
"""

POM_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by local_kafka.py: only used to copy the broker's jars from Maven Central. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tenure.local</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{kafka_version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j_version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j_version}</version>
    </dependency>
  </dependencies>
</project>
"""


class KafkaError(RuntimeError):
    """Raised when the broker cannot be fetched, formatted, started or stopped."""


# -- fetching the jars ------------------------------------------------------------------------


def cache_root() -> Path:
    """Jars live outside git, shared by every checkout: ${TENURE_CACHE:-~/.cache/tenure}."""
    return Path(os.environ.get("TENURE_CACHE") or Path.home() / ".cache" / "tenure")


def libs_dir(version: str = KAFKA_VERSION, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / f"kafka-{version}" / "libs"


def _pom(version: str) -> str:
    return POM_TEMPLATE.format(artifact=SCALA_ARTIFACT, kafka_version=version,
                               log4j_version=LOG4J2_VERSION)


def _pom_digest(version: str) -> str:
    return hashlib.sha256(_pom(version).encode()).hexdigest()[:16]


def _libs_complete(libs: Path, version: str) -> bool:
    """The marker names the pom it came from and every jar: a changed pom means fetch again."""
    marker = libs / MARKER
    if not marker.is_file():
        return False
    lines = [line for line in marker.read_text(encoding="utf-8").splitlines() if line]
    if not lines or lines[0] != f"pom {_pom_digest(version)}":
        return False
    names = lines[1:]
    return bool(names) and all((libs / name).is_file() for name in names)


def find_java() -> str:
    """$JAVA_HOME/bin/java, else java on PATH; Kafka 4 brokers need Java 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if not java:
        raise KafkaError(f"java not found (Kafka 4 needs Java 17+). Install it: {INSTALL_HINT}")
    return java


def java_version_text(java: str) -> str:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL)
    return out.stderr + out.stdout


def java_major(version_text: str) -> int:
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not found:
        return 0
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def fetch(
    version: str = KAFKA_VERSION, *, cache: Path | None = None, quiet: bool = False
) -> Path:
    """Return the directory with the broker's runtime jars, downloading them on first use.

    A marker written after a complete copy makes later calls free (no Maven run). A file lock
    keeps parallel test sessions from downloading into the same place at once.
    """
    libs = libs_dir(version, cache)
    if _libs_complete(libs, version):
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaError(f"mvn not found: it fetches the Kafka jars. Install it: {INSTALL_HINT}")
    home = libs.parent
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _libs_complete(libs, version):  # another process finished while we waited
            return libs
        pom = home / "pom.xml"
        pom.write_text(_pom(version), encoding="utf-8")
        staging = home / f"libs.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-B", "-q", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
        if not quiet:
            print(f"fetching Kafka {version} jars into {libs} (once) ...", file=sys.stderr,
                  flush=True)
        result = subprocess.run(cmd, cwd=home, capture_output=True, text=True, check=False,
                                stdin=subprocess.DEVNULL)
        jars = sorted(p.name for p in staging.glob("*.jar")) if staging.is_dir() else []
        if result.returncode != 0 or not any(j.startswith(f"{SCALA_ARTIFACT}-") for j in jars):
            shutil.rmtree(staging, ignore_errors=True)
            output = ((result.stdout or "") + (result.stderr or ""))[-4000:]
            raise KafkaError(f"mvn could not fetch {SCALA_ARTIFACT}:{version} "
                             f"(exit {result.returncode}):\n{output}")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        marker = [f"pom {_pom_digest(version)}", *jars]
        (libs / MARKER).write_text("\n".join(marker) + "\n", encoding="utf-8")
    return libs


# -- the broker -------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def new_cluster_id() -> str:
    """Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own Uuid.randomUuid(), never one starting with "-": the storage tool's
    argument parser would read it as an option (about 1 id in 64 would fail to format).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _metadata_brokers(host: str, port: int, timeout: float = 2.0) -> int:
    """Brokers listed in a Metadata (v7) response; 0 until this broker is registered, unfenced.

    v7 is the newest non-flexible version and within Kafka 4's baseline (2.1), so the request
    is a few fixed fields and only the broker count needs reading back.
    """
    client = b"tenure-probe"
    body = struct.pack(">hhih", 3, 7, 1, len(client)) + client + struct.pack(">ib", 0, 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        head = _recv_exact(sock, 4)
        (size,) = struct.unpack(">i", head)
        payload = _recv_exact(sock, size)
    _correlation, _throttle, brokers = struct.unpack(">iii", payload[:12])
    return int(brokers)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return bytes(data)


class LocalKafka:
    """One KRaft node (broker and controller in one JVM) listening on 127.0.0.1 only.

    `stop()` halts the JVM but keeps the data, so `start()` afterwards resumes on the same
    ports and the same log (tests use this to cut the broker under a producer). `close()`
    (and leaving the `with` block) stops it and deletes a temporary data dir; a `data_dir`
    you pass, or `keep=True`, is left in place. A formatted data dir is never reformatted.

    Startup is about 1.5-2 s once the first broker stopped cleanly has dumped an AppCDS
    archive of Kafka's classes into the jar cache (`use_class_archive`, env TENURE_KAFKA_CDS=0
    turns it off); that first clean stop takes a few seconds longer, once per machine.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        keep: bool = False,
        version: str = KAFKA_VERSION,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        settings: Mapping[str, str] | None = None,
        jvm_options: Sequence[str] | None = None,
        use_class_archive: bool | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.version = version
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.settings = {**BROKER_SETTINGS, **(settings or {})}
        extra = os.environ.get("TENURE_KAFKA_JVM_OPTS", "").split()
        self.jvm_options = [*(jvm_options if jvm_options is not None else DEFAULT_JVM_OPTIONS),
                            *extra]
        if use_class_archive is None:
            use_class_archive = os.environ.get("TENURE_KAFKA_CDS", "1") != "0"
        self.use_class_archive = use_class_archive
        self.port: int = port or 0
        self.controller_port: int = controller_port or 0
        self._ports_fixed = port is not None
        self.keep = keep or data_dir is not None
        self.data_dir: Path | None = Path(data_dir).resolve() if data_dir is not None else None
        self.pid: int | None = None
        self.startup_seconds: float = 0.0
        self.stop_seconds: float = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._java: str | None = None
        self._cds_archive: Path | None = None
        self._cds_pending: Path | None = None
        self._libs: Path | None = None

    # -- paths ----------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        if not self.port:
            raise KafkaError("broker not started")
        return f"{self.host}:{self.port}"

    def _dir(self) -> Path:
        if self.data_dir is None:
            raise KafkaError("broker not started")
        return self.data_dir

    @property
    def log_dir(self) -> Path:
        """Kafka's log.dirs (topic partitions and the KRaft metadata log)."""
        return self._dir() / "logs"

    @property
    def server_log(self) -> Path:
        """Log4j2 output: warnings and errors only."""
        return self._dir() / "server.log"

    @property
    def console_log(self) -> Path:
        """The JVM's own stdout/stderr (crashes, anything before Log4j2 is up)."""
        return self._dir() / "console.log"

    @property
    def properties_file(self) -> Path:
        return self._dir() / "server.properties"

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> LocalKafka:
        """Start the broker and wait until it serves metadata; reuse ports from a prior run."""
        with self._lock:
            if self.is_running():
                raise KafkaError("broker already running")
            began = time.monotonic()
            if self._java is None:
                java, build = self._checked_java()  # first: it is the cheaper thing to miss
                self._libs = fetch(self.version)
                if self.use_class_archive:
                    # An archive fits only the JVM build and jar set it was dumped from; it
                    # lives beside the jars, so a fresh fetch drops it too.
                    self._cds_archive = self._libs / f".classes-{build}.jsa"
                self._java = java
            if self.data_dir is None:
                self.data_dir = Path(tempfile.mkdtemp(prefix="tenure-kafka-"))
            self.data_dir.mkdir(parents=True, exist_ok=True)
            atexit.register(self.close)
            # Ports once chosen are kept, so a restart is reachable where clients expect it.
            # Only a first start on ports we picked may retry after losing a bind race.
            attempts = 1 if (self._ports_fixed or self.port) else 3
            for attempt in range(attempts):
                self.port = self.port or free_port(self.host)
                self.controller_port = self.controller_port or free_port(self.host)
                try:
                    self._ensure_ports_free()
                    self._write_config()
                    self._format_once()
                    self._launch()
                    self._wait_ready()
                    break
                except KafkaError as error:
                    if attempt + 1 == attempts or "already in use" not in str(error):
                        self.stop()
                        raise
                    self.stop()
                    self.port = self.controller_port = 0
                except BaseException:  # Ctrl-C while waiting: leave no JVM behind
                    self.stop()
                    raise
            self.startup_seconds = time.monotonic() - began
            return self

    def restart_same(self) -> LocalKafka:
        """Stop and start again on the same ports and data dir."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        """SIGTERM (Kafka shuts down cleanly), then SIGKILL after `stop_timeout`. Keeps data."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            began = time.monotonic()
            clean = False
            if process.poll() is None:
                for signum, grace in ((signal.SIGTERM, self.stop_timeout),
                                      (signal.SIGKILL, 10.0)):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signum)
                    try:
                        process.wait(timeout=grace)
                        clean = signum == signal.SIGTERM
                        break
                    except subprocess.TimeoutExpired:
                        continue
            self.stop_seconds = time.monotonic() - began
            self._settle_class_archive(clean)

    def _settle_class_archive(self, clean: bool) -> None:
        """Publish the archive a cleanly stopped JVM dumped; drop a partial one."""
        pending, self._cds_pending = self._cds_pending, None
        if pending is None or self._cds_archive is None:
            return
        with contextlib.suppress(OSError):
            if clean and pending.is_file() and pending.stat().st_size > 0:
                os.replace(pending, self._cds_archive)  # atomic: a racing dumper just loses
            else:
                pending.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL with no shutdown at all, as a crash would; `start()` recovers the log."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            self._settle_class_archive(clean=False)

    def close(self) -> None:
        """Stop, then delete the data dir if it is a temporary one. Safe to call twice."""
        with self._lock:
            self.stop()
            atexit.unregister(self.close)
            if self.data_dir is not None and not self.keep:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.data_dir = None

    def detach(self) -> int:
        """Leave the broker running after this process exits (CLI `start`); return its pid."""
        with self._lock:
            if not self.is_running() or self.pid is None:
                raise KafkaError("broker not running")
            self._process = None
            atexit.unregister(self.close)
            return self.pid

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.console_log, self.server_log):
            with contextlib.suppress(OSError, KafkaError):
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
                if text:
                    parts.append(f"--- {path.name} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts) or "(no log)"

    # -- steps ----------------------------------------------------------------------------

    @staticmethod
    def _checked_java() -> tuple[str, str]:
        """The java to run and a short id of its exact build."""
        java = find_java()
        version_text = java_version_text(java)
        major = java_major(version_text)
        if major < 17:
            raise KafkaError(f"{java} is Java {major}; Kafka 4 needs 17+. Install: {INSTALL_HINT}")
        return java, hashlib.sha256(f"{java}\n{version_text}".encode()).hexdigest()[:12]

    def _ensure_ports_free(self) -> None:
        """Refuse a port someone listens on: the readiness probe would take their broker for
        ours. SO_REUSEADDR, as Java binds, so a just-stopped broker's TIME_WAIT is no bar."""
        for port in (self.port, self.controller_port):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.host, port))
                except OSError as error:
                    raise KafkaError(f"port {self.host}:{port} is already in use ({error}); "
                                     "is another broker running?") from error

    def _write_config(self) -> None:
        values = {
            **self.settings,
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
                         f"CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            # A static voter set (not the dynamic quorum of `format --standalone`): it keeps
            # no endpoint in the metadata log, so a kept data dir can start on a new port.
            "controller.quorum.voters": f"{self.settings['node.id']}@{self.host}:"
                                        f"{self.controller_port}",
            "log.dirs": str(self.log_dir),
        }
        text = "# Written by local_kafka.py on each start.\n" + "".join(
            f"{key}={value}\n" for key, value in values.items())
        self.properties_file.write_text(text, encoding="utf-8")
        log4j = self._dir() / "log4j2.xml"
        log4j.write_text(LOG4J2_CONFIG.format(log_file=self.server_log), encoding="utf-8")

    def _java_cmd(self, main: str, *args: str, dump_classes: bool = False) -> list[str]:
        """The JVM command line; with an AppCDS archive of Kafka's classes when there is one.

        The archive (dumped once, at the exit of the first broker stopped cleanly) spares
        each JVM parsing and verifying ~5,000 classes: about a second per start here.
        """
        assert self._java is not None and self._libs is not None
        archive = self._cds_archive
        cds: list[str] = []
        if archive is not None and archive.is_file():
            cds = [f"-XX:SharedArchiveFile={archive}"]
        elif archive is not None and dump_classes:
            self._cds_pending = archive.with_name(f"{archive.name}.{uuid.uuid4().hex[:8]}.tmp")
            cds = [f"-XX:ArchiveClassesAtExit={self._cds_pending}"]
        return [
            self._java, *self.jvm_options, *cds,
            f"-Dlog4j2.configurationFile={self._dir() / 'log4j2.xml'}",
            f"-Dkafka.logs.dir={self._dir()}",
            "-cp", str(self._libs / "*"), main, *args,
        ]

    def _format_once(self) -> None:
        if (self.log_dir / "meta.properties").is_file():
            return
        cmd = self._java_cmd("kafka.tools.StorageTool", "format", "-t", new_cluster_id(),
                             "-c", str(self.properties_file))
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120,
                                stdin=subprocess.DEVNULL, cwd=self._dir())
        if result.returncode != 0:
            raise KafkaError(f"kafka-storage format failed ({result.returncode}):\n"
                             f"{result.stdout}{result.stderr}")

    def _launch(self) -> None:
        """Run the JVM as our child in its own session: Ctrl-C in a terminal does not reach
        it, so shutdown stays ours to order and the child is reaped."""
        cmd = self._java_cmd("kafka.Kafka", str(self.properties_file), dump_classes=True)
        with self.console_log.open("ab") as out:
            self._process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, cwd=self._dir(),
                                             start_new_session=True)
        self.pid = self._process.pid

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            process = self._process
            code = process.poll() if process else None
            if process is None or code is not None:
                self._process = None
                self._settle_class_archive(clean=False)
                raise KafkaError(f"Kafka exited with code {code} while starting on "
                                 f"{self.bootstrap_servers}\n{self.log_tail()}")
            with contextlib.suppress(OSError, struct.error):
                if _metadata_brokers(self.host, self.port) > 0:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise KafkaError(f"Kafka not ready on {self.bootstrap_servers} after "
                                 f"{self.startup_timeout:.0f}s\n{self.log_tail()}")
            time.sleep(0.1)


# -- topics -----------------------------------------------------------------------------------


def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int = 3, replication: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet and wait until each has a leader.

    Idempotent: a topic that already exists (whatever its partition count) is left alone.
    Returns the names this call created.
    """
    from kafka.admin import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError, for_code

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    timeout_ms = int(timeout * 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tenure-local-kafka",
                             request_timeout_ms=timeout_ms)
    try:
        spec = {name: {"num_partitions": partitions, "replication_factor": replication}
                for name in wanted}
        result = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False)
        created: list[str] = []
        for topic in result["topics"]:
            error = for_code(topic["error_code"])
            if topic["error_code"] == 0:
                created.append(topic["name"])
            elif error is not TopicAlreadyExistsError:
                raise KafkaError(f"creating topic {topic['name']} failed: {error.__name__} "
                                 f"{topic.get('error_message') or ''}".rstrip())
        admin.wait_for_topics(wanted, timeout_ms=timeout_ms)
        return created
    finally:
        admin.close()


# -- command line -----------------------------------------------------------------------------


def _pid_file(data_dir: Path) -> Path:
    return data_dir / "kafka.pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie left for a non-reaping PID 1 is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _cmd_fetch(args: argparse.Namespace) -> int:
    began = time.monotonic()
    libs = fetch(args.version, quiet=False)
    jars = len(list(libs.glob("*.jar")))
    print(f"Kafka {args.version}: {jars} jars in {libs} ({time.monotonic() - began:.1f}s)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    broker = LocalKafka(port=args.port, data_dir=args.data_dir, version=args.version)
    with broker:
        if args.topic:
            create_topics(broker.bootstrap_servers, args.topic)
        print(f"Kafka {args.version} ready in {broker.startup_seconds:.1f}s (pid {broker.pid}, "
              f"data {broker.data_dir})")
        print(f"bootstrap: {broker.bootstrap_servers}", flush=True)
        while not stop.wait(1.0):
            if not broker.is_running():
                print(f"Kafka exited unexpectedly\n{broker.log_tail()}", file=sys.stderr)
                return 1
    print(f"stopped in {broker.stop_seconds:.1f}s", flush=True)
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    pid_file = _pid_file(data_dir)
    if pid_file.is_file() and _pid_alive(int(pid_file.read_text().split()[0])):
        print(f"already running: {pid_file.read_text().strip()}")
        return 0
    broker = LocalKafka(port=args.port, data_dir=data_dir, version=args.version).start()
    pending, archive = broker._cds_pending, broker._cds_archive
    pid = broker.detach()
    lines = [f"{pid} {broker.bootstrap_servers}"]
    if pending is not None and archive is not None:  # `stop` publishes what the JVM dumps
        lines.append(f"class-archive {pending} {archive}")
    pid_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"bootstrap: {broker.bootstrap_servers} (pid {pid}, {broker.startup_seconds:.1f}s)")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    pid_file = _pid_file(Path(args.data_dir).resolve())
    if not pid_file.is_file():
        print("not running (no pid file)")
        return 0
    lines = pid_file.read_text().splitlines()
    pid = int(lines[0].split()[0])
    clean = False
    for signum, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)
        deadline = time.monotonic() + grace
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _pid_alive(pid):
            clean = signum == signal.SIGTERM
            break
    for line in lines[1:]:
        _, pending, archive = line.split()
        with contextlib.suppress(OSError):
            if clean and Path(pending).is_file():
                os.replace(pending, archive)
            else:
                Path(pending).unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    print("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", default=KAFKA_VERSION, help="Kafka version (Maven)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the broker jars into the cache (once)")
    run = sub.add_parser("run", help="run a broker in the foreground until SIGINT/SIGTERM")
    run.add_argument("--port", type=int, default=None, help="broker port (default: a free one)")
    run.add_argument("--data-dir", default=None, help="kept data dir (default: a temp dir)")
    run.add_argument("--topic", action="append", default=[], help="create this topic too")
    start = sub.add_parser("start", help="start a broker in the background (pid file)")
    start.add_argument("--port", type=int, default=9092)
    start.add_argument("--data-dir", default="var/kafka")
    stop = sub.add_parser("stop", help="stop the broker that `start` left running")
    stop.add_argument("--data-dir", default="var/kafka")
    args = parser.parse_args(argv)
    commands = {"fetch": _cmd_fetch, "run": _cmd_run, "start": _cmd_start, "stop": _cmd_stop}
    try:
        return commands[args.command](args)
    except KafkaError as error:
        print(f"local_kafka: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
