"""The model's most likely next tokens as a horizontal bar chart."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from .tokens import visible


def top_k_bars(tokens: Sequence[str], probs: Sequence[float], ids: Sequence[int] | None = None) -> go.Figure:
    """Bars for candidate next tokens, most likely on top, labelled with their probability."""
    if not tokens:
        raise ValueError("top_k_bars needs at least one candidate token.")
    if len(tokens) != len(probs) or (ids is not None and len(ids) != len(tokens)):
        raise ValueError(f"top_k_bars needs one probability (and id) per token; got {len(tokens)} tokens, "
                         f"{len(probs)} probabilities.")
    if any(not 0 <= p <= 1 for p in probs):
        raise ValueError("Probabilities must lie between 0 and 1.")
    order = sorted(range(len(tokens)), key=lambda i: -probs[i])
    labels = [html.escape(f"{rank}. {visible(tokens[i])}") for rank, i in enumerate(order, 1)]
    values = [round(float(probs[i]), 4) for i in order]
    hover = [f"token id {ids[i]}" if ids is not None else "" for i in order]
    fig = go.Figure(
        go.Bar(
            x=values, y=labels, orientation="h", text=[f"{v:.1%}" for v in values], textposition="outside",
            customdata=hover, hovertemplate="%{y}<br>probability %{x:.2%}<br>%{customdata}<extra></extra>",
            marker_color="#0072B2", cliponaxis=False,
        )
    )
    fig.update_layout(
        height=90 + 30 * len(labels), margin=dict(l=10, r=40, t=10, b=10),
        xaxis=dict(title="probability", tickformat=".0%", range=[0, max(values) * 1.2 or 1]),
        yaxis=dict(autorange="reversed", tickfont=dict(family="monospace")),
    )
    return fig
