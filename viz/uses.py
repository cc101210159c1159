"""Figures of the Uses page: the model's answer after its prompt, and where the answer looked."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from gpt_core.tokenizer import whole_characters

from .catalog import FALLBACK, words
from .tokens import visible, visible_in_prose

MAX_KEYS = 96  # most key columns one heatmap shows before its labels stop being legible


def _shown(token: str) -> str:
    """Escaped token text, invisible characters drawn (visible_in_prose); a line break also shows a dimmed ↵, so an
    answer that is only line breaks is seen."""
    return html.escape(visible_in_prose(token)).replace("\n", '<span class="nl" style="opacity:0.5">↵</span>\n')


def answer_html(prompt_tail: str, cut: bool, answer_tokens: Sequence[str] | Sequence[bytes],
                lang: str = FALLBACK) -> str:
    """The end of the prompt in grey, then the model's answer, every token in its own span (all escaped).

    ``cut`` marks that the shown prompt is only its end. Tokens given as ``bytes`` are joined where a
    character is split between them, one span for the run, so the answer reads "我", not "���".
    """
    start, w = "…" if cut else "", words("uses", lang)
    if answer_tokens and all(isinstance(t, bytes) for t in answer_tokens):
        runs = whole_characters(answer_tokens)
    else:
        runs = [(i, i + 1, t) for i, t in enumerate(answer_tokens)]

    def title(first: int, stop: int) -> str:
        where = (w["answer_token"].format(i=first + 1) if stop == first + 1
                 else w["answer_tokens"].format(i=first + 1, j=stop))
        return html.escape(where, quote=True)

    spans = "".join(f'<span class="ans" title="{title(a, b)}">{_shown(t)}</span>' for a, b, t in runs)
    if not answer_tokens:
        spans = '<span class="ans-empty">∅</span>'
    return (
        '<div class="uses-answer" style="white-space:pre-wrap;font-family:ui-monospace,SFMono-Regular,Menlo,'
        'Consolas,monospace;font-size:0.95rem;line-height:1.7;border:1px solid rgba(128,128,128,0.35);'
        'border-radius:6px;padding:0.6rem 0.8rem">'
        # isolate: a direction override in the prompt (U+202E ...) must not turn the answer around
        f'<span class="prompt" style="opacity:0.55;unicode-bidi:isolate">{html.escape(start + prompt_tail)}</span>'
        '<span style="background:rgba(0,114,178,0.18);border-bottom:2px solid #0072B2;unicode-bidi:isolate">'
        f"{spans}</span></div>"
    )


def answer_attention_figure(rows, key_tokens: Sequence[str], answer_tokens: Sequence[str], n_prompt: int,
                            first_key: int = 0, title: str = "", lang: str = FALLBACK) -> go.Figure:
    """Heatmap: one row per answer token (the position that chose it), one column per key shown.

    ``rows`` is (answer, keys) over keys ``first_key`` .. ``first_key + len(key_tokens) - 1``; row i was
    computed at position n_prompt - 1 + i, so keys after it are masked (blank). A line marks where the
    prompt ends.
    """
    a = np.asarray(rows, dtype=float)
    if a.ndim != 2 or a.shape != (len(answer_tokens), len(key_tokens)):
        raise ValueError(f"rows must be ({len(answer_tokens)} answer tokens, {len(key_tokens)} keys); got {a.shape}.")
    z, w = a.round(4), words("uses", lang)
    for i in range(z.shape[0]):
        z[i, max(0, n_prompt + i - first_key):] = np.nan  # keys after the position that chose token i
    x = [html.escape(f"#{first_key + j} {visible(t)}") for j, t in enumerate(key_tokens)]
    y = [html.escape(f"{i + 1}. {visible(t)}") for i, t in enumerate(answer_tokens)]
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, colorscale="Viridis", zmin=0, zmax=float(np.nanmax(z)) if np.isfinite(z).any() else 1.0,
        hoverongaps=False, colorbar=dict(title=w["weight"]), hovertemplate=w["hover"] + "<extra></extra>",
    ))
    boundary = n_prompt - first_key - 0.5
    if 0 < boundary < len(key_tokens):
        fig.add_vline(x=boundary, line=dict(color="#D55E00", width=2), annotation_text=w["answer_starts"],
                      annotation_position="top")
    fig.update_layout(
        title=title, height=min(900, 200 + 22 * len(answer_tokens)), margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(title=w["key_axis"], tickangle=-60, dtick=1, tickfont=dict(size=10),
                   showgrid=False),
        yaxis=dict(title=w["answer_axis"], autorange="reversed", dtick=1, showgrid=False),
    )
    return fig
