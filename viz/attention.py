"""The attention pattern of one head as a heatmap: queries down, keys across."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .catalog import FALLBACK, words
from .tokens import axis_labels

WINDOW = 64  # most positions one heatmap shows before labels stop being legible


def window_start(n_tokens: int, size: int = WINDOW) -> int:
    """Where a window of ``size`` positions ending at the last token starts."""
    return max(0, n_tokens - size)


def masked_pattern(pattern, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows and columns start..stop of a (query, key) pattern, future cells set to NaN, rounded."""
    p = np.asarray(pattern, dtype=float)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"An attention pattern is a square (query, key) array; got shape {p.shape}.")
    stop = p.shape[0] if stop is None else stop
    if not 0 <= start < stop <= p.shape[0]:
        raise ValueError(f"Window {start}..{stop} does not fit a pattern of {p.shape[0]} positions.")
    w = p[start:stop, start:stop].round(4)
    w[np.triu_indices_from(w, k=1)] = np.nan  # key after query: removed by the causal mask M
    return w


def attention_heatmap(
    pattern, tokens: Sequence[str], start: int = 0, stop: int | None = None, title: str = "", lang: str = FALLBACK
) -> go.Figure:
    """Heatmap of a (T, T) attention pattern for ``tokens`` (length T), positions start..stop.

    Masked (future) cells are NaN, so they stay blank; the colour scale starts at 0.
    """
    T = np.asarray(pattern).shape[0]
    if len(tokens) != T:
        raise ValueError(f"The pattern covers {T} positions but {len(tokens)} tokens were given.")
    z = masked_pattern(pattern, start, stop)
    labels, w = axis_labels(tokens[start : start + z.shape[0]], start), words("attention", lang)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=labels, y=labels, zmin=0, zmax=float(np.nanmax(z)), colorscale="Viridis",
            hoverongaps=False, colorbar=dict(title=w["weight"]), hovertemplate=w["hover"] + "<extra></extra>",
        )
    )
    side = min(860, 260 + 11 * z.shape[0])
    fig.update_layout(
        title=title, height=side, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(title=w["key_axis"], tickangle=-60, showgrid=False, dtick=1, tickfont=dict(size=10)),
        yaxis=dict(title=w["query_axis"], autorange="reversed", showgrid=False, dtick=1,
                   tickfont=dict(size=10)),
    )
    return fig
