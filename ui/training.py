"""Session glue of the Training page: this session's run, its Start/Stop callbacks, the server-wide cap.

How the page stays live: the run lives in ``st.session_state`` and is advanced a short chunk of steps
(about ``CHUNK_S`` seconds) per rerun of an ``st.fragment(run_every=...)``. Nothing trains between
reruns, so no run can outlive its session: closing the tab stops training at once, leaving the page
ends the run (``end_if_left``, called by app.py), and Stop is a callback that finishes it. A background
thread per session would need its own stop and clean-up path for every way a session can end; the
chunked loop needs none.

The chunks themselves are computed on one shared worker thread limited to one torch thread
(``gpt_core.live_training.TrainingWorker``): all runs together use at most one core, and the thread
count of the rest of the app is left as it was.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

import streamlit as st

import gpt_core
from gpt_core.live_training import (
    MAX_STEPS,
    PRESETS,
    TOKENIZER,
    VAL_FRACTION,
    History,
    LiveRun,
    TextError,
    TextProblem,
    TrainingWorker,
    check_text,
)
from gpt_core.training import Split, make_splits
from ui import state
from ui import text as ui_text
from ui.text import section

PAGE = "training"
PAGE_PATH = "training"  # the page's url path, see app.py
CORPUS_DIR = Path(__file__).resolve().parent.parent / "assets" / "corpus"
SHIPPED = {"shipped": CORPUS_DIR / "tiny_shakespeare_excerpt.txt", "plays": CORPUS_DIR / "shakespeare.txt"}
CHUNK_S = 0.3  # training time per rerun: short, so Stop and other sessions never wait long
RERUN_EVERY_S = 0.5
MAX_CONCURRENT = 3  # runs training at once on this server (each is one session's)
MIN_STEPS = 10
DEFAULTS = {"corpus": "plays", "own": "", "preset": "small", "steps": PRESETS["small"].default_steps,
            "prompt": "HELENA.", "head": "auto", "exercise": False}


def key(name: str) -> str:
    return state.widget_key(PAGE, name)


def text(name: str, **values) -> str:
    """A section of the page text with its {placeholders} filled in."""
    return section(PAGE, name).format(**values)


def labels() -> dict[str, str]:
    """Short UI strings (widget labels, legend names) from the page text's "labels" section."""
    return ui_text.labels(PAGE)


def init_defaults() -> None:
    for name, value in DEFAULTS.items():
        st.session_state.setdefault(key(name), value)


def tokenizer() -> gpt_core.Tokenizer:
    return gpt_core.get_tokenizer(TOKENIZER)


# cache_resource: the splits of a shipped text are made once and shared read-only by every run
# (batches only index them); the whole plays are 2 M tokens, too many to copy per session.
@st.cache_resource(max_entries=2, show_spinner=False)  # the page shows a spinner in the session's language
def shipped_splits(name: str) -> tuple[Split, Split]:
    return make_splits(SHIPPED[name].read_text(encoding="utf-8"), tokenizer(), VAL_FRACTION)


def shipped_size(name: str) -> tuple[int, int]:
    """Characters and tokens of a shipped text."""
    train_split, val_split = shipped_splits(name)
    return train_split.n_chars + val_split.n_chars, train_split.ids.numel() + val_split.ids.numel()


class _Registry:
    """The runs of every session (weakly held, so a session that ends takes its run with it)."""

    def __init__(self) -> None:
        self._runs: weakref.WeakSet[LiveRun] = weakref.WeakSet()
        self._lock = threading.Lock()

    def active(self) -> int:
        with self._lock:
            return sum(1 for r in self._runs if r.running and not r.overdue)

    def start(self, make) -> LiveRun | None:
        """``make()``'s run, registered; None when MAX_CONCURRENT runs are training already."""
        with self._lock:
            if sum(1 for r in self._runs if r.running and not r.overdue) >= MAX_CONCURRENT:
                return None
            run = make()
            self._runs.add(run)
            return run


@st.cache_resource
def registry() -> _Registry:
    return _Registry()


@st.cache_resource
def worker() -> TrainingWorker:
    return TrainingWorker()


def advance(run: LiveRun) -> bool:
    """Train this session's run for one chunk on the worker thread; True while it goes on."""
    return worker().call(run.advance, CHUNK_S)


def current() -> LiveRun | None:
    """This session's run while it trains."""
    return st.session_state.get(key("run"))


def history() -> History | None:
    """What the session's run (training or finished) has recorded."""
    run = current()
    return run.history if run is not None else st.session_state.get(key("history"))


def corpus() -> str | tuple[Split, Split]:
    """What to train on: the user's text, or the ready splits of a shipped text."""
    name = st.session_state[key("corpus")]
    return st.session_state[key("own")] if name == "own" else shipped_splits(name)


def on_preset_change() -> None:
    st.session_state[key("steps")] = PRESETS[st.session_state[key("preset")]].default_steps


# --- callbacks (they run before the page is drawn again) --------------------------------------
def start() -> None:
    """Start callback: check the text, then start this session's one run (replacing the last one's charts)."""
    s = st.session_state
    s.pop(key("problem"), None)
    if current() is not None:
        return
    preset, steps = PRESETS[s[key("preset")]], int(s[key("steps")])
    if not MIN_STEPS <= steps <= MAX_STEPS:
        s[key("problem")] = text("problem_steps", low=MIN_STEPS, high=MAX_STEPS)
        return
    data = corpus()
    problem = check_text(data, tokenizer(), preset) if isinstance(data, str) else None
    if problem is not None:
        s[key("problem")] = problem_message(problem)
        return
    try:
        run = registry().start(lambda: worker().call(LiveRun, data, preset, steps, tokenizer(),
                                                     s[key("prompt")] or "\n", exercise=bool(s[key("exercise")])))
    except TextError as e:
        s[key("problem")] = problem_message(e.problem)
        return
    if run is None:
        s[key("problem")] = text("problem_busy", active=registry().active())
        return
    s.pop(key("history"), None)
    s[key("run")] = run


def stop() -> None:
    """Stop callback: end the run now (the last state is measured) and free its model."""
    run = current()
    if run is not None:
        worker().call(run.stop)
        finish()


def finish() -> None:
    """Keep only the finished run's history: the model and optimizer go with the run."""
    run = st.session_state.pop(key("run"), None)
    if run is not None:
        run.release()
        st.session_state[key("history")] = run.history


def end_if_left(url_path: str) -> None:
    """Called by app.py on every page: a run ends as soon as its session shows another page."""
    if url_path != PAGE_PATH and current() is not None:
        finish()


def chosen_head(h: History, choice: str) -> tuple[int, int]:
    """(layer, head) of the head picker's choice: "auto" or "layer.head" (0-based)."""
    if choice == "auto":
        return h.most_specialised_head()
    layer, head = choice.split(".")
    return int(layer), int(head)


def problem_message(problem: TextProblem) -> str:
    chars, tokens = shipped_size("shipped")
    chars_needed = round(problem.limit * chars / tokens, -2)  # at the shipped excerpt's characters per token
    return text("problem_" + problem.kind, chars=problem.chars, limit=problem.limit, tokens=problem.tokens,
                chars_needed=int(chars_needed))
