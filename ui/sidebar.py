"""The sidebar every page shares: the language, the prompt, the model picker and what the model is."""

from __future__ import annotations

import streamlit as st

from ui import charts, describe, lang, models, state, textbox
from ui.text import label

MAX_CHARS = 100_000  # of the prompt (half a play); the model reads at most its context of it anyway


def draw() -> None:
    """Draw the shared sidebar. The prompt lives in ``st.session_state["prompt"]``."""
    st.session_state.setdefault("prompt", state.DEFAULT_PROMPT)
    st.session_state.setdefault("model", state.active_model())
    with st.sidebar:
        lang.selector()
        # no max_chars: the browser would ignore a longer paste in silence; the callback cuts it and says so
        st.text_area(label("common", "prompt"), key="prompt", height=140, on_change=textbox.capped("prompt", MAX_CHARS),
                     help=label("common", "prompt_help"), persist_state="session")  # kept by st.switch_page too
        textbox.notice("prompt", MAX_CHARS)
        models.announce_loading()  # a large model's first load: memory check and progress
        b = state.load_active()  # before the picker: a failed load resets its value
        st.selectbox(
            label("common", "model"), state.MODELS, key="model",
            format_func={name: models.picker_label(name) for name in state.MODELS}.get,  # this run's language
            on_change=state.on_model_change,
        )
        notice = state.notice()
        if notice:
            kind, message = notice
            (st.info if kind == "info" else st.error)(message)
        if b is not None:
            st.caption(describe.summary(b) + "  \n" + models.memory_line(b))
        models.weights_panel()
        charts.format_picker()  # PNG or SVG from every chart's toolbar
