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

from shared.heap import YOUNG_THRESHOLD, freeze_startup_objects
from tests.support.processes import REPO, free_port, running, wait_http


class Node:
    """A cycle's member: reference counting alone never frees it."""

    other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


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


def test_the_young_generation_is_collected_less_often_once_a_process_serves(
        unfrozen: None) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults

    freeze_startup_objects()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert YOUNG_THRESHOLD > 700
    # A cycle is still found by the young pass on its own, once enough objects were made.
    collected: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collected.append(info["generation"])

    gc.callbacks.append(note)
    try:
        cycle = Node()
        cycle.other = cycle
        gone = weakref.ref(cycle)
        del cycle
        kept = [[] for _ in range(YOUNG_THRESHOLD + 100)]
        assert gone() is None and collected
    finally:
        gc.callbacks.remove(note)
    del kept


def test_every_gunicorn_worker_freezes_its_app_once_it_is_built(tmp_path: Path) -> None:
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
            "tests.support.heap_probe:app"]
    env = {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2",
           "PYTHONPATH": str(REPO)}
    with running(args, env, tmp_path / "gunicorn.log") as proc:
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        counts, thresholds = set(), set()
        for _ in range(20):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                frozen, young = answer.read().split()
                counts.add(int(frozen))
                thresholds.add(int(young))
    assert counts and min(counts) > 1000, (counts, (tmp_path / "gunicorn.log").read_text())
    assert thresholds == {YOUNG_THRESHOLD}


def test_a_runs_spawned_scorers_collect_their_young_generation_as_service_processes_do(
        tmp_path: Path) -> None:
    from multiprocessing import get_context

    from services.appraisal.service.batch import RunContext, init_worker

    ctx = RunContext(url=f"sqlite:///{tmp_path / 'run.db'}", run_id="r", actor="hr", year=2026,
                     kind="annual", schemes=(), copy_text=False)
    with get_context("spawn").Pool(1, initializer=init_worker, initargs=(ctx,)) as pool:
        assert pool.apply(gc.get_threshold)[0] == YOUNG_THRESHOLD
