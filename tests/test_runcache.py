"""The byte-bounded cache of forward passes (ui/runcache.py) and its use by ui/state.py."""

from __future__ import annotations

import threading
import time

import pytest

from ui.runcache import SizedCache


def test_least_recently_used_results_go_first_once_the_bytes_are_spent():
    made = []
    cache = SizedCache(100, size=len)

    def make(value):
        return lambda: (made.append(value), value)[1]

    assert cache.get("a", make("a" * 40)) == "a" * 40
    cache.get("b", make("b" * 40))
    cache.get("a", make("never"))  # a hit: "a" is now the newest
    cache.get("c", make("c" * 40))  # 120 bytes: the least recently used ("b") goes
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.total == 80 and made == ["a" * 40, "b" * 40, "c" * 40]


def test_a_result_larger_than_the_budget_is_kept_alone():
    cache = SizedCache(10, size=len)
    cache.get("small", lambda: "x")
    cache.get("big", lambda: "y" * 50)
    assert len(cache) == 1 and "big" in cache and cache.total == 50


def test_many_askers_at_once_compute_a_key_once():
    calls = []
    cache = SizedCache(1_000, size=lambda v: 1)

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "run"

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("prompt", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and got == ["run"] * 8


def test_a_failed_computation_is_not_cached_and_can_be_retried():
    cache = SizedCache(1_000, size=len)

    def broken():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        cache.get("k", broken)
    assert "k" not in cache and cache.get("k", lambda: "ok") == "ok"


def test_the_app_bounds_its_prompt_runs_by_bytes(tiny_model_dir, monkeypatch):
    from ui import state

    monkeypatch.setenv(state.PROMPT_CACHE_ENV, "0")  # room for the newest run only
    state.prompt_runs.clear()
    src = str(tiny_model_dir)
    first = state.prompt_run(src, "ROMEO.\nBut soft")
    assert first is not None and state.prompt_run(src, "ROMEO.\nBut soft") is first  # cached
    runs = state.prompt_runs()
    assert runs.total == first.cache.nbytes() + first.last_logits.nbytes > 0
    state.prompt_run(src, "JULIET.\nAy me")
    assert len(runs) == 1 and (src, "ROMEO.\nBut soft") not in runs
    state.prompt_runs.clear()
