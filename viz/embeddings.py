"""Figures of the Embeddings page: lookup heatmaps, neighbours, the 2-D map, positions, LayerNorm, residual norms.

Arrays and token strings in, a plotly Figure (or CSV text) out. Every grid is bounded: a figure
refuses more than MAX_CELLS cells, so a page can never ship a vocabulary-sized matrix by mistake.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .catalog import FALLBACK, put, words
from .tokens import axis_labels, visible

MAX_CELLS = 40_000  # most cells one figure may draw (all its panels together)
DIVERGING = "RdBu_r"  # negative blue, positive red, 0 white
GROUP_COLOURS = {"your text": "#0072B2", "reference word": "#D55E00", "piece of a reference word": "#CC79A7"}
_GROUP_WORDS = {"your text": "group_text", "reference word": "group_word", "piece of a reference word": "group_piece"}
BAR_COLOURS = {"attn": "#0072B2", "mlp": "#009E73", "resid": "#E69F00"}


def _matrix(values, name: str, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if shape is not None and (a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape,
                                                                                                    strict=True))):
        want = " × ".join("any" if s is None else str(s) for s in shape)
        raise ValueError(f"{name} should have shape {want}; got {' × '.join(map(str, a.shape))}.")
    return a


def _check_cells(n: int) -> None:
    if n > MAX_CELLS:
        raise ValueError(f"{n:,} cells is more than one figure shows ({MAX_CELLS:,}); ask for fewer rows or columns.")


def _escaped(labels: Sequence[str]) -> list[str]:
    return [html.escape(visible(t)) for t in labels]


# --- Lookup --------------------------------------------------------------------------------------------------


def lookup_heatmap(token_rows, pos_rows, tokens: Sequence[str], first_position: int = 0, dim_start: int = 0,
                   dim_stop: int | None = None, lang: str = FALLBACK) -> go.Figure:
    """Token embedding + position embedding = input to block 0, side by side for dimensions dim_start..dim_stop.

    ``token_rows`` and ``pos_rows`` are (n, d) for the n tokens in ``tokens`` (positions from
    ``first_position``). The three panels share one colour scale centred on 0, so colours compare.
    """
    tok = _matrix(token_rows, "token_rows", (len(tokens), None))
    pos = _matrix(pos_rows, "pos_rows", tok.shape)
    dim_stop = tok.shape[1] if dim_stop is None else dim_stop
    if not 0 <= dim_start < dim_stop <= tok.shape[1]:
        raise ValueError(f"Dimensions {dim_start}..{dim_stop} do not fit vectors of {tok.shape[1]} numbers.")
    _check_cells(3 * tok.shape[0] * (dim_stop - dim_start))
    panels = [a[:, dim_start:dim_stop].round(6) for a in (tok, pos, tok + pos)]
    top = float(max(np.abs(p).max() for p in panels)) or 1.0
    labels = axis_labels(tokens, first_position)
    dims, w = list(range(dim_start, dim_stop)), words("embeddings", lang)
    titles = (w["title_token"], w["title_position"], w["title_sum"])
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.025, subplot_titles=titles)
    for col, (z, what) in enumerate(zip(panels, ("what_token", "what_position", "what_sum"), strict=True), 1):
        fig.add_trace(go.Heatmap(
            z=z, x=dims, y=labels, coloraxis="coloraxis",
            hovertemplate=put(w["hover_lookup"], what=w[what]) + "<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(title_text=w["dimension"], showgrid=False, row=1, col=col)
    fig.update_yaxes(autorange="reversed", showgrid=False, tickfont=dict(family="monospace"))
    fig.update_layout(
        height=min(900, max(260, 130 + 16 * len(labels))), margin=dict(l=10, r=10, t=40, b=10),
        coloraxis=dict(colorscale=DIVERGING, cmin=-top, cmax=top, colorbar=dict(title=w["value"])),
    )
    return fig


def matrix_csv(values, row_labels: Sequence[str], col_labels: Sequence, corner: str = "") -> str:
    """A matrix as CSV text: a header row of column labels, then one labelled row per matrix row.

    Numbers are written in full (float32 precision). Labels starting with = + - @ get a leading ' so a
    spreadsheet reads them as text, never as a formula.
    """
    a = _matrix(values, "values", (len(row_labels), len(col_labels)))

    def safe(label) -> str:
        s = str(label)
        return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([corner, *map(safe, col_labels)])
    for label, row in zip(row_labels, a, strict=True):
        w.writerow([safe(label), *(f"{v:.9g}" for v in row)])
    return out.getvalue()


def row_labels(tokens: Sequence[str], ids: Sequence[int], first_position: int = 0) -> list[str]:
    """CSV row labels "#position token (id n)" (plain text: CSV is not HTML)."""
    return [f"#{first_position + i} {t} (id {int(n)})" for i, (t, n) in enumerate(zip(tokens, ids, strict=True))]


def lookup_csvs(token_rows, pos_rows, rows: Sequence[str], dim_start: int, dim_stop: int,
                lang: str = FALLBACK) -> list[tuple[str, str, str]]:
    """(button label, CSV text, file name) for the three lookup matrices, dimensions dim_start..dim_stop."""
    tok, pos = _matrix(token_rows, "token_rows", (len(rows), None)), _matrix(pos_rows, "pos_rows", (len(rows), None))
    w = words("embeddings", lang)
    cols = [w["dim_col"].format(j=j) for j in range(dim_start, dim_stop)]
    return [(w[label], matrix_csv(m[:, dim_start:dim_stop], rows, cols, w["corner_lookup"]), name)
            for label, m, name in (("csv_token", tok, "token_embedding_rows"),
                                   ("csv_position", pos, "position_embedding_rows"),
                                   ("csv_sum", tok + pos, "block_input_rows"))]


def difference(err: float, lang: str = FALLBACK) -> str:
    """How far a recomputed number is from the model's own: "0 (exactly equal)" or e.g. "2.4e-07"."""
    return words("embeddings", lang)["exact"] if err == 0 else f"{err:.1e}"


