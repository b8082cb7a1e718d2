"""Fresh, migrated databases per test: SQLite files and PostgreSQL databases from a template.

Migrations run once per service and backend; each test then gets a copy (a file copy for
SQLite, CREATE DATABASE ... TEMPLATE for PostgreSQL), so every test starts from exactly the
schema the migrations produce, in milliseconds.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from shared.migrations import upgrade

REPO = Path(__file__).resolve().parents[2]


def migrations_dir(service: str) -> Path:
    return REPO / "services" / service / "migrations"


class SqliteDatabases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.templates: dict[str, Path] = {}

    def fresh(self, service: str) -> str:
        if service not in self.templates:
            template = self.root / f"{service}-template.db"
            upgrade(migrations_dir(service), f"sqlite:///{template}")
            self.templates[service] = template
        target = self.root / f"{service}-{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(self.templates[service], target)
        return f"sqlite:///{target}"


class PostgresDatabases:
    def __init__(self, server: object) -> None:
        self.server = server
        self.templates: dict[str, str] = {}

    def _admin(self):  # type: ignore[no-untyped-def]
        return create_engine(self.server.url, isolation_level="AUTOCOMMIT")  # type: ignore[attr-defined]

    def fresh(self, service: str) -> str:
        if service not in self.templates:
            name = f"{service}_template"
            url = self.server.create_database(name)  # type: ignore[attr-defined]
            upgrade(migrations_dir(service), url)
            self.templates[service] = name
        name = f"{service}_{uuid.uuid4().hex[:12]}"
        engine = self._admin()
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.templates[service]}"'))
        finally:
            engine.dispose()
        return self.server.url.rsplit("/", 1)[0] + "/" + name  # type: ignore[attr-defined]
