"""Text boxes that keep at most a number of characters and say so, instead of refusing a long paste in silence.

Streamlit's ``max_chars`` makes the browser ignore any edit that would go over the limit: a pasted play of
150,000 characters leaves the box as it was, with no message. A box made with ``capped`` takes any paste,
keeps its first ``limit`` characters (in the server, so a client that skips the browser is held to it too)
and ``notice`` tells the user what happened.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.text import label


def _cut_key(key: str) -> str:
    return f"{key}.cut_from"


def capped(key: str, limit: int) -> Callable[[], None]:
    """An ``on_change`` callback for the text box ``key``: cut its text to ``limit`` characters, remember the length."""

    def cut() -> None:
        text = st.session_state.get(key)
        if isinstance(text, str) and len(text) > limit:
            st.session_state[key] = text[:limit]
            st.session_state[_cut_key(key)] = len(text)
        else:
            st.session_state.pop(_cut_key(key), None)

    return cut


def notice(key: str, limit: int, where=st) -> None:
    """Say, under the box, that the text in ``key`` was cut, while it still is the cut text (a reset ends it)."""
    n = st.session_state.get(_cut_key(key))
    text = st.session_state.get(key)
    if n and not (isinstance(text, str) and len(text) == limit):
        st.session_state.pop(_cut_key(key), None)
    elif n:
        where.warning(label("common", "text_cut", chars=f"{n:,}", cap=f"{limit:,}"), icon=":material/content_cut:")
