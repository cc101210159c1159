"""The session's language: English or Simplified Chinese, chosen in the sidebar.

``st.session_state["lang"]`` holds "en" or "zh". A value already there (set by the language picker, or
from the page address before this runs) is never overwritten; otherwise the browser's language decides.
"""

from __future__ import annotations

import streamlit as st

from ui.text import FALLBACK, LANGS, label

KEY = "lang"


def from_locale(locale: str | None) -> str:
    """ "zh-CN", "zh-TW", "zh" -> "zh"; anything else (or nothing) -> "en"."""
    return "zh" if isinstance(locale, str) and locale.strip().lower().startswith("zh") else FALLBACK


def init() -> None:
    """Once per run, before anything is drawn: start a new session in the browser's language."""
    if st.session_state.get(KEY) not in LANGS:
        try:
            locale = st.context.locale
        except Exception:  # no browser context (bare mode, some test runners): English
            locale = None
        st.session_state[KEY] = from_locale(locale)


def keep_choices() -> None:
    """Picker callback: keep every widget's choice across the switch.

    The browser sends a select box's (or radio's) choice back as its shown label, so after a switch
    the label of the old language matches no option and Streamlit would reset the widget. Setting each
    value again here makes Streamlit send the label in the new language instead. Only plain values are
    set: buttons (bools) and chart selections (dicts) cannot be set, and need no help.
    """
    for key in list(st.session_state):
        value = st.session_state[key]
        values = value if isinstance(value, tuple | list) else (value,)
        if key != KEY and values and all(isinstance(v, int | float | str) and not isinstance(v, bool) for v in values):
            st.session_state[key] = value


def selector() -> None:
    """The language picker at the top of the sidebar; switching redraws every page in that language."""
    names = {code: label("common", f"lang_{code}") for code in LANGS}
    st.segmented_control(label("common", "language"), LANGS, key=KEY, format_func=names.get, required=True,
                         label_visibility="collapsed", width="stretch", on_change=keep_choices,
                         persist_state="session")  # st.switch_page too
