"""The model's most likely next tokens as a horizontal bar chart."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from .catalog import FALLBACK, words
from .tokens import visible


def _percent(p: float) -> str:
    return f"{p:.1%}" if p >= 0.01 else f"{p:.2%}"


def _label(token: str, raw: bytes | None, w: dict[str, str]) -> str:
    """The token as shown on the axis; a token that is only part of a UTF-8 character also shows its bytes."""
    if raw is not None and "\ufffd" in token:
        return w["bytes"].format(token=visible(token), bytes=raw.hex(" "))
    return visible(token)


def top_k_bars(
    tokens: Sequence[str], probs: Sequence[float], ids: Sequence[int] | None = None,
    raw: Sequence[bytes] | None = None, lang: str = FALLBACK,
) -> go.Figure:
    """Bars for candidate next tokens, most likely on top, labelled with their probability.

    ``ids`` go into the hover text; ``raw`` (each token's bytes) labels partial characters.
    """
    if not tokens:
        raise ValueError("top_k_bars needs at least one candidate token.")
    if len(tokens) != len(probs) or any(x is not None and len(x) != len(tokens) for x in (ids, raw)):
        raise ValueError(f"top_k_bars needs one probability (and id, and byte string) per token; got "
                         f"{len(tokens)} tokens, {len(probs)} probabilities.")
    if any(not 0 <= p <= 1 for p in probs):
        raise ValueError("Probabilities must lie between 0 and 1.")
    order, w = sorted(range(len(tokens)), key=lambda i: -probs[i]), words("predictions", lang)
    labels = [html.escape(f"{rank}. {_label(tokens[i], raw[i] if raw else None, w)}")
              for rank, i in enumerate(order, 1)]
    values = [round(float(probs[i]), 4) for i in order]
    hover = [w["token_id"].format(id=ids[i]) if ids is not None else "" for i in order]
    digits = 0 if values[0] >= 0.05 else 1 if values[0] >= 0.005 else 2  # so small ticks do not all read 0%
    fig = go.Figure(
        go.Bar(
            x=values, y=labels, orientation="h", text=[_percent(v) for v in values], textposition="outside",
            customdata=hover, hovertemplate=w["hover"] + "<extra></extra>",
            marker_color="#0072B2", cliponaxis=False,
        )
    )
    fig.update_layout(
        height=90 + 30 * len(labels), margin=dict(l=10, r=40, t=10, b=10),
        xaxis=dict(title=w["x_title"], tickformat=f".{digits}%", range=[0, max(values) * 1.2 or 1]),
        yaxis=dict(autorange="reversed", tickfont=dict(family="monospace")),
    )
    return fig
