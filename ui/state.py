"""Cached model and forward pass, and the session state every page shares.

The model is one object per weights folder (``st.cache_resource``); the forward pass over a
prompt is cached per (weights, prompt text) in one cache per server bounded by the bytes of its
activations, so a page switch or a picker change never reruns the model. Nothing here is stored at module level.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

import streamlit as st

import gpt_core
from gpt_core.prompt import PromptRun, run_prompt
from ui.gate import FifoGate
from ui.runcache import SizedCache
from ui.text import label, labels

T = TypeVar("T")

DEFAULT_ENV = "GPT_EXPLAINER_DEFAULT_MODEL"  # a folder to use as the "default" model
DEFAULT_PROMPT = "ROMEO.\nBut soft, what light through yonder window breaks?"
MODELS = ("default", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")  # the picker's entries; see model_title
LOAD_ERRORS = (gpt_core.ModelNotAvailable, gpt_core.CheckpointError, OSError, ValueError)


ONEDNN_CACHE_ENV, ONEDNN_CACHE_SHAPES = "ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64"


def configure_torch() -> None:
    """One CPU thread per tensor operation unless $GPT_EXPLAINER_TORCH_THREADS says otherwise.

    Every browser session runs in its own thread of one server process; with torch's default of
    one thread per core, two sessions computing at once oversubscribe the cores and both slow down
    several-fold on a 2-core machine. One thread per operation lets sessions run side by side.
    """
    import torch

    # oneDNN keeps a compiled kernel for every shape a pre-packed multiply has met (1,024 by default, with their
    # buffers): a GPT-2 server that has met every prompt length holds about 190 MB more for good, 400 MB before
    # the allocator gives back what it can (bench/packed_memory.py). 64 keep a dozen prompt lengths at hand (a
    # pass uses four shapes) and cost no speed. oneDNN reads it when it first runs: the model's load, after this.
    os.environ.setdefault(ONEDNN_CACHE_ENV, ONEDNN_CACHE_SHAPES)
    wanted = os.environ.get("GPT_EXPLAINER_TORCH_THREADS", "1")
    n = int(wanted) if wanted.isdigit() and int(wanted) > 0 else 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def model_title(name: str) -> str:
    """A picker entry's title in the session's language ("Shipped model (Shakespeare)"); a folder's own name."""
    return labels("common", "models").get(name, name)


def widget_key(page: str, name: str) -> str:
    """Key of a page's widget, prefixed with the page so pages never share one by accident."""
    return f"{page}.{name}"


def source(name: str) -> str:
    """What to load for a picker entry: the env-var folder for "default" when set, else the name."""
    if name == "default" and os.environ.get(DEFAULT_ENV):
        return os.environ[DEFAULT_ENV]
    return name


@st.cache_resource(max_entries=2, show_spinner=False)  # callers show a spinner in the session's language
def load_bundle(src: str) -> gpt_core.ModelBundle:
    """The model, tokenizer and description for a name or folder; shared by every session, never mutated."""
    return gpt_core.load_model(src)