def components_csv(coords, lang: str = FALLBACK) -> str:
    """Each position's coordinate on each principal component, as CSV."""
    c, w = _matrix(coords, "coords", (None, None)), words("embeddings", lang)
    return matrix_csv(c, [w["pos_name"].format(p=p) for p in range(c.shape[0])],
                      [f"PC{j + 1}" for j in range(c.shape[1])], w["corner_position"])


def records_csv(records: Sequence[dict]) -> str:
    """Table rows (dicts with the same keys, the first one a label) as CSV."""
    if not records:
        raise ValueError("records_csv needs at least one row.")
    first, *cols = list(records[0])
    return matrix_csv([[r[c] for c in cols] for r in records], [r[first] for r in records], cols, first)


# --- Meaning in the geometry ---------------------------------------------------------------------------------


def neighbour_bars(labels: Sequence[str], cosines: Sequence[float], query: str, lang: str = FALLBACK) -> go.Figure:
    """Horizontal bars of the nearest tokens' cosine similarity to ``query``, nearest on top."""
    if not labels or len(labels) != len(cosines):
        raise ValueError(f"neighbour_bars needs one cosine per token; got {len(labels)} tokens, {len(cosines)}.")
    names = [f"{rank}. {name}" for rank, name in enumerate(_escaped(labels), 1)]
    values, w = [round(float(c), 4) for c in cosines], words("embeddings", lang)
    fig = go.Figure(go.Bar(
        x=values, y=names, orientation="h", text=[f"{v:.3f}" for v in values], textposition="outside",
        marker_color="#0072B2", cliponaxis=False, hovertemplate=w["hover_neighbour"] + "<extra></extra>",
    ))
    low = min(0.0, min(values))
    fig.update_layout(
        title=w["nearest"].format(token=html.escape(visible(query))), height=110 + 26 * len(names),
        margin=dict(l=10, r=50, t=40, b=10), yaxis=dict(autorange="reversed", tickfont=dict(family="monospace")),
        xaxis=dict(title=w["cosine_axis"], range=[low - 0.05 if low < 0 else 0, 1.08]),
    )
    return fig


