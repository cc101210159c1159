"""Figures of the Generation page: the text being written, one choice, the draw, attention and the lens.

Pure builders: plain numbers and token strings in, a plotly Figure or escaped HTML out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gpt_core.tokenizer import whole_characters

from .catalog import FALLBACK, words
from .tokens import visible

BLUE, ORANGE, GREEN, GREY, PINK = "#0072B2", "#E69F00", "#009E73", "#BBBBBB", "#CC79A7"  # Okabe–Ito
LIGHT_BLUE = "#56B4E9"


LARGE_CONTROLS_CSS = (
    "<style>.stButton button{min-height:3.6rem;padding:0.4rem 0.8rem}"
    ".stButton button p{font-size:1.3rem}[data-testid='stMetricValue']{font-size:2.6rem}</style>"
)


def _pct(p: float) -> str:
    return f"{p:.1%}" if p >= 0.001 or p == 0 else f"{p:.1e}"


def _label(rank: int, token: str) -> str:
    return html.escape(f"{rank}. {visible(token)}")


# --- the text ---------------------------------------------------------------------------------
def _token_span(token: str, cls: str, title: str) -> str:
    body = html.escape(visible(token) if cls != "prompt" else token)
    out = f'<span class="{cls}" title="{html.escape(title, quote=True)}">{body}</span>'
    return out + ("<br>" if cls != "prompt" and token.endswith("\n") else "")


TEXT_CSS = (
    "<style>.gen-text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;line-height:2.0;"
    "white-space:pre-wrap;word-break:break-word;padding:0.6rem 0.8rem;border:1px solid rgba(128,128,128,0.35);"
    "border-radius:8px}"
    ".gen-text .gen{background:rgba(0,114,178,0.18);border-bottom:3px solid #0072B2;border-radius:4px;"
    "padding:1px 2px;margin:0 1px}"
    ".gen-text .gen.odd{background:rgba(86,180,233,0.22);border-bottom-color:#56B4E9}"
    ".gen-text .gen.picked{background:rgba(204,121,167,0.25);border-bottom-color:#CC79A7}"
    ".gen-text .latest{outline:2px solid #E69F00;outline-offset:1px}"
    ".gen-text .ahead{opacity:0.45;border:1px dashed rgba(128,128,128,0.8);border-radius:4px;margin:0 1px}"
    ".gen-text .slid{opacity:0.4;text-decoration:line-through}"
    ".gen-text .next{border:2px dashed #E69F00;border-radius:4px;padding:0 4px;margin-left:2px;font-weight:bold}"
    ".gen-text .part{outline:2px dashed currentColor;outline-offset:-2px}"
    ".gen-text .char{border:1px solid rgba(128,128,128,0.8);border-radius:6px;padding:1px 2px;margin:0 2px}"
    ".gen-text .whole{font-weight:bold;padding:0 3px}"
    "</style>"
)


def text_html(prompt_tokens: Sequence[str] | Sequence[bytes], tokens: Sequence[str] | Sequence[bytes], cursor: int,
              dropped: int = 0,
              titles: Sequence[str] | None = None, picked: Sequence[bool] | None = None,
              next_mark: str = "?", font_rem: float = 1.0, lang: str = FALLBACK) -> str:
    """The prompt, then the generated tokens as marked chips: the first ``cursor`` written, the rest
    (kept further along this branch) faded; ``dropped`` oldest tokens struck out (slid out of the
    context). ``next_mark`` marks where the next token goes (empty string: no mark).

    ``prompt_tokens``: one string per token, or better one ``bytes`` per token, so that a character split
    between tokens (Chinese, emoji with a small vocabulary) is shown as itself (see whole_characters).
    ``tokens`` as ``bytes`` likewise: generated tokens that make one character between them keep a chip
    each (each was a choice of its own), dashed, boxed together with the character they make ("= 我").
    """
    if not 0 <= cursor <= len(tokens):
        raise ValueError(f"cursor {cursor} is outside 0..{len(tokens)}")
    for name, seq in (("titles", titles), ("picked", picked)):
        if seq is not None and len(seq) != len(tokens):
            raise ValueError(f"text_html needs one of {name} per generated token: {len(seq)} for {len(tokens)}")
    parts, w = [], words("generation", lang)
    if all(isinstance(t, bytes) for t in prompt_tokens):
        runs = whole_characters(prompt_tokens)
    else:
        runs = [(i, i + 1, t) for i, t in enumerate(prompt_tokens)]
    for first, stop, piece in runs:
        slid = first < dropped  # some of it has slid out of what the model reads
        where = (w["prompt_token"].format(i=first) if stop == first + 1
                 else w["prompt_tokens"].format(i=first, j=stop - 1))
        parts.append(_token_span(piece, "prompt slid" if slid else "prompt", where + (w["slid"] if slid else "")))
    groups: dict[int, tuple[int, str]] = {}  # first token of a character split between tokens -> (stop, char)
    if tokens and all(isinstance(t, bytes) for t in tokens):
        groups = {first: (stop, piece) for first, stop, piece in whole_characters(tokens) if stop - first > 1}
        tokens = [t.decode("utf-8", errors="replace") for t in tokens]
    in_group = {i for first, (stop, _) in groups.items() for i in range(first, stop)}
    close_at: dict[int, str] = {}  # the last token of a split character -> what closes its box
    for i, tok in enumerate(tokens):
        if i in groups:
            stop, piece = groups[i]
            title = w["generated_char"].format(i=i + 1, j=stop, text=visible(piece))
            parts.append(f'<span class="char" title="{html.escape(title, quote=True)}">')
            close_at[stop - 1] = f'<span class="whole">= {html.escape(visible(piece))}</span></span>'
        cls = "gen" + (" odd" if i % 2 else "") + (" picked" if picked and picked[i] else "")
        if i >= cursor:
            cls = "ahead"
        elif i == cursor - 1:
            cls += " latest"
        if len(prompt_tokens) + i < dropped:
            cls += " slid"
        if i == cursor and next_mark:
            parts.append(f'<span class="next">{html.escape(next_mark)}</span>')
        if i in in_group:
            cls += " part"
        parts.append(_token_span(tok, cls, titles[i] if titles else w["generated_token"].format(i=i + 1)))
        if i in close_at:
            parts.append(close_at.pop(i))
    if cursor == len(tokens) and next_mark:
        parts.append(f'<span class="next">{html.escape(next_mark)}</span>')
    return f'{TEXT_CSS}<div class="gen-text" style="font-size:{font_rem:.2f}rem">{"".join(parts)}</div>'


# --- one choice -------------------------------------------------------------------------------
def candidates_figure(tokens: Sequence[str], ranks: Sequence[int], logits: Sequence[float],
                      probs: Sequence[float], tempered: Sequence[float], final: Sequence[float],
                      kept: Sequence[bool], temperature: float, marked: int | None = None,
                      lang: str = FALLBACK) -> go.Figure:
    """Candidates as bars, before and after temperature; tokens cut by top-k/top-p in grey.

    ``marked``: index (into the lists) of the token the draw lands on, drawn in orange.
    """
    n = len(tokens)
    if n == 0:
        raise ValueError("candidates_figure needs at least one candidate.")
    if any(len(x) != n for x in (ranks, logits, probs, tempered, final, kept)):
        raise ValueError("candidates_figure needs one rank, logit, probability and kept flag per token.")
    labels, w = [_label(r, t) for r, t in zip(ranks, tokens, strict=True)], words("generation", lang)
    after = w["greedy"] if temperature == 0 else w["after"].format(t=f"{temperature:g}")
    colours = [ORANGE if i == marked else (BLUE if kept[i] else GREY) for i in range(n)]
    hover = [
        w["hover_candidate"].format(logit=f"{lg:.3f}", p=_pct(p), t=_pct(t))
        + (w["sampled_from"].format(p=_pct(f)) if kept[i] else w["removed"])
        for i, (lg, p, t, f) in enumerate(zip(logits, probs, tempered, final, strict=True))
    ]
    fig = go.Figure()
    fig.add_bar(x=np.round(probs, 5), y=labels, orientation="h", name=w["model_bar"],
                marker=dict(color="rgba(0,0,0,0)", line=dict(color=LIGHT_BLUE, width=2)),
                customdata=hover, hovertemplate="%{y}<br>%{customdata}<extra></extra>")
    fig.add_bar(x=np.round(tempered, 5), y=labels, orientation="h", name=after, marker_color=colours,
                text=[_pct(t) if kept[i] else w["cut"] for i, t in enumerate(tempered)], textposition="outside",
                customdata=hover, hovertemplate="%{y}<br>%{customdata}<extra></extra>", cliponaxis=False)
    top = max(max(probs), max(tempered)) or 1.0
    fig.update_layout(
        barmode="group", bargap=0.25, height=120 + 34 * n, margin=dict(l=10, r=50, t=10, b=10),
        xaxis=dict(title=w["probability"], tickformat=".0%" if top >= 0.05 else ".1%", range=[0, top * 1.22]),
        yaxis=dict(autorange="reversed", tickfont=dict(family="monospace")),
        showlegend=False,  # the caption under the chart says which bar is which
    )
    return fig


def cut_figure(curve: Sequence[float], n_kept: int, top_p: float | None, top_k: int | None,
               lang: str = FALLBACK) -> go.Figure:
    """Cumulative probability (after temperature) along the ranks, with the top-k and top-p cuts."""
    if not len(curve):
        raise ValueError("cut_figure needs the cumulative probability of at least one rank.")
    ranks, w = np.arange(1, len(curve) + 1), words("generation", lang)
    colours = [BLUE if r <= n_kept else GREY for r in ranks]
    fig = go.Figure(go.Scatter(
        x=ranks, y=np.round(curve, 5), mode="lines+markers", marker=dict(color=colours, size=6),
        line=dict(color=LIGHT_BLUE), hovertemplate=w["hover_cut"] + "<extra></extra>", name=w["cumulative"],
    ))
    if top_p is not None and top_p < 1:
        fig.add_hline(y=top_p, line_dash="dash", line_color=PINK, annotation_text=f"top-p = {top_p:g}",
                      annotation_position="bottom right")
    if top_k:
        fig.add_vline(x=top_k + 0.5, line_dash="dot", line_color=GREEN, annotation_text=f"top-k = {top_k}",
                      annotation_position="top left")
    if n_kept < len(curve):
        fig.add_vline(x=n_kept + 0.5, line_color=ORANGE,
                      annotation_text=w["kept"].format(n=n_kept), annotation_position="bottom left")
    fig.update_layout(
        height=260, margin=dict(l=10, r=10, t=20, b=10), showlegend=False,
        xaxis=dict(title=w["rank"], range=[0.5, len(curve) + 0.5]),
        yaxis=dict(title=w["cumulative"], tickformat=".0%", range=[0, 1.05]),
    )
    return fig


def draw_figure(tokens: Sequence[str | None], starts: Sequence[float], widths: Sequence[float],
                u: float | None, landed: int | None, landed_token: str = "", lang: str = FALLBACK) -> go.Figure:
    """The sampled-from distribution laid end to end on [0, 1], and where the random number u fell.

    One segment per token; a token None is a run of kept tokens merged into one grey segment.
    ``landed``: index of the segment u falls in (orange). u None: no random number (greedy).
    """
    if not (len(tokens) == len(starts) == len(widths)) or not tokens:
        raise ValueError("draw_figure needs one start and width per segment, and at least one segment.")
    w = words("generation", lang)
    names = [w["others"] if t is None else html.escape(visible(t)) for t in tokens]
    colours = [ORANGE if i == landed else GREY if t is None else (BLUE if i % 2 == 0 else LIGHT_BLUE)
               for i, t in enumerate(tokens)]
    x = np.round(widths, 6)
    fig = go.Figure(go.Bar(
        x=x, base=np.round(starts, 6), y=[""] * len(x), orientation="h",
        marker=dict(color=colours, line=dict(color="white", width=1)),
        text=[n if w >= 0.05 and t is not None else "" for n, w, t in zip(names, x, tokens, strict=True)],
        textposition="inside", insidetextanchor="middle",
        customdata=np.stack([names, [_pct(w) for w in x]], axis=-1),
        hovertemplate=w["hover_draw"] + "<extra></extra>",
    ))
    if u is not None:
        fig.add_vline(x=u, line_color="black", line_width=3)
        label = f"u = {u:.4f}" + (f" → '{html.escape(visible(landed_token))}'" if landed_token else "")
        anchor = "left" if u < 0.25 else "right" if u > 0.75 else "center"  # keep the label inside the plot
        fig.add_annotation(x=u, y=1.0, yref="paper", text=label, showarrow=True, arrowhead=2, ay=-28, ax=0,
                           xanchor=anchor, font=dict(size=14))
    fig.update_layout(
        height=150, margin=dict(l=10, r=10, t=40, b=30), showlegend=False, bargap=0.1,
        xaxis=dict(range=[0, 1], tickformat=".1f", title=w["cumulative"]), yaxis=dict(visible=False),
    )
    return fig


# --- what the newest token looked at -------------------------------------------------------------
def newest_attention_figure(attention, tokens: Sequence[str], first_position: int = 0,
                            lang: str = FALLBACK) -> go.Figure:
    """Attention of the newest position over the earlier ones: every head (rows) and their mean (top).

    ``attention`` is (layer, head, T) for the T tokens shown (``tokens``), which start at
    ``first_position`` in the context.
    """
    a = np.asarray(attention, dtype=float)
    if a.ndim != 3 or a.shape[-1] != len(tokens):
        raise ValueError(f"attention must be (layer, head, {len(tokens)}) for {len(tokens)} tokens; got {a.shape}.")
    n_layer, n_head, T = a.shape
    rows = a.reshape(n_layer * n_head, T).round(4)
    names = [f"L{layer + 1} H{head + 1}" for layer in range(n_layer) for head in range(n_head)]
    cols = [html.escape(f"#{first_position + i} {visible(t)}") for i, t in enumerate(tokens)]
    mean, w = rows.mean(0).round(4), words("generation", lang)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.16, 0.84] if len(names) > 16 else [0.3, 0.7])
    fig.add_bar(x=cols, y=mean, marker_color=BLUE, row=1, col=1, name=w["mean_bar"],
                hovertemplate=w["hover_mean"] + "<extra></extra>")
    fig.add_heatmap(z=rows, x=cols, y=names, row=2, col=1, colorscale="Viridis", zmin=0, zmax=float(rows.max()),
                    colorbar=dict(title=w["weight"], len=0.8, y=0.4),
                    hovertemplate=w["hover_looks"] + "<extra></extra>")
    fig.update_layout(height=min(1100, 220 + 13 * len(names)), margin=dict(l=10, r=10, t=10, b=10),
                      showlegend=False)
    fig.update_yaxes(title_text=w["mean"], row=1, col=1)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=10), row=2, col=1)
    fig.update_xaxes(tickangle=-60, row=2, col=1)
    return fig


# --- the logit lens ---------------------------------------------------------------------------
def lens_figure(layers: Sequence[str], top_tokens: Sequence[Sequence[str]], top_probs, target: str,
                target_probs: Sequence[float], target_ranks: Sequence[int], lang: str = FALLBACK) -> go.Figure:
    """Left: the top predictions at every layer (text = token, colour = probability).
    Right: the probability of one target token at every layer, with its rank."""
    p = np.asarray(top_probs, dtype=float)
    if p.shape != (len(layers), len(top_tokens[0]) if top_tokens else 0) or len(top_tokens) != len(layers):
        raise ValueError(f"lens_figure needs a row of top tokens and probabilities per layer; got {p.shape}.")
    if len(target_probs) != len(layers) or len(target_ranks) != len(layers):
        raise ValueError("lens_figure needs the target's probability and rank at every layer.")
    k, w = p.shape[1], words("generation", lang)
    text = [[f"{html.escape(visible(t))}<br>{_pct(q)}" for t, q in zip(row, qs, strict=True)]
            for row, qs in zip(top_tokens, p, strict=True)]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.7, 0.3], horizontal_spacing=0.06)
    fig.add_heatmap(z=p.round(4), x=[f"#{i + 1}" for i in range(k)], y=list(layers), text=text,
                    texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1, showscale=False, row=1, col=1,
                    hovertemplate=w["hover_guess"] + "<extra></extra>")
    fig.add_bar(x=np.round(target_probs, 4), y=list(layers), orientation="h", marker_color=ORANGE, row=1, col=2,
                text=[w["prob_rank"].format(p=_pct(q), r=r) for q, r in zip(target_probs, target_ranks, strict=True)],
                textposition="auto", hovertemplate=w["hover_prob"] + "<extra></extra>")
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_yaxes(autorange="reversed", showticklabels=False, row=1, col=2)
    fig.update_xaxes(title_text=w["guesses_axis"], row=1, col=1)
    fig.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=2,
                     title_text=html.escape(w["target_axis"].format(token=visible(target))))
    fig.update_layout(height=120 + 44 * len(layers), margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig
