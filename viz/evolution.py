"""Figures and table rows of the Evolution page: GPT-1, GPT-2 and GPT-3 side by side."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

FAMILY_COLOURS = {"GPT-1": "#E69F00", "GPT-2": "#0072B2", "GPT-3": "#009E73", "this app": "#D55E00"}
OTHER = "#999999"


def _same_length(**named: Sequence) -> int:
    lengths = {k: len(v) for k, v in named.items()}
    if len(set(lengths.values())) != 1:
        sizes = ", ".join(f"{k} ({n})" for k, n in lengths.items())
        raise ValueError(f"These lists must have the same length: {sizes}.")
    return next(iter(lengths.values()))


def short(n: float) -> str:
    """124,439,808 -> "124M"; 2.65e9 -> "2.65B"; 3.4e11 -> "340B" (three significant figures)."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.3g}"


def nbytes(n: float) -> str:
    """Bytes in decimal units: 73,728 -> "73.7 KB"; 497,759,232 -> "498 MB"; 6.23e9 -> "6.23 GB"."""
    for size, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def table_rows(rows) -> list[dict]:
    """One row per model: its shape, and the parameter count computed here beside the published figure."""
    out = []
    for r in rows:
        ref = r.reference
        match = "yes" if ref.matches(r.counted) else f"no: {ref.round_like(r.counted)} ({r.difference:+.1%})"
        out.append({
            "model": r.name,
            "layers": r.n_layer,
            "d_model": f"{r.n_embd:,}",
            "heads": r.n_head,
            "context": f"{r.block_size:,}",
            "vocabulary": f"{r.vocab_size:,}",
            "paper": r.paper.text,
            "corrected": r.corrected.text if r.corrected else "",
            "counted here": f"{r.counted:,}",
            "matches when rounded": match,
            "note": r.note,
        })
    return out


def family_rows(rows) -> list[dict]:
    """One row per family: what it was trained on, its tokenizer and the paper, as the presets record them."""
    seen: dict[str, dict] = {}
    for r in rows:
        seen.setdefault(r.family, {"family": r.family, "tokenizer": r.tokenizer, "training data": r.training_data,
                                   "paper": r.source})
    return list(seen.values())


def scale_figure(names: Sequence[str], families: Sequence[str], params: Sequence[int],
                 flops: Sequence[int]) -> go.Figure:
    """Parameters and FLOPs per generated token, side by side on log scales, one bar per model."""
    _same_length(names=names, families=families, params=params, flops=flops)
    colours = [FAMILY_COLOURS.get(f, OTHER) for f in families]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("parameters", "FLOPs per generated token (full context)"))
    for col, values, unit in ((1, params, "parameters"), (2, flops, "FLOPs")):
        fig.add_trace(go.Bar(
            x=list(values), y=list(names), orientation="h", marker_color=colours, showlegend=False,
            text=[short(v) for v in values], textposition="outside", cliponaxis=False,
            hovertemplate="%{y}: %{x:,} " + unit + "<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(type="log", row=1, col=col)
    for family, colour in FAMILY_COLOURS.items():
        if family in families:  # legend only: one invisible marker per family
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker=dict(color=colour, size=10),
                                     name=family), row=1, col=1)
    fig.update_layout(height=140 + 26 * len(names), margin=dict(l=10, r=50, t=40, b=10),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=-0.08))
    return fig


def norm_figure(resid: Sequence[float], normalized: Sequence[float]) -> go.Figure:
    """Mean vector length of the residual stream entering each block, against what the block reads after ln_1."""
    if len(resid) != len(normalized) + 1:
        raise ValueError(f"Expected one more residual norm than normalized ones, got {len(resid)} and "
                         f"{len(normalized)}.")
    layers = [f"into block {i + 1}" for i in range(len(normalized))] + ["out of the last block"]
    fig = go.Figure([
        go.Scatter(x=layers, y=list(resid), mode="lines+markers", name="residual stream x (not normalised)",
                   line=dict(color="#D55E00"), hovertemplate="%{x}: %{y:.2f}<extra>residual</extra>"),
        go.Scatter(x=layers[:-1], y=list(normalized), mode="lines+markers", name="what the block reads: ln_1(x)",
                   line=dict(color="#0072B2"), hovertemplate="%{x}: %{y:.2f}<extra>ln_1(x)</extra>"),
    ])
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.12),
                      yaxis=dict(title="mean length ‖x‖", rangemode="tozero"))
    return fig


def context_figure(names: Sequence[str], contexts: Sequence[int], families: Sequence[str],
                   text_tokens: int | None) -> go.Figure:
    """Context windows as bars, with a line at the length of the user's text in GPT-2's tokens."""
    _same_length(names=names, contexts=contexts, families=families)
    colours = [FAMILY_COLOURS.get(f, OTHER) for f in families]
    fig = go.Figure(go.Bar(x=list(names), y=list(contexts), marker_color=colours,
                           text=[f"{c:,}" for c in contexts], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: %{y:,} tokens<extra></extra>"))
    if text_tokens:
        fig.add_hline(y=text_tokens, line=dict(color="#000000", dash="dash"),
                      annotation_text=f"your text: {text_tokens:,} tokens", annotation_position="top left")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=20, b=10), yaxis=dict(title="tokens read at once"))
    return fig