def group_names(lang: str = FALLBACK) -> dict[str, str]:
    """The map's groups (``gpt_core.embeddings``' YOUR_TEXT, REFERENCE, PIECE) in ``lang``."""
    w = words("embeddings", lang)
    return {group: w[name] for group, name in _GROUP_WORDS.items()}


def pca_scatter(coords, labels: Sequence[str], groups: Sequence[str], explained: Sequence[float],
                of_words: Sequence[str] | None = None, lang: str = FALLBACK) -> go.Figure:
    """The 2-D PCA map: one labelled point per vector, coloured by group (see GROUP_COLOURS).

    ``of_words`` (optional, "" for none) are written after a label in brackets: the word a token piece is part of.
    """
    xy = _matrix(coords, "coords", (len(labels), 2))
    of_words = [""] * len(labels) if of_words is None else list(of_words)
    if len(groups) != len(labels) or len(of_words) != len(labels):
        raise ValueError(f"pca_scatter needs one group (and word) per label; got {len(groups)} groups, "
                         f"{len(labels)} labels.")
    unknown = set(groups) - set(GROUP_COLOURS)
    if unknown:
        raise ValueError(f"Unknown groups {sorted(unknown)}; known: {list(GROUP_COLOURS)}.")
    fig, w, shown = go.Figure(), words("embeddings", lang), group_names(lang)
    names = [name + (f" ({html.escape(o)})" if o else "") for name, o in zip(_escaped(labels), of_words, strict=True)]
    for group, colour in GROUP_COLOURS.items():
        rows = [i for i, g in enumerate(groups) if g == group]
        if rows:
            fig.add_trace(go.Scatter(
                x=xy[rows, 0].round(4), y=xy[rows, 1].round(4), mode="markers+text", name=shown[group],
                text=[names[i] for i in rows], textposition="top center", marker=dict(color=colour, size=9),
                textfont=dict(family="monospace", color=colour),
                hovertemplate=w["hover_map"] + "<extra>" + shown[group] + "</extra>",
            ))
    ev = [float(e) for e in explained]
    fig.update_layout(
        height=520, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.02, x=0),
        xaxis=dict(title=w["pc_axis"].format(n=1, share=ev[0]), zeroline=False),
        yaxis=dict(title=w["pc_axis"].format(n=2, share=ev[1]), zeroline=False),
    )
    return fig


# --- Positions -----------------------------------------------------------------------------------------------


def similarity_heatmap(sim, positions: Sequence[int], lang: str = FALLBACK) -> go.Figure:
    """Cosine similarity between position embeddings, positions × positions (colour −1 to 1)."""
    z = _matrix(sim, "sim", (len(positions), len(positions)))
    _check_cells(z.size)
    pos, w = [int(p) for p in positions], words("embeddings", lang)
    fig = go.Figure(go.Heatmap(
        z=z.round(3), x=pos, y=pos, zmin=-1, zmax=1, colorscale=DIVERGING, colorbar=dict(title=w["cosine"]),
        hovertemplate=w["hover_similarity"] + "<extra></extra>",
    ))
    fig.update_layout(
        height=560, margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(title=w["position"], showgrid=False, scaleanchor="y", constrain="domain"),
        yaxis=dict(title=w["position"], showgrid=False, autorange="reversed", constrain="domain"),
    )
    return fig


def components_plot(coords, explained: Sequence[float], lang: str = FALLBACK) -> go.Figure:
    """Each position's coordinate on the first principal components of the position embeddings."""
    c, w = _matrix(coords, "coords", (None, len(explained))), words("embeddings", lang)
    fig = go.Figure()
    colours = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
    for j in range(c.shape[1]):
        fig.add_trace(go.Scatter(
            x=list(range(c.shape[0])), y=c[:, j].round(4), mode="lines", line=dict(color=colours[j % 4]),
            name=w["component"].format(n=j + 1, share=float(explained[j])),
            hovertemplate=w["hover_component"] + "<extra></extra>",
        ))
    fig.update_layout(
        height=340, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.08, x=0),
        xaxis=dict(title=w["position"]), yaxis=dict(title=w["coordinate_axis"]),
    )
    return fig


