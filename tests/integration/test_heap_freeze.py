"""Start-up objects are frozen out of the collector's full passes (shared/heap.py), and
objects made afterwards are still collected."""

from __future__ import annotations

import gc
import sys
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.heap import freeze_startup_objects
from tests.support.processes import REPO, free_port, running, wait_http


class Node:
    """A cycle's member: reference counting alone never frees it."""

    other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_objects_alive_at_the_freeze_are_frozen_and_later_garbage_is_still_collected(
        unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    before = Node()
    before.other = before
    kept = weakref.ref(before)

    frozen = freeze_startup_objects()

    assert frozen > 1000
    # Frozen objects leave the permanent generation only when freed (a thread that earlier
    # tests left behind, such as a read cache listener retrying, may free a few meanwhile)
    # and none join it without another freeze: the count is what was frozen, or a little less.
    assert frozen - 1000 < gc.get_freeze_count() <= frozen
    # A cycle made after the freeze is garbage the collector still finds.
    after = Node()
    after.other = after
    gone = weakref.ref(after)
    del after
    gc.collect()
    assert gone() is None
    # One alive at the freeze stays, even once nothing refers to it: frozen is for good.
    del before
    gc.collect()
    assert kept() is not None


def test_every_gunicorn_worker_freezes_its_app_once_it_is_built(tmp_path: Path) -> None:
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
            "tests.support.heap_probe:app"]
    env = {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2",
           "PYTHONPATH": str(REPO)}
    with running(args, env, tmp_path / "gunicorn.log") as proc:
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        counts = set()
        for _ in range(20):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                counts.add(int(answer.read()))
    assert counts and min(counts) > 1000, (counts, (tmp_path / "gunicorn.log").read_text())
