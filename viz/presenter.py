"""Presenter mode's look: the page style for a projector, the step bar's stepper, and larger chart fonts.

Pure: strings and figures in, escaped HTML, static CSS and new figures out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

# For the back row of a classroom: every rem-sized text grows by a quarter, token chips and the
# tokenizer lab's chips grow more, captions (the fine print) go, and the step bar stands out.
CSS = """<style>
html{font-size:20px}
[data-testid="stMain"] [data-testid="stMainBlockContainer"]{padding-top:4.5rem}
[data-testid="stMain"] [data-testid="stCaptionContainer"]{display:none}
.token-chips{font-size:1.6rem!important;line-height:2.3!important}
.tl-chips,.tl-pair{font-size:1.45rem!important}
[data-testid="stMetricValue"]{font-size:2.4rem}
.st-key-presenter_bar{background:rgba(0,114,178,0.09);border:1px solid rgba(0,114,178,0.35);
  border-left:6px solid #0072B2;border-radius:10px;padding:0.7rem 1rem 1rem 1rem;margin-bottom:0.6rem}
.st-key-presenter_bar [data-testid="stMarkdownContainer"] p{font-size:1.3rem;line-height:1.5;margin:0}
.st-key-presenter_bar .stButton button{min-height:3.2rem}
.st-key-presenter_bar .stButton button p{font-size:1.2rem}
.pr-steps{display:flex;flex-wrap:wrap;align-items:center;gap:0.35rem 0.5rem;font-size:1rem}
.pr-where{font-weight:700;color:#0072B2;margin-right:0.6rem;white-space:nowrap}
.pr-step{padding:0.15rem 0.65rem;border-radius:999px;border:2px solid rgba(128,128,128,0.45);opacity:0.75;
  white-space:nowrap}
.pr-step.done{border-color:#0072B2;opacity:0.9}
.pr-step.now{background:#0072B2;border-color:#0072B2;color:#fff;opacity:1;font-weight:700}
</style>"""

# Predict first: the hidden choice's panel, outlined like the dashed "?" that marks the next token's place.
GUESS_CSS = """<style>
.st-key-presenter_guess{border:2px dashed #E69F00;border-radius:10px;padding:0.8rem 1rem;
  background:rgba(230,159,0,0.08)}
</style>"""

SCALE = 1.5  # chart fonts: Streamlit's 12 px chart labels become 18 px
# Sizes Streamlit's chart theme uses where a figure sets none: ticks, axis titles, titles.
TICK, AXIS_TITLE, TITLE = 12, 14, 16


def stepper_html(names: Sequence[str], current: int, where: str) -> str:
    """The story's steps in a row, those before ``current`` marked done and ``current`` highlighted.

    ``where`` ("Step 3 of 5") leads the row; every string is escaped.
    """
    if not 0 <= current < len(names):
        raise ValueError(f"Step {current} is not one of the {len(names)} steps.")
    parts = [f'<span class="pr-where">{html.escape(where)}</span>']
    for i, name in enumerate(names):
        state = "now" if i == current else "done" if i < current else "todo"
        aria = ' aria-current="step"' if i == current else ""
        parts.append(f'<span class="pr-step {state}"{aria}>{i + 1}. {html.escape(name)}</span>')
    return f'<div class="pr-steps" role="list">{"".join(parts)}</div>'


def _bigger(size: float | None, default: int, scale: float) -> int:
    if size is None:
        return round(default * scale)
    return round(size * (scale if size >= TICK else 1 + (scale - 1) / 2))  # a dense figure's small labels grow less


def enlarge(fig: go.Figure, scale: float = SCALE) -> go.Figure:
    """A copy of ``fig`` with every font larger (ticks, axis and chart titles, legend, hover, annotations,
    colour bars, text on the marks) and a little more height for them; ``fig`` itself is left as it was.

    Sizes the figure set below 12 px (dense labels, one per row of a heatmap) grow half as much, so
    that neighbouring labels still fit.
    """
    out = go.Figure(fig)
    lay = out.layout
    lay.font.size = _bigger(lay.font.size, TICK, scale)
    lay.title.font.size = _bigger(lay.title.font.size, TITLE, scale)
    lay.legend.font.size = _bigger(lay.legend.font.size, TICK, scale)
    lay.hoverlabel.font.size = _bigger(lay.hoverlabel.font.size, TICK, scale)

    def axis(ax) -> None:
        ax.tickfont.size = _bigger(ax.tickfont.size, TICK, scale)
        ax.title.font.size = _bigger(ax.title.font.size, AXIS_TITLE, scale)

    out.for_each_xaxis(axis)
    out.for_each_yaxis(axis)
    for note in lay.annotations:
        note.font.size = _bigger(note.font.size, TICK, scale)
    for trace in out.data:
        if "colorbar" in trace:
            trace.colorbar.tickfont.size = _bigger(trace.colorbar.tickfont.size, TICK, scale)
            trace.colorbar.title.font.size = _bigger(trace.colorbar.title.font.size, AXIS_TITLE, scale)
        if "textfont" in trace and trace.textfont.size is not None and not isinstance(trace.textfont.size, tuple):
            trace.textfont.size = _bigger(trace.textfont.size, TICK, scale)
    if lay.height:
        lay.height = round(lay.height * (1 + (scale - 1) / 2))
    if lay.margin.t:
        lay.margin.t = round(lay.margin.t * scale)
    return out
