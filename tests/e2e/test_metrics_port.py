"""METRICS_PORT: /metrics on its own port (gunicorn's master), and gone from the API's."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SECRET, auth
from tests.support.databases import SqliteDatabases
from tests.support.processes import free_port, service_api, wait_http


def test_metrics_move_to_their_own_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = {"CONTRACTS_DATABASE_URL": SqliteDatabases(tmp_path).fresh("contracts"),
           "JWT_SECRET": SECRET, "TENURE_VAR_DIR": str(tmp_path), "LOG_JSON": "false",
           "METRICS_PORT": str(metrics_port), "METRICS_BIND": "127.0.0.1"}
    with service_api("contracts", env, tmp_path, workers=1) as base:
        request = urllib.request.Request(base + "/api/v1/managers", headers=auth("hr_admin"))
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/metrics", timeout=10)
        assert refused.value.code == 404
        wait_http(f"http://127.0.0.1:{metrics_port}/metrics", timeout=20)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                    timeout=10) as resp:
            text = resp.read().decode()
        assert 'endpoint="/api/v1/managers"' in text
        assert "tenure_http_requests_total" in text
