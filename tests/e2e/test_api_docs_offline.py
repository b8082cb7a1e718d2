"""/docs of every service works on a machine with no internet: Swagger UI is served by the
service itself, and a real browser renders the operations without asking any other host."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from services.appraisal import create_app as create_appraisal_app
from services.contracts import create_app as create_contracts_app
from services.notifications import create_app as create_notifications_app
from tests.conftest import service_settings

FACTORIES = {
    "contracts": create_contracts_app,
    "appraisal": create_appraisal_app,
    "notifications": create_notifications_app,
}
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture(params=sorted(FACTORIES))
def service_app(request: pytest.FixtureRequest, sqlite_databases: Any) -> Any:
    name = request.param
    return FACTORIES[name](service_settings(name, sqlite_databases.fresh(name)))


def test_docs_page_loads_every_asset_from_the_service_itself(service_app: Any) -> None:
    client = service_app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = ASSET.findall(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), html
    for asset in assets:
        assert not re.match(r"^(https?:)?//", asset), f"/docs loads {asset} from another host"
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.get_data()) > 1000, asset


def test_no_redoc_page_that_would_need_a_cdn(service_app: Any) -> None:
    assert service_app.test_client().get("/redoc").status_code == 404


@pytest.fixture
def served_contracts(sqlite_databases: Any) -> Iterator[str]:
    """The contracts API on a real socket, for the browser."""
    app = create_contracts_app(service_settings("contracts", sqlite_databases.fresh("contracts")))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_a_real_browser_renders_the_operations_offline(served_contracts: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:  # install-system-deps.sh installs it; make test always has it
        pytest.fail("Debian's chromium is not installed (run deploy/local/install-system-deps.sh)")
    from playwright.sync_api import sync_playwright

    elsewhere: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()

            def only_this_service(route: Any) -> None:
                url = route.request.url
                if url.startswith(served_contracts):
                    route.continue_()
                else:
                    elsewhere.append(url)
                    route.abort()

            page.route("**/*", only_this_service)
            page.goto(f"{served_contracts}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            operations = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert elsewhere == []
    assert operations > 20
    assert "Contracts" in title or "contracts" in title.lower()