# --- LayerNorm -----------------------------------------------------------------------------------------------


def layernorm_figure(x, normalized, y, mean: float, std: float, dim_start: int = 0,
                     dim_stop: int | None = None, lang: str = FALLBACK) -> go.Figure:
    """Three bar panels over dimensions dim_start..dim_stop: before, normalised, after γ and β.

    The first panel marks the mean (solid) and mean ± std (dashed), the numbers LayerNorm uses.
    """
    vecs = [_matrix(v, name, (None,)) for v, name in ((x, "x"), (normalized, "normalized"), (y, "y"))]
    if len({v.shape[0] for v in vecs}) != 1:
        raise ValueError("x, normalized and y must have the same length.")
    dim_stop = vecs[0].shape[0] if dim_stop is None else dim_stop
    if not 0 <= dim_start < dim_stop <= vecs[0].shape[0]:
        raise ValueError(f"Dimensions {dim_start}..{dim_stop} do not fit vectors of {vecs[0].shape[0]} numbers.")
    _check_cells(3 * (dim_stop - dim_start))
    w = words("embeddings", lang)
    titles = (w["ln_before"], w["ln_normalised"], w["ln_after"])
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=titles)
    dims = list(range(dim_start, dim_stop))
    colours = ("#E69F00", "#0072B2", "#009E73")
    for row, (v, colour) in enumerate(zip(vecs, colours, strict=True), 1):
        fig.add_trace(go.Bar(x=dims, y=v[dim_start:dim_stop].round(6), marker_color=colour, showlegend=False,
                             hovertemplate=w["hover_ln"] + "<extra></extra>"), row=row, col=1)
    for level, dash in ((mean, "solid"), (mean + std, "dash"), (mean - std, "dash")):
        fig.add_hline(y=level, line=dict(color="#555555", width=1, dash=dash), row=1, col=1)
    fig.update_xaxes(title_text=w["dimension"], row=3, col=1)
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=40, b=10), bargap=0.15)
    return fig


def layernorm_name(where: str, lang: str = FALLBACK) -> str:
    """"blocks.0.ln1" -> "Block 1, before attention (blocks.0.ln1)"; "ln_final" -> the final one."""
    w = words("embeddings", lang)
    if where == "ln_final":
        return w["ln_final"]
    layer, ln = where.split(".")[1:]
    return w["ln_attention" if ln == "ln1" else "ln_mlp"].format(block=int(layer) + 1, name=where)


def layernorm_metrics(d: int, mean: float, var: float, eps: float, std: float,
                      lang: str = FALLBACK) -> list[tuple[str, str]]:
    """(label, value) pairs of the numbers LayerNorm computes for one vector."""
    w = words("embeddings", lang)
    return [("d", f"{d}"), (w["metric_mean"], f"{mean:.6f}"), (w["metric_var"], f"{var:.6f}"), ("ε", f"{eps:g}"),
            (w["metric_std"], f"{std:.6f}")]


LAYERNORM_FORMULA = (
    r"\mathrm{LN}(x)_i = \gamma_i \cdot \frac{x_i - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta_i,"
    r"\qquad \mu = \frac{1}{d}\sum_{j=1}^{d} x_j,"
    r"\qquad \sigma^2 = \frac{1}{d}\sum_{j=1}^{d} (x_j - \mu)^2"
)


def _num(v: float, digits: int = 4) -> str:
    """A number for LaTeX, negative ones in parentheses so "x − (−0.1)" reads right."""
    s = f"{v:.{digits}f}"
    return f"({s})" if v < 0 else s


def layernorm_latex(i: int, x: float, mean: float, std: float, gamma: float, beta: float, y: float) -> str:
    """LayerNorm for dimension i with the real numbers put in."""
    return (
        rf"\mathrm{{LN}}(x)_{{{i}}} = {_num(gamma)} \cdot \frac{{{_num(x)} - {_num(mean)}}}{{{std:.4f}}}"
        rf" + {_num(beta)} = {y:.4f}"
    )


