"""Figures of the Training page: the loss curve, samples over training, attention snapshots, head scores.

Pure builders: plain numbers and strings in, a plotly Figure or escaped HTML out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .catalog import FALLBACK, put, words
from .tokens import visible_in_prose

BLUE, ORANGE, GREEN, GREY = "#0072B2", "#E69F00", "#009E73", "#999999"  # Okabe–Ito


def _check_lengths(**series: Sequence) -> None:
    lengths = {name: len(s) for name, s in series.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"These series must have the same length: {lengths}.")


def loss_figure(steps: Sequence[int], losses: Sequence[float], evals: Sequence[tuple[int, float, float]],
                max_steps: int, vocab_size: int, labels: dict[str, str], lang: str = FALLBACK) -> go.Figure:
    """Batch loss at every step (thin), train and validation loss at each evaluation, over a fixed x range
    (0..max_steps) so the curve grows across the chart; a dotted line at ln(vocab), the loss of a uniform guess.

    labels: names for "batch", "train", "val", "uniform", "x", "y".
    """
    _check_lengths(steps=steps, losses=losses)
    uniform, w = math.log(vocab_size), words("training", lang)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(steps), y=list(losses), mode="lines", name=labels["batch"],
                             line=dict(color=GREY, width=1), opacity=0.6,
                             hovertemplate=w["hover_batch"] + "<extra></extra>"))
    for i, (name, colour) in enumerate([("train", BLUE), ("val", ORANGE)], start=1):
        fig.add_trace(go.Scatter(x=[e[0] for e in evals], y=[round(e[i], 4) for e in evals], mode="lines+markers",
                                 name=labels[name], line=dict(color=colour, width=2.5), marker=dict(size=6),
                                 hovertemplate=put(w["hover_series"], name=html.escape(labels[name]))
                                 + "<extra></extra>"))
    fig.add_hline(y=uniform, line=dict(color=GREY, dash="dot"),
                  annotation_text=html.escape(labels["uniform"].format(vocab=vocab_size, loss=uniform)),
                  annotation_position="top right")
    top = max([uniform, *losses, *(e[1] for e in evals), *(e[2] for e in evals)]) * 1.08
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.12),
                      xaxis=dict(title=labels["x"], range=[0, max(1, max_steps)]),
                      yaxis=dict(title=labels["y"], range=[0, top]))
    return fig


def snapshots_figure(patterns: Sequence[np.ndarray], titles: Sequence[str], n: int, cols: int = 4,
                     lang: str = FALLBACK) -> go.Figure:
    """One head's attention pattern on the repeated probe sequence at several training steps: small
    heatmaps side by side (one colour scale, 0 to 1; cells above the diagonal, masked, left blank).

    patterns: (T, T) arrays with T = 2n; titles: one per pattern.
    """
    _check_lengths(patterns=patterns, titles=titles)
    if not patterns:
        raise ValueError("No snapshot to draw.")
    for p in patterns:
        if np.shape(p) != (2 * n, 2 * n):
            raise ValueError(f"A probe pattern is ({2 * n}, {2 * n}) for a sequence repeated twice; got {np.shape(p)}.")
    cols = min(cols, len(patterns))
    rows = math.ceil(len(patterns) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[html.escape(t) for t in titles],
                        horizontal_spacing=0.03, vertical_spacing=0.1 / rows)
    for i, p in enumerate(patterns):
        z = np.asarray(p, dtype=float).round(3)
        z[np.triu_indices_from(z, k=1)] = np.nan
        fig.add_trace(go.Heatmap(z=z, coloraxis="coloraxis", hoverongaps=False,
                                 hovertemplate=words("training", lang)["hover_snapshot"] + "<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False,
                     scaleanchor="x", constrain="domain")
    for i in range(len(patterns)):  # each panel square: its y axis follows its own x axis
        fig.update_yaxes(scaleanchor=f"x{i + 1 if i else ''}", row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(height=60 + 270 * rows, margin=dict(l=10, r=10, t=40, b=10),
                      coloraxis=dict(colorscale="Viridis", cmin=0, cmax=1,
                                     colorbar=dict(title=words("training", lang)["weight"])))
    fig.update_annotations(font_size=12)
    return fig


def scores_figure(steps: Sequence[int], previous: Sequence[float], induction: Sequence[float],
                  best_previous: Sequence[float], best_induction: Sequence[float], chance: tuple[float, float],
                  snapshot_steps: Sequence[int], max_steps: int, labels: dict[str, str],
                  lang: str = FALLBACK) -> go.Figure:
    """One head's previous-token and induction scores over training, the best of each over every head
    (dashed), what even attention would score (dotted), and the snapshot steps (faint vertical lines).

    chance: (previous-token, induction) scores of a head that spreads its attention evenly.
    labels: names for "previous", "induction", "best_previous", "best_induction", "chance_previous",
    "chance_induction", "x", "y".
    """
    _check_lengths(steps=steps, previous=previous, induction=induction, best_previous=best_previous,
                   best_induction=best_induction)
    fig = go.Figure()
    series = [("previous", previous, GREEN, "solid"), ("induction", induction, ORANGE, "solid"),
              ("best_previous", best_previous, GREEN, "dash"), ("best_induction", best_induction, ORANGE, "dash")]
    for name, ys, colour, dash in series:
        fig.add_trace(go.Scatter(x=list(steps), y=[round(float(y), 4) for y in ys], mode="lines+markers",
                                 name=labels[name], line=dict(color=colour, width=2.5 if dash == "solid" else 1.5,
                                                              dash=dash), marker=dict(size=4),
                                 hovertemplate=put(words("training", lang)["hover_series"],
                                                   name=html.escape(labels[name])) + "<extra></extra>"))
    for value, name, colour in [(chance[0], "chance_previous", GREEN), (chance[1], "chance_induction", ORANGE)]:
        fig.add_trace(go.Scatter(x=[0, max(1, max_steps)], y=[round(value, 4)] * 2, mode="lines",
                                 name=html.escape(labels[name].format(score=value)), opacity=0.8,
                                 line=dict(color=colour, dash="dot", width=1.5), hoverinfo="skip"))
    for s in snapshot_steps:
        fig.add_vline(x=s, line=dict(color=GREY, width=1), opacity=0.35)
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.15),
                      xaxis=dict(title=labels["x"], range=[0, max(1, max_steps)]),
                      yaxis=dict(title=labels["y"], range=[0, 1.02]))
    return fig


SAMPLES_CSS = (
    "<style>.tr-samples{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.92rem;"
    "line-height:1.6}.tr-samples .row{display:flex;gap:0.8rem;padding:0.25rem 0;"
    "border-bottom:1px solid rgba(128,128,128,0.2)}.tr-samples .step{flex:0 0 6.5rem;text-align:right;"
    "opacity:0.7}.tr-samples .body{white-space:pre-wrap;word-break:break-word}"
    ".tr-samples .prompt{background:rgba(128,128,128,0.18);border-radius:4px;padding:0 3px}"
    ".tr-samples .latest .body{font-weight:600}</style>"
)


def _one_line(text: str) -> str:
    return visible_in_prose(text.replace("\r\n", "\n")).replace("\n", "↵ ")


def samples_html(samples: Sequence[tuple[int, str]], prompt: str, step_label: str = "step {step:,}") -> str:
    """The samples from the fixed prompt, oldest first, one line each (line breaks drawn as ↵), all escaped."""
    rows = []
    for i, (step, text) in enumerate(samples):
        cls = "row latest" if i == len(samples) - 1 else "row"
        rows.append(f'<div class="{cls}"><span class="step">{html.escape(step_label.format(step=step))}</span>'
                    f'<span class="body"><span class="prompt">{html.escape(_one_line(prompt))}</span>'
                    f"{html.escape(_one_line(text))}</span></div>")
    return SAMPLES_CSS + '<div class="tr-samples">' + "".join(rows) + "</div>"
