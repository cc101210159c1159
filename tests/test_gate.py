"""Serving a class: the forward-pass gate (at most N inside, the rest in arrival order) and the warm-up."""

import functools
import os
import threading
import time

import pytest

from ui.gate import FifoGate


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


def test_waiters_are_let_in_first_come_first_served():
    gate, served = FifoGate(1), []
    gate.acquire()  # the gate is busy: everyone below has to queue

    def worker(i):
        with gate:
            served.append(i)

    threads = []
    for i in range(20):
        t = threading.Thread(target=worker, args=(i,))
        t.start()
        threads.append(t)
        wait_until(lambda n=i + 1: gate.waiting == n)  # i is in line before i + 1 arrives
    gate.release()
    for t in threads:
        t.join(5)
    assert served == list(range(20))
    assert gate.inside == 0 and gate.waiting == 0


def test_never_more_inside_than_slots():
    gate, lock, inside, most = FifoGate(2), threading.Lock(), [0], [0]

    def worker():
        with gate:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.005)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert most[0] == 2
    assert gate.inside == 0


def test_a_newcomer_does_not_jump_the_line():
    gate, served = FifoGate(1), []
    gate.acquire()
    waiter = threading.Thread(target=lambda: (gate.acquire(), served.append("waiter"), gate.release()))
    waiter.start()
    wait_until(lambda: gate.waiting == 1)
    gate.release()  # the slot goes to the waiter, not to whoever calls acquire() next
    gate.acquire()
    served.append("newcomer")
    gate.release()
    waiter.join(5)
    assert served == ["waiter", "newcomer"]


def test_an_exception_inside_frees_the_slot():
    gate = FifoGate(1)
    with pytest.raises(KeyError):
        with gate:
            {}["missing"]
    assert gate.inside == 0
    with gate:
        assert gate.inside == 1


def test_a_waiter_that_gives_up_leaves_the_line_and_loses_no_slot():
    gate = FifoGate(1)
    gate.acquire()
    assert gate.acquire(timeout=0.01) is False
    assert gate.waiting == 0
    gate.release()
    assert gate.inside == 0
    assert gate.acquire(timeout=0.01) is True


def test_release_without_acquire_is_an_error():
    with pytest.raises(RuntimeError):
        FifoGate(1).release()
    with pytest.raises(ValueError):
        FifoGate(0)


def test_the_app_runs_each_forward_pass_through_one_gate_per_process(tiny_model_dir, monkeypatch):
    from ui import state

    monkeypatch.setenv("GPT_EXPLAINER_FORWARD_SLOTS", "3")
    state.forward_gate.clear()
    gate = state.forward_gate()
    assert gate.slots == 3 and state.forward_gate() is gate
    seen = []
    real = state.run_prompt
    monkeypatch.setattr(state, "run_prompt", lambda *a: (seen.append(gate.inside), real(*a))[1])
    run = state.prompt_run(str(tiny_model_dir), "ROMEO.\nBut soft")
    assert seen == [1] and gate.inside == 0  # inside the gate while it ran, out again after
    assert run is not None and len(run.ids) > 0
    state.forward_gate.clear()


def test_generation_takes_the_gate_for_each_token_only(tiny_model_dir, monkeypatch):
    from ui import state

    monkeypatch.setenv("GPT_EXPLAINER_FORWARD_SLOTS", "1")
    state.forward_gate.clear()
    gate = state.forward_gate()
    inside_while_computing, inside_between = [], []

    def tokens():
        for t in range(3):
            inside_while_computing.append(gate.inside)
            yield t

    got = []
    for t in state.gated(tokens()):
        inside_between.append(gate.inside)  # the page draws here: the line is free for others
        got.append(t)
    assert got == [0, 1, 2] and inside_while_computing == [1, 1, 1] and inside_between == [0, 0, 0]
    def failing():
        raise ValueError("the model could not run")
        yield  # a generator

    with pytest.raises(ValueError):  # a step that fails frees the slot too
        next(state.gated(failing()))
    assert gate.inside == 0
    state.forward_gate.clear()


def test_the_default_prompt_is_run_when_the_model_loads_and_only_then(tiny_model_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import state

    texts = []
    real = state.run_prompt
    monkeypatch.setattr(state, "run_prompt", lambda bundle, text: (texts.append(text), real(bundle, text))[1])
    at = AppTest.from_file("../app.py", default_timeout=60).run()  # Home: no page of it needs a forward pass
    assert texts == [state.DEFAULT_PROMPT]
    at.switch_page("app_pages/overview.py").run()  # the default prompt's run is already there
    assert not at.exception and texts == [state.DEFAULT_PROMPT]
    at.text_area(key="prompt").set_value("KING.\nWhat say you?").run()
    assert texts == [state.DEFAULT_PROMPT, "KING.\nWhat say you?"]


def test_a_tokenizer_asked_for_by_many_sessions_at_once_is_loaded_once(monkeypatch):
    from gpt_core import tokenizer as tk

    loads = []

    def slow_load(name):
        loads.append(name)
        time.sleep(0.05)  # long enough for every thread to ask before the first load ends
        return tk.load_tokenizer(name)

    monkeypatch.setattr(tk, "_loaded_once", functools.cache(slow_load))  # empty, and the real one kept
    got = []
    threads = [threading.Thread(target=lambda: got.append(tk.get_tokenizer("gpt2"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert loads == ["r50k_base"]  # "gpt2" is an alias of r50k_base
    assert len(got) == 8 and all(g is got[0] for g in got)


def test_onednn_keeps_a_bounded_number_of_kernels_unless_told_otherwise(monkeypatch):
    from ui import state

    monkeypatch.delenv(state.ONEDNN_CACHE_ENV, raising=False)
    state.configure_torch()
    assert os.environ[state.ONEDNN_CACHE_ENV] == state.ONEDNN_CACHE_SHAPES
    monkeypatch.setenv(state.ONEDNN_CACHE_ENV, "8")  # whoever runs the server may choose
    state.configure_torch()
    assert os.environ[state.ONEDNN_CACHE_ENV] == "8"
