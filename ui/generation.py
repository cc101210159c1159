"""Session state of the Generation page: the user's Timeline, the settings widgets, the callbacks.

The Timeline (steps, branches, key/value cache) lives in ``st.session_state``: it belongs to one
session and is never stored on the shared model. It is started again when the prompt or the
model changes.
"""

from __future__ import annotations

import re

import streamlit as st

import gpt_core
from gpt_core.embeddings import token_label
from gpt_core.lens import Lens
from gpt_core.timeline import GREEDY, PICKED, Limits, Settings, Timeline
from ui import state
from ui import text as ui_text
from ui.text import section
from viz.tokens import visible

PAGE = "generation"
DEFAULTS = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 0, "max_new": 50, "slide": False, "n": 20,
            "bars": 12}


def key(name: str) -> str:
    return state.widget_key(PAGE, name)


def labels() -> dict[str, str]:
    return ui_text.labels(PAGE)


def text(name: str, **values) -> str:
    return ui_text.fill(PAGE, name, **values)


def init_defaults() -> None:
    """Give every settings widget its default once, so callbacks can read the values before it is drawn."""
    for name, value in DEFAULTS.items():
        st.session_state.setdefault(key(name), value)


def settings() -> Settings:
    s = st.session_state
    return Settings(float(s[key("temperature")]), int(s[key("top_k")]) or None,
                    float(s[key("top_p")]) if s[key("top_p")] < 1 else None, int(s[key("seed")]))


def limits() -> Limits:
    return Limits(int(st.session_state[key("max_new")]), bool(st.session_state[key("slide")]))


def timeline(bundle: gpt_core.ModelBundle) -> tuple[Timeline, int] | None:
    """This session's Timeline for the sidebar prompt and the active model, and the prompt's full
    token count; None when the prompt has no tokens."""
    text, src = state.prompt(), state.source(state.active_model())
    stored = st.session_state.get(key("timeline"))
    if stored is not None and stored[0] == (src, text):
        return stored[1], stored[2]
    ids = bundle.tokenizer.encode(text) if text.strip() else []
    if not ids:
        return None
    block = bundle.model.config.block_size
    tl = Timeline(ids[-block:], block, bundle.tokenizer.eot_token)
    st.session_state[key("timeline")] = ((src, text), tl, len(ids))
    return tl, len(ids)


def current() -> Timeline:
    return st.session_state[key("timeline")][1]


# --- callbacks (they run before the page is drawn again) --------------------------------------
def next_token(model: gpt_core.GPT) -> None:
    current().step(model, settings(), limits())


def back() -> None:
    current().back()


def reset() -> None:
    current().reset()


def pick(model: gpt_core.GPT) -> None:
    token = st.session_state.get(key("pick"))
    if token is not None:
        current().choose(model, int(token), settings(), PICKED)
        st.session_state[key("pick")] = None
        st.session_state[key("rerun")] = True  # the pick changes the text: redraw the whole page


def scrub() -> None:
    current().go(int(st.session_state[key("step")]))


def switch_branch() -> None:
    current().switch(int(st.session_state[key("branch")]))


def open_head(layer: int, head: int) -> None:
    st.session_state["attention.layer"] = layer
    st.session_state["attention.head"] = head


# --- what the page shows ----------------------------------------------------------------------
def token_text(tok: gpt_core.Tokenizer, token: int) -> str:
    """A token as plain text, whitespace made visible (for metrics and figures)."""
    return visible(token_label(tok, token))  # a byte token on its own as <e6 88>


def token_md(tok: gpt_core.Tokenizer, token: int) -> str:
    """A token for Markdown (page text, pills): every Markdown and LaTeX sign escaped, so it reads as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", token_text(tok, token))


def how(step) -> str:
    """How a kept step was chosen, in words from the page text."""
    if step.how == PICKED:
        return section(PAGE, "how_picked")
    if step.how == GREEDY:
        return section(PAGE, "how_greedy")
    s = step.settings
    return text("how_sampled", u=step.u, temperature=s.temperature, top_k=s.top_k or labels()["off"],
                                               top_p=s.top_p or 1.0, seed=s.seed)


def token_titles(tl: Timeline) -> list[str]:
    """Hover text of every generated token of the branch shown."""
    t = labels()["token_title"]
    return [t.format(i=s.index + 1, rank=s.rank, prob=s.prob, how=s.how) for s in tl.steps]


def origin(tl: Timeline, i: int) -> str:
    b, lab = tl.branches[i], labels()
    return lab["first_branch"] if b.parent is None else lab["split"].format(parent=b.parent + 1, fork=b.fork + 1)


def branch_label(tl: Timeline, i: int) -> str:
    return labels()["branch_label"].format(i=i + 1, origin=origin(tl, i), n=len(tl.branches[i].steps))


def branch_rows(tl: Timeline, tok: gpt_core.Tokenizer) -> list[dict]:
    lab = labels()
    return [
        {lab["col_branch"]: i + 1, lab["col_split"]: origin(tl, i), lab["col_tokens"]: len(b.steps),
         lab["col_text"]: tok.decode(b.tokens), lab["col_shown"]: "◀" if i == tl.current else ""}
        for i, b in enumerate(tl.branches)
    ]


def lens_rows_tokens(lens: Lens, tok: gpt_core.Tokenizer) -> list[list[str]]:
    return [[token_label(tok, t) for t in row] for row in lens.top_ids.tolist()]
