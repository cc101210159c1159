"""Every chart and small table of the app goes through here, so each one can be exported and read without sight.

- The chart toolbar's camera button saves the chart at slide size (1920 × 1080 pixels) as PNG or SVG,
  whichever the sidebar's "Chart images" picker says (Plotly's toolbar offers one format per chart).
- Each chart carries a one-sentence summary with its own numbers as its accessible name (``alt``), which
  screen readers announce; callers pass a better one where they have it (``viz.a11y``).
- ``table=True`` adds a "Show as table" expander with the numbers behind the chart (an ``st.dataframe``:
  keyboard-navigable, searchable, downloadable as CSV).
- ``table()`` draws a small static table with a CSV download beside it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import presenter
from ui.text import labels, lang
from viz import a11y

# Laid out at 960 × 540 and drawn at twice the scale: 1920 × 1080 pixels, with text large enough for a projector.
SLIDE = {"width": 960, "height": 540, "scale": 2}
FORMATS = ("png", "svg")
FORMAT_KEY = "charts.format"
CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": FORMATS[0], **SLIDE}}


def image_format() -> str:
    """The format the chart toolbars save: the sidebar's choice, PNG until one is made."""
    value = st.session_state.get(FORMAT_KEY)
    return value if value in FORMATS else FORMATS[0]


def config(name: str) -> dict:
    """Plotly config for one chart: slide-sized download named ``name`` in the chosen format, no Plotly logo."""
    return CONFIG | {"toImageButtonOptions": CONFIG["toImageButtonOptions"] | {"format": image_format(),
                                                                                "filename": name}}


def file_name(key: str) -> str:
    """A download name from a widget key: "attention.pattern" -> "attention_pattern"."""
    return "".join(c if c.isalnum() else "_" for c in key).strip("_") or "chart"


def show(where, fig, *, key: str, name: str | None = None, alt: str | None = None, table=None, **kwargs):
    """Draw ``fig`` in ``where`` (``st`` or a column), exportable and described; returns what plotly_chart returns.

    ``name``: the download's file name (from ``key`` if not given). ``alt``: the sentence a screen reader
    reads (a summary of the figure's own data if not given). ``table``: True for the figure's numbers as a
    table under it, or rows (list of dicts, DataFrame) to show instead.
    """
    language = lang()
    out = where.plotly_chart(presenter.chart(fig), key=key, config=config(name or file_name(key)),
                             alt=alt or a11y.figure_summary(fig, language), **kwargs)
    if table is not None and table is not False and not presenter.on():  # not on a projector
        lab = labels("charts")
        # Built only while open (opening reruns the page or fragment): most readers never open most
        # tables, and a class of thirty would otherwise pay for every one on every page.
        box = where.expander(lab["show_table"], icon=":material/table:", key=table_key(key), on_change="rerun")
        if box.open:
            frame = pd.DataFrame(a11y.figure_table(fig, language) if table is True else table)
            # A heat map's empty cells are the ones the causal mask removes: a dash, said so, not "None".
            masked = table is True and bool(frame.isna().to_numpy().any()) and a11y.is_heatmap(fig)
            with box:
                st.caption(lab["table_help"] + (" " + lab["masked_help"] if masked else ""))
                st.dataframe(frame, hide_index=True, width="stretch", placeholder="—" if masked else None)
    return out


def table_key(chart_key: str) -> str:
    """The session-state key of the "Show as table" box under the chart drawn with ``chart_key``."""
    return f"{chart_key}.table"


def to_csv(rows) -> str:
    return pd.DataFrame(rows).to_csv(index=False)


def table(where, rows, *, name: str, key: str) -> None:
    """A small static table (``st.table``) with a CSV download of the same rows under it."""
    where.table(rows, hide_index=True)
    where.download_button(labels("charts")["download_csv"], data=lambda: to_csv(rows), file_name=f"{name}.csv",
                          mime="text/csv", on_click="ignore", key=key, icon=":material/download:", type="tertiary")


def format_picker() -> None:
    """The sidebar's choice of format for every chart toolbar's download (PNG or SVG)."""
    lab = labels("charts")
    st.radio(lab["format"], FORMATS, key=FORMAT_KEY, format_func=str.upper, horizontal=True, help=lab["format_help"])