def layernorm_rows(x, centered, normalized, gamma, beta, y, reference, dim_start: int, dim_stop: int,
                   lang: str = FALLBACK) -> list[dict]:
    """Table rows, one per dimension dim_start..dim_stop: every step of LayerNorm and the model's own output."""
    w = words("embeddings", lang)
    cols = {"x": x, w["col_centered"]: centered, w["col_normalised"]: normalized, "γ": gamma, "β": beta,
            w["col_after"]: y, w["col_model"]: reference}
    arrays = {k: _matrix(v, k, (None,)) for k, v in cols.items()}
    return [{w["dimension"]: i, **{k: round(float(a[i]), 6) for k, a in arrays.items()}}
            for i in range(dim_start, dim_stop)]


def caption_html(text: str) -> str:
    """Small grey text that may hold user text: all of it escaped, shown as text."""
    return f'<div style="font-size:0.875rem;opacity:0.7;white-space:pre-wrap">{html.escape(text)}</div>'


# --- The residual stream -------------------------------------------------------------------------------------


def stage_labels(n_layer: int, lang: str = FALLBACK) -> list[str]:
    """Names of the residual stream's stages: the embeddings, then after each block."""
    w = words("embeddings", lang)
    return [w["stage_embeddings"]] + [w["stage_after"].format(i=i) for i in range(1, n_layer + 1)]


def residual_heatmap(norms, tokens: Sequence[str], first_position: int = 0, log: bool = False,
                     lang: str = FALLBACK) -> go.Figure:
    """‖residual vector‖ per stage (rows) and token (columns); ``log`` colours by log10 of the norm."""
    z = _matrix(norms, "norms", (None, len(tokens)))
    _check_cells(z.size)
    real, w = z.round(4), words("embeddings", lang)
    fig = go.Figure(go.Heatmap(
        z=np.log10(np.maximum(real, 1e-6)).round(4) if log else real, customdata=real,
        x=axis_labels(tokens, first_position), y=stage_labels(z.shape[0] - 1, lang), colorscale="Viridis",
        zmin=None if log else 0,  # lengths: a sequential scale from 0, so colours compare as sizes
        colorbar=dict(title=w["log_norm"] if log else w["norm"]),
        hovertemplate=w["hover_residual"] + "<extra></extra>",
    ))
    fig.update_layout(
        height=min(700, 160 + 28 * z.shape[0]), margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(tickangle=-60, showgrid=False, tickfont=dict(family="monospace")),
        yaxis=dict(autorange="reversed", showgrid=False),
    )
    return fig


def contribution_bars(attn, mlp, resid, lang: str = FALLBACK) -> go.Figure:
    """Per block: ‖attention output‖ and ‖MLP output‖ as bars, ‖residual after the block‖ as a line."""
    a, m = _matrix(attn, "attn", (None,)), _matrix(mlp, "mlp", (None,))
    r = _matrix(resid, "resid", (a.shape[0] + 1,))
    if m.shape != a.shape:
        raise ValueError(f"attn and mlp need one value per block; got {a.shape[0]} and {m.shape[0]}.")
    w = words("embeddings", lang)
    blocks = [w["block"].format(i=i) for i in range(1, a.shape[0] + 1)]
    stages = [w["embeddings"], *blocks]
    fig = go.Figure([
        go.Bar(x=blocks, y=a.round(4), name=w["bar_attention"], marker_color=BAR_COLOURS["attn"],
               hovertemplate=w["hover_attention"] + "<extra></extra>"),
        go.Bar(x=blocks, y=m.round(4), name=w["bar_mlp"], marker_color=BAR_COLOURS["mlp"],
               hovertemplate=w["hover_mlp"] + "<extra></extra>"),
        go.Scatter(x=stages, y=r.round(4), name=w["line_residual"], mode="lines+markers",
                   line=dict(color=BAR_COLOURS["resid"]), hovertemplate=w["hover_line"] + "<extra></extra>"),
    ])
    fig.update_layout(
        barmode="group", height=360, margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(orientation="h", y=1.1, x=0), yaxis=dict(title=w["length_axis"]),
        xaxis=dict(categoryorder="array", categoryarray=stages),
    )
    return fig
