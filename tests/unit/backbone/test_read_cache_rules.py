"""The read cache's rules without a database: what may be stored, and what is dropped."""

from __future__ import annotations

import pytest

from shared.read_cache import EVERYTHING, ReadCache


def listening_cache(max_entries: int = 3) -> ReadCache:
    cache = ReadCache({}, "tenure_contract_reads", max_entries=max_entries)
    cache._live = True  # as the listener sets it once LISTEN is in place
    return cache


def test_nothing_is_cached_while_the_listener_is_not_connected() -> None:
    cache = ReadCache({}, "tenure_contract_reads")
    assert cache.generation() is None
    assert cache.put("c1", "body", None) is False
    assert cache.get("c1") is None


def test_a_read_that_raced_a_notice_is_not_stored() -> None:
    cache = listening_cache()
    before_read = cache.generation()
    cache.invalidate("c1")  # a write committed while the database was being read
    assert cache.put("c1", "old body", before_read) is False
    assert cache.get("c1") is None
    assert cache.put("c1", "new body", cache.generation()) is True
    assert cache.get("c1") == "new body"


def test_a_notice_drops_what_it_names_and_star_drops_everything() -> None:
    cache = listening_cache()
    for key in ("c1", "c2"):
        cache.put(key, key, cache.generation())
    cache.invalidate("c1")
    assert cache.get("c1") is None and cache.get("c2") == "c2"
    cache.invalidate()
    assert len(cache) == 0


def test_the_least_recently_read_entry_goes_first() -> None:
    cache = listening_cache(max_entries=2)
    cache.put("c1", 1, cache.generation())
    cache.put("c2", 2, cache.generation())
    assert cache.get("c1") == 1  # c2 is now the least recently read
    cache.put("c3", 3, cache.generation())
    assert cache.get("c2") is None and cache.get("c1") == 1 and cache.get("c3") == 3


def test_stopping_drops_everything_and_stores_nothing_more() -> None:
    cache = listening_cache()
    cache.put("c1", 1, cache.generation())
    cache.stop()
    assert cache.get("c1") is None and cache.generation() is None


def test_a_channel_must_be_a_plain_name() -> None:
    with pytest.raises(ValueError):
        ReadCache({}, "reads; DROP TABLE x")


def test_reference_entries_outlive_this_process_commits_and_go_with_the_notices_naming_them(
        ) -> None:
    cache = listening_cache()
    cache.put_kept("indicators:ROE", "roe", cache.kept_generation())
    cache.put_kept("units:u1", "u1", cache.kept_generation())
    cache.invalidate()  # this process committed a write: every other entry goes
    assert cache.get_kept("indicators:ROE") == "roe"
    cache.heard("c1")  # a contract's notice names no reference entry
    assert cache.get_kept("indicators:ROE") == "roe"
    cache.heard("indicators:*")
    assert cache.get_kept("indicators:ROE") is None and cache.get_kept("units:u1") == "u1"
    cache.heard(EVERYTHING)
    assert cache.get_kept("units:u1") is None


def test_a_reference_read_that_raced_any_notice_is_not_kept() -> None:
    cache = listening_cache()
    before_read = cache.kept_generation()
    cache.heard("c1")  # it may name nothing kept yet, and still concern what is being read
    assert cache.put_kept("indicators:ROE", "old", before_read) is False
    assert cache.get_kept("indicators:ROE") is None
    assert cache.put_kept("indicators:ROE", "new", cache.kept_generation()) is True


def test_no_reference_entry_is_kept_or_served_without_the_listener() -> None:
    cache = listening_cache()
    cache.put_kept("indicators:ROE", "roe", cache.kept_generation())
    cache.stop()
    assert cache.kept_generation() is None and cache.get_kept("indicators:ROE") is None
    assert cache.put_kept("indicators:ROE", "roe", 0) is False
