"""Pieces of the Embeddings page: its widget keys, the cached per-model and per-prompt data, and the shared
controls (which positions, which dimensions) and CSV download buttons.

Streamlit glue only: the numbers come from gpt_core.embeddings, the figures and CSV text from viz.embeddings.
"""

from __future__ import annotations

import streamlit as st

from gpt_core import embeddings as emb
from ui import presenter, state
from ui import text as ui_text
from ui.text import section
from viz.attention import WINDOW, window_start

PAGE = "embeddings"
MAX_DIMS = 128  # dimensions one heatmap shows at a time


def key(name: str) -> str:
    return state.widget_key(PAGE, name)


def label(name: str, **values) -> str:
    """One short string of the page's "labels" section."""
    return ui_text.label(PAGE, name, **values)


def vocabulary_index(src: str) -> emb.EmbeddingIndex:
    """Cosine search over every token embedding of model ``src``; built once per model, read-only."""
    with st.spinner(label("indexing")):
        return _vocabulary_index(src)


@st.cache_resource(max_entries=2, show_spinner=False)
def _vocabulary_index(src: str) -> emb.EmbeddingIndex:
    b = state.load_bundle(src)
    return emb.EmbeddingIndex.for_model(b.model, b.tokenizer)


@st.cache_resource(max_entries=2, show_spinner=False)
def position_pca(src: str) -> emb.Projection:
    """The first three principal components of model ``src``'s position embeddings; once per model."""
    return emb.position_components(state.load_bundle(src).model, 3)


@st.cache_data(max_entries=8, show_spinner=False)
def residual(src: str, text: str) -> emb.ResidualNorms:
    """Residual-stream norms of the forward pass of model ``src`` over ``text``; once per prompt."""
    return emb.residual_norms(state.prompt_run(src, text).cache)


def window(name: str, n_tokens: int) -> tuple[int, int]:
    """Positions a view shows: all of them, or WINDOW at a time chosen with a slider."""
    if n_tokens <= WINDOW:
        return 0, n_tokens
    last = window_start(n_tokens)
    start = st.slider(label("window"), 0, last, last, key=key(name))
    st.caption(section(PAGE, "window").format(t=n_tokens, n=WINDOW))
    return start, start + WINDOW


def dims(name: str, d: int) -> tuple[int, int]:
    """The dimensions a view shows: how many, and from which one (kept inside the d_model dimensions)."""
    choices = [n for n in (8, 16, 32, 64, MAX_DIMS) if n < d] + ([d] if d <= MAX_DIMS else [])
    left, right = st.columns(2)
    n = left.select_slider(label("dims_shown"), choices, value=min(32, choices[-1]), key=key(name + ".n"))
    first = right.slider(label("dims_first"), 0, d - choices[0], 0, key=key(name + ".first")) if d > n else 0
    first = min(first, d - n)
    return first, first + n


def csv_buttons(items: list[tuple[str, str, str]]) -> None:
    """One download button per (label, CSV text, file name), in a row (none in presenter mode: a class does not
    download)."""
    if presenter.on():
        return
    st.caption(section(PAGE, "export"))
    for col, (label, data, name) in zip(st.columns(len(items)), items, strict=True):
        col.download_button(label, data, file_name=f"{name}.csv", mime="text/csv", on_click="ignore",
                            icon=":material/download:", key=key(f"csv.{name}"))
