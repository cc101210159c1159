"""Presenter mode: the app set up for a projector, and the story of one prediction walked in five steps.

``st.session_state["present"]`` says whether it is on: the sidebar toggle sets it, and so does a link
(ui/links.py reads ``?present=1`` into it before anything is drawn). Once per run, after the sidebar,
app.py calls ``frame(page)``: the toggle, the larger style, and on the story's pages the step bar
(step k of 5, two sentences, Previous and Next). Pages ask ``on()`` to leave out what a class does not
need, and pass their charts through ``chart(fig)``.

"Predict first" (Generation) hides the model's choice until the presenter reveals it; it works with
presenter mode on or off.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from plotly import graph_objects as go

from ui.text import labels, section
from viz import presenter as vp

KEY = "present"
TEXT = "presenter"
# (step, page path): the story in order, one screen each; the Overview page's chart is the next token.
STEPS = (("tokens", "tokens"), ("embeddings", "embeddings"), ("attention", "attention"),
         ("next_token", "overview"), ("generation", "generation"))
HOME = ("", "home")  # the default page's path is empty
COLLAPSED = "presenter.collapsed"  # the sidebar was folded away when presenter mode came on
REVEALED = "presenter.revealed"  # the choice the presenter revealed
HIDDEN = "?"  # what a metric shows while its value is hidden


def on() -> bool:
    """Whether presenter mode is on in this session."""
    return bool(st.session_state.get(KEY, False))


def chart(fig: go.Figure) -> go.Figure:
    """``fig`` as a page should show it: with larger fonts in presenter mode, else unchanged."""
    return vp.enlarge(fig) if on() else fig


def tucked(name: str):
    """A container for a part of a page that presenter mode folds away: then a closed expander titled with the
    label ``name`` of presenter.<lang>.md, else a plain container."""
    return st.expander(labels(TEXT)[name]) if on() else st.container()


def step_of(page: str) -> int | None:
    """The story step (0..4) that page ``page`` (its path) shows, or None."""
    return next((i for i, (_, path) in enumerate(STEPS) if path == page), None)


def frame(page: str) -> None:
    """The sidebar toggle; in presenter mode, the style and, on the story's pages, the step bar."""
    lab = labels(TEXT)
    with st.sidebar:
        st.toggle(lab["toggle"], key=KEY, help=lab["toggle_help"], persist_state="session")
    if not on():
        if st.session_state.pop(COLLAPSED, False):
            st.set_page_config(initial_sidebar_state="expanded")
        return
    st.html(vp.CSS)
    if not st.session_state.get(COLLAPSED):
        st.session_state[COLLAPSED] = True  # once: the presenter may open the sidebar again to change the text
        st.set_page_config(initial_sidebar_state="collapsed")
    if page in HOME:
        _home_bar(lab)
    elif (k := step_of(page)) is not None:
        _step_bar(lab, k)


def _go(k: int) -> None:
    st.switch_page(f"app_pages/{STEPS[k][1]}.py")


def _exit() -> None:
    st.session_state[KEY] = False


def _home_bar(lab: dict[str, str]) -> None:
    with st.container(key="presenter_bar"):
        text, start = st.columns([6, 1.3], vertical_alignment="center")
        text.markdown(section(TEXT, "home"))
        if start.button(lab["start"], key="presenter.start", type="primary", icon=":material/play_arrow:",
                        shortcut="PageDown", width="stretch"):
            _go(0)


def _step_bar(lab: dict[str, str], k: int) -> None:
    n = len(STEPS)
    names = [lab[f"name_{name}"] for name, _ in STEPS]
    with st.container(key="presenter_bar"):
        steps, back, forward, leave = st.columns([4.6, 1.6, 1.6, 0.9], vertical_alignment="center")
        steps.html(vp.stepper_html(names, k, lab["step_of"].format(k=k + 1, n=n)))
        if back.button(lab["previous"], key="presenter.previous", icon=":material/arrow_back:", shortcut="PageUp",
                       disabled=k == 0, width="stretch"):
            _go(k - 1)
        if forward.button(lab["next"], key="presenter.next", type="primary", icon=":material/arrow_forward:",
                          icon_position="right", shortcut="PageDown", disabled=k == n - 1, width="stretch"):
            _go(k + 1)
        leave.button(lab["exit"], key="presenter.exit", on_click=_exit, type="tertiary", icon=":material/close:",
                     help=lab["exit_help"], width="stretch")
        st.markdown(section(TEXT, f"step_{STEPS[k][0]}"))


# --- predict first (Generation) ----------------------------------------------------------------------
def predict_toggle(where, key: str) -> bool:
    """The "Predict first" toggle in container ``where``; its value outlives a visit to another page."""
    lab = labels(TEXT)
    return where.toggle(lab["predict"], key=key, help=lab["predict_help"], persist_state="session")


def hidden(predict: bool, choice: Any) -> bool:
    """Whether to hide ``choice`` (any value that names the step shown): predict first is on and the presenter
    has not revealed it. A reveal lasts until the step shown changes: a new token hides the next choice."""
    if st.session_state.get(REVEALED) != choice:
        st.session_state.pop(REVEALED, None)
    return predict and REVEALED not in st.session_state


def reveal_panel(choice: Any, flag: str) -> None:
    """In place of the hidden choice: what to do, and the Reveal button. A click reveals ``choice`` and sets the
    session key ``flag`` (the page's sign to draw itself whole again). In presenter mode Page Down reveals too."""
    st.html(vp.GUESS_CSS)
    with st.container(key="presenter_guess"):
        text, button = st.columns([5, 1.3], vertical_alignment="center")
        text.markdown(section(TEXT, "predict_hidden"))
        button.button(labels(TEXT)["reveal"], key="presenter.reveal", on_click=_reveal, args=(choice, flag),
                      type="primary", icon=":material/visibility:", width="stretch",
                      shortcut="PageDown" if on() else None)


def _reveal(choice: Any, flag: str) -> None:
    st.session_state[REVEALED] = choice
    st.session_state[flag] = True


def lens_hidden() -> None:
    """What stands where a view that would give the hidden choice away is left out."""
    st.info(section(TEXT, "lens_hidden"), icon=":material/visibility_off:")