@st.cache_resource(show_spinner=False)
def forward_gate() -> FifoGate:
    """The server's one line for forward passes: $GPT_EXPLAINER_FORWARD_SLOTS at once (default: one per
    core), the rest in arrival order, so a class that asks at the same moment is served first come first
    served instead of all sharing the cores and all waiting as long as the last."""
    wanted = os.environ.get("GPT_EXPLAINER_FORWARD_SLOTS", "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return FifoGate(int(wanted) if wanted.isdigit() and int(wanted) > 0 else cores)


def gated(steps: Iterable[T]) -> Iterator[T]:
    """Yield from ``steps`` taking the forward gate for each step only, so a long generation waits its turn
    token by token and never holds the line while the page draws."""
    it = iter(steps)
    while True:
        with forward_gate():
            try:
                step = next(it)
            except StopIteration:
                return
        yield step


PROMPT_CACHE_ENV = "GPT_EXPLAINER_PROMPT_CACHE_MB"  # activations kept for recent prompts, all sessions together
PROMPT_CACHE_MB = 512


def _run_bytes(run: PromptRun | None) -> int:
    return 0 if run is None else run.cache.nbytes() + run.last_logits.nbytes


# cache_resource: one cache of runs for the server, holding live objects. cache_data would pickle and
# unpickle tens of MB of activations on every rerun. A PromptRun is frozen and only ever read.
@st.cache_resource(show_spinner=False)
def prompt_runs() -> SizedCache[PromptRun | None]:
    """The server's recent forward passes, per (model, prompt), up to $GPT_EXPLAINER_PROMPT_CACHE_MB of
    activations (default 512), least recently used dropped first."""
    wanted = os.environ.get(PROMPT_CACHE_ENV, "")
    mb = int(wanted) if wanted.isdigit() else PROMPT_CACHE_MB
    return SizedCache(mb * 1_000_000, _run_bytes)


def prompt_run(src: str, text: str) -> PromptRun | None:
    """One forward pass of model ``src`` over ``text``: tokens, last logits and every activation (read-only)."""
    def forward() -> PromptRun | None:
        bundle = load_bundle(src)
        with forward_gate():
            return run_prompt(bundle, text)

    return prompt_runs().get((src, text), forward)


@st.cache_resource(max_entries=2, show_spinner=False)
def warm(src: str) -> bool:
    """Run the default prompt once when a model loads, so pages opened before anyone types come at once."""
    prompt_run(src, DEFAULT_PROMPT)
    return True


def active_model() -> str:
    """The picker entry whose model is in use (the last one that loaded)."""
    return st.session_state.setdefault("model.active", "default")


def set_notice(kind: str, name: str, **values) -> None:
    """Keep a sidebar message: common text ``name`` with ``values`` (a "model" value is a picker entry).

    The words are looked up when the sidebar draws it, so the message follows a change of language.
    """
    st.session_state["model.notice"] = (kind, name, values)


def error_words(e: Exception) -> str | tuple[str, dict, str]:
    """An error as the app keeps it: the case, its values and its English message where the core names the
    case (gpt_core.explained), to be said in the reader's language when drawn (error_text), else the message."""
    reason = getattr(e, "reason", "")
    return (reason, dict(e.details), str(e)) if reason else str(e)


def error_text(kept: str | tuple[str, dict, str]) -> str:
    """What error_words kept, in the session's language (error_<reason> in common.*.md; a case with no words
    there reads as the error's own message)."""
    if isinstance(kept, tuple):
        reason, details, message = kept
        words = labels("common").get("error_" + reason)
        return words.format(**details) if words else message
    return kept


def notice() -> tuple[str, str] | None:
    """The sidebar's message, if any, as (kind, text in the session's language)."""
    kept = st.session_state.get("model.notice")
    if not kept:
        return None
    kind, name, values = kept
    if "error" in values:
        values = values | {"error": error_text(values["error"])}
    if "model" in values:
        values = values | {"model": model_title(values["model"])}
    if values.get("hint"):
        values = values | {"hint": label("common", values["hint"])}
    return kind, label("common", name, **values)


def on_model_change() -> None:
    """Picker callback: switch only to weights that are on this machine, else explain and stay."""
    wanted = st.session_state["model"]
    try:
        gpt_core.find_weights(source(wanted))
    except gpt_core.ModelNotAvailable as e:
        set_notice("info", "still_using", error=error_words(e), model=active_model())
        st.session_state["model.wanted"] = wanted  # the weights panel opens to offer the download
        st.session_state["model"] = active_model()
        return
    st.session_state.pop("model.notice", None)
    st.session_state.pop("model.wanted", None)
    st.session_state["model.previous"] = active_model()
    st.session_state["model.active"] = wanted


def load_active() -> gpt_core.ModelBundle | None:
    """Load the active model; if it fails, say why and go back to the previous one.

    Call it before the picker is drawn: it may reset the picker's value.
    """
    name = active_model()
    try:
        with st.spinner(label("common", "loading_model")):
            bundle = load_bundle(source(name))
            warm(source(name))
            return bundle
    except LOAD_ERRORS as e:
        set_notice("error", "load_failed", model=name, error=error_words(e),
                   hint="load_hint" if name == "default" else "")
        previous = st.session_state.pop("model.previous", None)
        if previous is None or previous == name:
            return None
        st.session_state["model.active"] = st.session_state["model"] = previous
        return load_active()


def bundle_or_stop() -> gpt_core.ModelBundle:
    """The active model; if it cannot be loaded, say so on the page and stop it."""
    try:
        return load_bundle(source(active_model()))
    except LOAD_ERRORS:
        st.error(label("common", "no_model"))
        st.stop()


def prompt() -> str:
    return st.session_state.get("prompt", DEFAULT_PROMPT)


def current_run() -> PromptRun | None:
    """The forward pass over the sidebar prompt; None for an empty or whitespace-only prompt."""
    bundle_or_stop()
    text = prompt()
    if not text.strip():
        return None
    with st.spinner(label("common", "running_model")):
        return prompt_run(source(active_model()), text)


def run_or_stop(empty_message: str) -> PromptRun:
    """The forward pass over the sidebar prompt; for an empty prompt, show ``empty_message`` and stop the page."""
    run = current_run()
    if run is None:
        st.info(empty_message)
        st.stop()
    return run
