"""Portal pages: how long each takes to render under demo data, beside the API calls it makes.

The three services run on SQLite behind real sockets, with the portal in front (the world
the browser tests use: tests/e2e/portal/conftest.py, plus 200 more managers and their
contracts). A logged-in session asks each page ROUNDS times; the bench prints the median and
p95 of the page, and of the same page's API calls made directly, so the portal's own cost
(session, clients, Jinja2, the SVG charts) is the difference.

    .venv/bin/python bench/bench_portal.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "deploy" / "local")]
os.environ.setdefault("TENURE_ENV", "development")

import requests  # noqa: E402

from tests.conftest import auth  # noqa: E402
from tests.e2e.portal.conftest import PortalWorld, seeded_portal_world  # noqa: E402


def timed(call: Callable[[], object], rounds: int) -> tuple[float, float]:
    took = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return statistics.median(took), took[max(0, int(len(took) * 0.95) - 1)]


def more_managers(world: PortalWorld, count: int) -> None:
    hr = world.api("contracts")
    for i in range(count):
        hr.call("POST", "/api/v1/managers", 201, json={
            "employee_no": f"D{i:04d}", "name": f"Demo Manager {i}",
            "email": f"d{i:04d}@example.com", "org_unit_id": world.ids["s1"],
            "position": "deputy_general_manager", "language": "zh"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--managers", type=int, default=200)
    args = parser.parse_args()
    with seeded_portal_world(Path(tempfile.mkdtemp(prefix="bench-portal-"))) as world:
        urls = world.urls
        more_managers(world, args.managers)
        world.sync()
        browser = requests.Session()
        page = browser.get(urls["portal"] + "/login").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        browser.post(urls["portal"] + "/login/dev", data={
            "csrf_token": token, "person": "group_hr", "next": "/hr"})
        hr = auth("hr_admin")
        api = requests.Session()

        def direct(*calls: tuple[str, str]) -> Callable[[], None]:
            def run() -> None:
                for service, path in calls:
                    api.get(urls[service] + path, headers=hr, timeout=30).raise_for_status()
            return run

        pages = {
            "/hr (org tree, coverage chart)": direct(
                ("contracts", "/api/v1/org-units?page_size=500"),
                ("contracts", "/api/v1/reports/coverage?group_by=layer")),
            "/hr/managers (first 50)": direct(("contracts", "/api/v1/managers?page_size=50")),
            "/hr/contracts": direct(("contracts", "/api/v1/contracts?page_size=100")),
            f"/hr/contracts/{world.ids['c2']}": direct(
                ("contracts", f"/api/v1/contracts/{world.ids['c2']}"),
                ("contracts", f"/api/v1/contracts/{world.ids['c2']}/versions")),
            "/hr/results?year=2026": direct(
                ("appraisal", "/api/v1/reports/appraisals?year=2026&group_by=layer,category"),
                ("appraisal", "/api/v1/appraisal-runs")),
        }
        print(f"portal pages, {args.rounds} rounds each, {args.managers + 3} managers "
              "(SQLite, one process, 2 shared cores)")
        print(f"{'page':<58} {'page p50':>9} {'p95':>7} {'API p50':>8} {'portal':>8}")
        for path, api_calls in pages.items():
            url = urls["portal"] + path.split(" ")[0]
            resp = browser.get(url, timeout=30)
            assert resp.status_code == 200, (path, resp.status_code)
            p50, p95 = timed(lambda url=url: browser.get(url, timeout=30).raise_for_status(),
                             args.rounds)
            a50, _ = timed(api_calls, args.rounds)
            print(f"{path:<58} {p50:8.1f}ms {p95:6.1f}ms {a50:7.1f}ms {p50 - a50:7.1f}ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
