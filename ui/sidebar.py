"""The sidebar every page shares: the prompt, the model picker and what the model is."""

from __future__ import annotations

import streamlit as st

from ui import describe, models, state


def draw() -> None:
    """Draw the shared sidebar. The prompt lives in ``st.session_state["prompt"]``."""
    st.session_state.setdefault("prompt", state.DEFAULT_PROMPT)
    st.session_state.setdefault("model", state.active_model())
    with st.sidebar:
        st.text_area(
            "Your text", key="prompt", height=140, max_chars=100_000,
            help="Every page shows what the model does with this text. Press Ctrl+Enter to apply.",
        )
        models.announce_loading()  # a large model's first load: memory check and progress
        b = state.load_active()  # before the picker: a failed load resets its value
        st.selectbox(
            "Model", list(state.MODELS), key="model", format_func=models.picker_label,
            on_change=state.on_model_change,
        )
        notice = st.session_state.get("model.notice")
        if notice:
            kind, message = notice
            (st.info if kind == "info" else st.error)(message)
        if b is not None:
            st.caption(describe.summary(b) + "  \n" + models.memory_line(b))
        models.weights_panel()
