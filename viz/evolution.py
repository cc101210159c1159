"""Figures and table rows of the Evolution page: GPT-1, GPT-2 and GPT-3 side by side."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .catalog import FALLBACK, words

# Families by name; "this app" is the loaded model (shown as the words' "this_app")
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


def family_name(family: str, lang: str = FALLBACK) -> str:
    """A family as shown: "GPT-2" as it is, "this app" in ``lang``."""
    return words("evolution", lang)["this_app"] if family == "this app" else family


def _preset_text(kind: str, name: str, english: str, lang: str) -> str:
    """A preset's note, training data or tokenizer in ``lang`` (figures.<lang>.md, "presets"); else as recorded."""
    return words("presets", lang).get(f"{kind}.{name}", english) if english else english


def table_rows(rows, lang: str = FALLBACK) -> list[dict]:
    """One row per model: its shape, and the parameter count computed here beside the published figure."""
    out, w = [], words("evolution", lang)
    for r in rows:
        ref = r.reference
        match = w["yes"] if ref.matches(r.counted) else w["no"].format(figure=ref.round_like(r.counted),
                                                                         diff=f"{r.difference:+.1%}")
        out.append({
            w["col_model"]: r.name,
            w["col_layers"]: r.n_layer,
            w["col_d_model"]: f"{r.n_embd:,}",
            w["col_heads"]: r.n_head,
            w["col_context"]: f"{r.block_size:,}",
            w["col_vocabulary"]: f"{r.vocab_size:,}",
            w["col_paper"]: r.paper.text,
            w["col_corrected"]: r.corrected.text if r.corrected else "",
            w["col_counted"]: f"{r.counted:,}",
            w["col_matches"]: match,
            w["col_note"]: _preset_text("note", r.name, r.note, lang),
        })
    return out


def family_rows(rows, lang: str = FALLBACK) -> list[dict]:
    """One row per family: what it was trained on, its tokenizer and the paper, as the presets record them."""
    seen: dict[str, dict] = {}
    w = words("evolution", lang)
    for r in rows:
        seen.setdefault(r.family, {w["col_family"]: r.family,
                                   w["col_tokenizer"]: _preset_text("tokenizer", r.family, r.tokenizer, lang),
                                   w["col_data"]: _preset_text("data", r.family, r.training_data, lang),
                                   w["col_source"]: r.source})
    return list(seen.values())


def scale_figure(names: Sequence[str], families: Sequence[str], params: Sequence[int],
                 flops: Sequence[int], lang: str = FALLBACK) -> go.Figure:
    """Parameters and FLOPs per generated token, side by side on log scales, one bar per model."""
    _same_length(names=names, families=families, params=params, flops=flops)
    colours, w = [FAMILY_COLOURS.get(f, OTHER) for f in families], words("evolution", lang)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=(w["title_params"], w["title_flops"]))
    for col, values, hover in ((1, params, "hover_params"), (2, flops, "hover_flops")):
        fig.add_trace(go.Bar(
            x=list(values), y=list(names), orientation="h", marker_color=colours, showlegend=False,
            text=[short(v) for v in values], textposition="outside", cliponaxis=False,
            hovertemplate=w[hover] + "<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(type="log", row=1, col=col)
    for family, colour in FAMILY_COLOURS.items():
        if family in families:  # legend only: one invisible marker per family
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker=dict(color=colour, size=10),
                                     name=family_name(family, lang)), row=1, col=1)
    fig.update_layout(height=140 + 26 * len(names), margin=dict(l=10, r=50, t=40, b=10),
                      yaxis=dict(autorange="reversed"), legend=dict(orientation="h", y=-0.08))
    return fig


def norm_figure(resid: Sequence[float], normalized: Sequence[float], lang: str = FALLBACK) -> go.Figure:
    """Mean vector length of the residual stream entering each block, against what the block reads after ln_1."""
    if len(resid) != len(normalized) + 1:
        raise ValueError(f"Expected one more residual norm than normalized ones, got {len(resid)} and "
                         f"{len(normalized)}.")
    w = words("evolution", lang)
    layers = [w["into_block"].format(i=i + 1) for i in range(len(normalized))] + [w["out_of_last"]]
    fig = go.Figure([
        go.Scatter(x=layers, y=list(resid), mode="lines+markers", name=w["residual_line"],
                   line=dict(color="#D55E00"), hovertemplate=w["hover_residual"]),
        go.Scatter(x=layers[:-1], y=list(normalized), mode="lines+markers", name=w["read_line"],
                   line=dict(color="#0072B2"), hovertemplate=w["hover_read"]),
    ])
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.12),
                      yaxis=dict(title=w["mean_length"], rangemode="tozero"))
    return fig


def context_figure(names: Sequence[str], contexts: Sequence[int], families: Sequence[str],
                   text_tokens: int | None, lang: str = FALLBACK) -> go.Figure:
    """Context windows as bars, with a line at the length of the user's text in GPT-2's tokens."""
    _same_length(names=names, contexts=contexts, families=families)
    colours, w = [FAMILY_COLOURS.get(f, OTHER) for f in families], words("evolution", lang)
    fig = go.Figure(go.Bar(x=list(names), y=list(contexts), marker_color=colours,
                           text=[f"{c:,}" for c in contexts], textposition="outside", cliponaxis=False,
                           hovertemplate=w["hover_context"] + "<extra></extra>"))
    if text_tokens:
        fig.add_hline(y=text_tokens, line=dict(color="#888888", dash="dash"),  # grey reads on light and dark themes
                      annotation_text=w["your_text"].format(n=text_tokens), annotation_position="top left")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=20, b=10), yaxis=dict(title=w["context_axis"]))
    return fig
