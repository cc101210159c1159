"""Figures for the Attention page: every head at once, one head large, the formula's steps, head scores.

Pure builders: numpy arrays and token strings in, a plotly Figure, escaped HTML or a LaTeX string out.
Heavy views are one compact figure (one heatmap trace for the whole grid, rounded values); clickable
figures carry one invisible marker per cell or tile, because Streamlit reports clicks on markers but
not on heatmap cells. Pages map a click back with ``picked_index`` and ``picked_cell``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .attention import masked_pattern
from .catalog import FALLBACK, put, words
from .tokens import axis_labels, visible

GRID_CELLS = 150_000  # most pattern cells the all-heads grid sends (float32: about 0.8 MB of JSON)
GRID_MAX = 64  # positions per tile when there is room
GRID_MIN = 8
HIGHLIGHT = "#D55E00"  # Okabe–Ito vermillion: the chosen head or cell
# Okabe–Ito, with mid grey for its black: black lines vanish on the dark theme.
HEAD_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#888888")
INVISIBLE = dict(color="rgba(0,0,0,0)", size=12)
TICKS = (0, 0.25, 0.5, 0.75, 1)
# Colour scale of the grid's one-byte cells: 0 transparent (blank), then Viridis from 1 (weight 0) to 255 (weight 1).
_VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
            "#fde725")
BLANK_THEN_VIRIDIS = [[0.0, "rgba(0,0,0,0)"], [0.5 / 255, "rgba(0,0,0,0)"]] + [
    [(1 + 254 * i / (len(_VIRIDIS) - 1)) / 255, c] for i, c in enumerate(_VIRIDIS)
]
ATTENTION_LATEX = (  # two lines and a slanted fraction, so it fits a narrow column
    r"\begin{gathered} \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(QK^\top / \sqrt{d_k} + M\right) V"
    r" \\ M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i \end{cases} \end{gathered}"
)
WRONG_LATEX = r"\text{wrong: }\; \frac{\exp\!\left(QK^\top/\sqrt{d_k}\right)}{K^\top K^\top + \varepsilon}"


def wrong_latex(lang: str = FALLBACK) -> str:
    """WRONG_LATEX with its "wrong:" in ``lang``."""
    return WRONG_LATEX.replace("wrong:", words("attention_grid", lang)["wrong"])


def _square(p, name: str = "pattern") -> np.ndarray:
    a = np.asarray(p, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A {name} is a square (query, key) array; got shape {a.shape}.")
    return a


def picked_index(event) -> tuple[int, int] | None:
    """(curve number, point index) of the first selected point of a Streamlit plotly event, or None."""
    try:
        point = event["selection"]["points"][0]
    except (KeyError, IndexError, TypeError):
        return None
    index = point.get("point_index", point.get("point_number"))
    return (int(point.get("curve_number", 0)), int(index)) if index is not None else None


def picked_cell(event, start: int, stop: int) -> tuple[int, int] | None:
    """(query, key) of a click on ``pattern_figure`` drawn for positions start..stop, or None."""
    hit = picked_index(event)
    if hit is None or hit[0] not in (1, 2):
        return None
    S = stop - start
    rows, cols = np.tril_indices(S) if hit[0] == 1 else np.triu_indices(S, k=1)  # the order the markers use
    if not 0 <= hit[1] < rows.size:
        return None
    return start + int(rows[hit[1]]), start + int(cols[hit[1]])


# --- every head at once -----------------------------------------------------------------------------


def grid_positions(n_heads: int, n_tokens: int, budget: int = GRID_CELLS) -> int:
    """How many positions each tile of a grid of ``n_heads`` tiles shows, so the grid stays light."""
    if n_heads < 1 or n_tokens < 1:
        raise ValueError("A grid needs at least one head and one token.")
    side = int(math.sqrt(budget / n_heads))
    return min(n_tokens, max(GRID_MIN, min(GRID_MAX, side)))


def head_grid(
    patterns, selected: tuple[int, int] | None = None, scores: dict[str, np.ndarray] | None = None,
    lang: str = FALLBACK,
) -> go.Figure:
    """All (layer, head) patterns as one mosaic heatmap with click targets.

    patterns: (layer, head, S, S), already cut to the positions to show (``attention_math.window_patterns``).
    scores: optional name -> (layer, head) values shown on hover. Point k of the click trace (curve 1) is
    layer k // n_head, head k % n_head.
    """
    p = np.asarray(patterns, dtype=float)
    if p.ndim != 4 or p.shape[-1] != p.shape[-2]:
        raise ValueError(f"head_grid needs patterns shaped (layer, head, S, S); got {p.shape}.")
    L, H, S, _ = p.shape
    gap, w = max(1, round(S / 8)), words("attention_grid", lang)
    step = S + gap
    # One byte per cell: 0 is blank (gaps, masked cells), 1..255 is weight 0..1. Four times lighter than
    # float32, and finer than the colour scale can show; hover is off on the grid, the large view has values.
    mosaic = np.zeros((L * step - gap, H * step - gap), dtype=np.uint8)
    tiles = 1 + np.rint(np.nan_to_num(np.clip(p, 0, 1), nan=-1 / 254) * 254)
    tiles[..., np.triu_indices(S, k=1)[0], np.triu_indices(S, k=1)[1]] = 0  # masked by M
    for layer in range(L):
        for head in range(H):
            mosaic[layer * step : layer * step + S, head * step : head * step + S] = tiles[layer, head]
    centre = (S - 1) / 2
    ls, hs = np.divmod(np.arange(L * H), H)
    names = list(scores or {})
    custom = np.column_stack([ls + 1, hs + 1] + [np.asarray(scores[n], dtype=float).reshape(-1) for n in names])
    extra = "".join(f"<br>{html.escape(n)}: %{{customdata[{i + 2}]:.2f}}" for i, n in enumerate(names))
    fig = go.Figure([
        go.Heatmap(z=mosaic, zmin=0, zmax=255, colorscale=BLANK_THEN_VIRIDIS, hoverinfo="skip",
                   colorbar=dict(title=w["weight"], thickness=12, tickvals=[1 + 254 * t for t in TICKS],
                                 ticktext=[f"{t:g}" for t in TICKS])),
        go.Scatter(x=hs * step + centre, y=ls * step + centre, mode="markers", marker=INVISIBLE,
                   customdata=custom.round(3),
                   hovertemplate=w["hover_tile"] + extra + "<extra></extra>"),
    ])
    if selected is not None:
        sl, sh = selected
        fig.add_shape(type="rect", x0=sh * step - 0.5 - gap / 2, x1=sh * step + S - 0.5 + gap / 2,
                      y0=sl * step - 0.5 - gap / 2, y1=sl * step + S - 0.5 + gap / 2,
                      line=dict(color=HIGHLIGHT, width=3))
    tile_px = min(100, 1000 / H, 800 / L)
    fig.update_layout(
        height=int(max(240, L * tile_px + 70)), margin=dict(l=10, r=10, t=40, b=10), hoverdistance=-1,
        dragmode=False, showlegend=False, plot_bgcolor="rgba(0,0,0,0)",
        xaxis=dict(tickvals=list(np.arange(H) * step + centre), ticktext=[w["head"].format(h=h + 1) for h in range(H)],
                   side="top", showgrid=False, zeroline=False, constrain="domain",
                   range=[-0.5 - gap, H * step - gap - 0.5 + gap]),
        yaxis=dict(tickvals=list(np.arange(L) * step + centre), ticktext=[w["layer"].format(i=i + 1) for i in range(L)],
                   range=[L * step - 0.5, -0.5 - gap], showgrid=False, zeroline=False, scaleanchor="x",
                   constrain="domain"),
    )
    return fig


# --- one head, large ------------------------------------------------------------------------------------


def pattern_figure(
    pattern, tokens: Sequence[str], start: int = 0, stop: int | None = None, title: str = "",
    cell: tuple[int, int] | None = None, zmax: float | None = None, lang: str = FALLBACK,
) -> go.Figure:
    """One head's (T, T) pattern, positions start..stop, token labels, hover values, colour from 0.

    Every cell, masked ones too, carries an invisible marker, so a click reports its query and key
    (read them back with ``picked_cell(event, start, stop)``). ``cell`` (query, key) is outlined.
    """
    a = _square(pattern)
    if len(tokens) != a.shape[0]:
        raise ValueError(f"The pattern covers {a.shape[0]} positions but {len(tokens)} tokens were given.")
    z = masked_pattern(a, start, stop).astype(np.float32)
    S, w = z.shape[0], words("attention_grid", lang)
    labels = axis_labels(tokens[start : start + S], start)
    names = np.array(labels, dtype=object)
    qi, kj = np.tril_indices(S)
    mq, mk = np.triu_indices(S, k=1)
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    fig = go.Figure([
        go.Heatmap(z=z, x=labels, y=labels, zmin=0, zmax=zmax or top, colorscale="Viridis", hoverinfo="skip",
                   colorbar=dict(title=w["weight"], thickness=12)),
        # Label arrays, not lists: plotly checks a list item by item, an array at once (T² points here).
        go.Scatter(x=names[kj], y=names[qi], mode="markers", marker=INVISIBLE,
                   customdata=z[qi, kj].astype(np.float32), hovertemplate=w["hover_cell"] + "<extra></extra>"),
        go.Scatter(x=names[mk], y=names[mq], mode="markers", marker=INVISIBLE,
                   hovertemplate=w["hover_masked"] + "<extra></extra>"),
    ])
    if cell is not None and start <= cell[0] < start + S and start <= cell[1] < start + S:
        i, j = cell[0] - start, cell[1] - start
        fig.add_shape(type="rect", x0=-0.5, x1=S - 0.5, y0=i - 0.5, y1=i + 0.5,
                      line=dict(color=HIGHLIGHT, width=1, dash="dot"))
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color=HIGHLIGHT, width=3))
    fig.update_layout(
        title=title, height=int(min(720, max(420, 160 + 14 * S))), hoverdistance=-1,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        dragmode=False, showlegend=False,
        # Explicit ranges: the invisible markers would otherwise pad the axes and shift cells off the grid.
        xaxis=dict(title=w["key_axis"], tickangle=-60, showgrid=False, range=[-0.5, S - 0.5]),
        yaxis=dict(title=w["query_axis"], showgrid=False, range=[S - 0.5, -0.5]),
    )
    return fig


def query_row_figure(row, tokens: Sequence[str], query: int, start: int = 0, title: str = "",
                     lang: str = FALLBACK) -> go.Figure:
    """Bars of one query's weights over the keys it may see (keys start..query). Clicks report the key."""
    r = np.asarray(row, dtype=float)
    if r.ndim != 1 or len(tokens) != r.shape[0]:
        raise ValueError(f"A row of weights needs one value per token; got {r.shape} for {len(tokens)} tokens.")
    if not 0 <= start <= query < r.shape[0]:
        raise ValueError(f"Query {query} and first key {start} do not fit {r.shape[0]} positions.")
    labels = axis_labels(tokens[start : query + 1], start)
    values, w = r[start : query + 1].round(4), words("attention_grid", lang)
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color="#0072B2",
                           hovertemplate=w["hover_bar"] + "<extra></extra>"))
    fig.update_layout(
        title=title, height=360, margin=dict(l=10, r=10, t=40 if title else 10, b=10), dragmode=False,
        xaxis=dict(title=w["key_axis"], tickangle=-60),
        yaxis=dict(title=w["weight"], rangemode="tozero"),
    )
    return fig


LINE_LEVELS = 5  # lines are drawn in this many strengths (one trace each per head), darker and thicker for more weight


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:.2f})"


def head_view_figure(
    patterns, heads: Sequence[int], tokens: Sequence[str], start: int, stop: int,
    query: int | None = None, min_weight: float = 0.02, title: str = "", lang: str = FALLBACK,
) -> go.Figure:
    """The "head view": tokens in two columns, a line from each query (left) to each key it attends to (right).

    patterns: (n, T, T) for the heads named in ``heads`` (same order). The stronger the weight, the darker
    and thicker the line; weights below ``min_weight`` are not drawn. With ``query``, only its lines. Each
    head has one colour and one legend entry (click it to hide that head).
    """
    p = np.asarray(patterns, dtype=float)
    if p.ndim != 3 or p.shape[0] != len(heads) or p.shape[1] != p.shape[2] or p.shape[1] != len(tokens):
        raise ValueError(f"head_view_figure needs (heads, T, T) patterns for {len(heads)} heads and "
                         f"{len(tokens)} tokens; got {p.shape}.")
    if not 0 <= start < stop <= len(tokens):
        raise ValueError(f"Window {start}..{stop} does not fit {len(tokens)} positions.")
    S, wd = stop - start, words("attention_grid", lang)
    labels = axis_labels(tokens[start:stop], start)
    qs, ks = np.tril_indices(S)  # every (query, key) pair the mask allows, as window rows and columns
    if query is not None:
        keep = qs == query - start
        qs, ks = qs[keep], ks[keep]
    traces: list[dict] = []  # plain dicts: the figure validates them once
    for n, h in enumerate(heads):
        colour = HEAD_COLOURS[h % len(HEAD_COLOURS)]
        w = p[n, start:stop, start:stop][qs, ks]
        drawn = np.isfinite(w) & (w >= min_weight)
        levels = np.minimum(LINE_LEVELS - 1, (np.nan_to_num(w) * LINE_LEVELS).astype(int))
        group = dict(name=wd["head"].format(h=h + 1), legendgroup=f"head {h + 1}", hoverinfo="skip")
        traces.append(dict(type="scatter", x=[None], y=[None], mode="lines", line=dict(color=colour, width=3),
                           showlegend=True, **group))
        for level in range(LINE_LEVELS):
            pick = drawn & (levels == level)
            if not pick.any():
                continue
            m = int(pick.sum())
            x = np.tile(np.array([0, 1, np.nan], dtype=np.float32), m)  # one segment per line, NaN breaks them
            y = np.column_stack([qs[pick], ks[pick], np.full(m, np.nan)]).reshape(-1).astype(np.float32)
            strength = (level + 0.5) / LINE_LEVELS
            line = dict(color=_rgba(colour, 0.05 + 0.95 * strength), width=0.5 + 3.5 * strength)
            traces.append(dict(type="scatter", x=x, y=y, mode="lines", showlegend=False, line=line, **group))
    traces.append(dict(type="scatter", x=[1] * S, y=list(range(S)), yaxis="y2", mode="markers", hoverinfo="skip",
                       marker=dict(size=0.1, color="rgba(0,0,0,0)"), showlegend=False))  # gives the key axis its rows
    fig = go.Figure(traces)
    axis = dict(tickvals=list(range(S)), ticktext=labels, range=[S - 0.5, -0.5], showgrid=False, zeroline=False,
                tickfont=dict(size=11))
    fig.update_layout(
        title=title, height=max(300, 70 + 18 * S), margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        dragmode=False, legend=dict(orientation="h", y=-0.02, yanchor="top"), showlegend=len(heads) > 1,
        xaxis=dict(range=[-0.02, 1.02], visible=False, fixedrange=True),
        yaxis=dict(title=wd["query"], **axis), yaxis2=dict(title=wd["key"], overlaying="y", side="right", **axis),
    )
    return fig


def heads_for_query_figure(rows, tokens: Sequence[str], query: int, start: int = 0, title: str = "",
                           lang: str = FALLBACK) -> go.Figure:
    """What each head of one layer attends to from one query: heads down, keys start..query across.

    Row labels name each head's favourite key (over all keys, also those left of the window).
    """
    r = np.asarray(rows, dtype=float)
    if r.ndim != 2 or r.shape[1] != len(tokens):
        raise ValueError(f"heads_for_query_figure needs (head, T) rows for {len(tokens)} tokens; got {r.shape}.")
    if not 0 <= start <= query < r.shape[1]:
        raise ValueError(f"Query {query} and first key {start} do not fit {r.shape[1]} positions.")
    z = r[:, start : query + 1].round(4)
    keys = axis_labels(tokens[start : query + 1], start)
    best = np.nanargmax(np.nan_to_num(r[:, : query + 1], nan=-1), axis=1)
    w = words("attention_grid", lang)
    names = [html.escape(w["favourite"].format(h=h + 1, key=best[h], token=visible(tokens[best[h]])))
             for h in range(r.shape[0])]
    fig = go.Figure(go.Heatmap(
        z=z, x=keys, y=names, zmin=0, zmax=float(np.nanmax(z)) if np.isfinite(z).any() else 1.0,
        colorscale="Viridis", colorbar=dict(title=w["weight"], thickness=12),
        hovertemplate=w["hover_heads"] + "<extra></extra>", hoverongaps=False,
        texttemplate="%{z:.2f}" if z.shape[1] <= 16 else None,
    ))
    fig.update_layout(title=title, height=120 + 28 * r.shape[0], margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(tickangle=-60, title=w["key"]), yaxis=dict(autorange="reversed"))
    return fig


# --- the formula, worked --------------------------------------------------------------------------------


def matrix_figure(
    m, rows: Sequence[str], cols: Sequence[str] | None = None, title: str = "", kind: str = "signed",
    col_title: str = "", text_limit: int = 14, lang: str = FALLBACK,
) -> go.Figure:
    """A matrix with hover values. kind "signed": diverging colours around 0; "weight": 0 to 1;
    "masked": like signed, with −∞ cells left blank and named on hover. Values are written in the cells
    when both sides are at most ``text_limit``."""
    a = np.asarray(m, dtype=float)
    if a.ndim != 2 or a.shape[0] != len(rows) or (cols is not None and a.shape[1] != len(cols)):
        raise ValueError(f"matrix_figure got a {a.shape} matrix for {len(rows)} row labels"
                         + (f" and {len(cols)} column labels." if cols is not None else "."))
    if kind not in ("signed", "weight", "masked"):
        raise ValueError(f"Unknown matrix kind {kind!r}.")
    x, w = list(cols) if cols is not None else list(range(a.shape[1])), words("attention_grid", lang)
    finite = np.where(np.isfinite(a), a, np.nan).round(4).astype(np.float32)
    small = a.shape[0] <= text_limit and a.shape[1] <= text_limit
    common = dict(z=finite, x=x, y=list(rows), hoverongaps=kind == "masked",
                  colorbar=dict(thickness=12, title=w["weight"] if kind == "weight" else w["value"]))
    if kind == "weight":
        trace = go.Heatmap(**common, zmin=0, zmax=1, colorscale="Viridis",
                           hovertemplate="%{y}<br>%{x}<br>%{z:.4f}<extra></extra>",
                           texttemplate="%{z:.2f}" if small else None)
    else:
        bound = float(np.nanmax(np.abs(finite))) if np.isfinite(finite).any() else 1.0
        text = None
        if kind == "masked":
            text = np.where(np.isneginf(a), w["masked"], np.char.mod("%.4f", np.nan_to_num(a, neginf=0.0)))
        trace = go.Heatmap(**common, zmid=0, zmin=-bound, zmax=bound, colorscale="RdBu_r",
                           text=text, hovertemplate="%{y}<br>%{x}<br>" + ("%{text}" if text is not None else "%{z:.4f}")
                           + "<extra></extra>",
                           texttemplate=("%{text}" if kind == "masked" else "%{z:.2f}") if small else None)
    fig = go.Figure(trace)
    fig.update_layout(title=title, height=min(720, 160 + 16 * a.shape[0]),
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(title=col_title, tickangle=-60 if cols is not None else 0, showgrid=False),
                      yaxis=dict(autorange="reversed", showgrid=False))
    return fig


STEPS = ("step_qkv", "step_scores", "step_scale", "step_mask", "step_softmax", "step_output", "step_project")


def step_latex(step: str, T: int, d_k: int, n_head: int, d_model: int) -> str:
    """The formula of one step of attention, with this head's sizes filled in."""
    root = f"{math.sqrt(d_k):.4g}"
    formulas = {
        "step_qkv": rf"Q,\ K,\ V \in \mathbb{{R}}^{{T \times d_k}} = \mathbb{{R}}^{{{T} \times {d_k}}}",
        "step_scores": rf"S = QK^\top \in \mathbb{{R}}^{{{T} \times {T}}}, \qquad S_{{ij}} = q_i \cdot k_j",
        "step_scale": rf"\frac{{S}}{{\sqrt{{d_k}}}} = \frac{{S}}{{\sqrt{{{d_k}}}}} = \frac{{S}}{{{root}}}",
        "step_mask": r"\frac{S}{\sqrt{d_k}} + M, \qquad M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i"
                     r"\end{cases}",
        "step_softmax": r"w_{ij} = \frac{\exp\left(s_{ij}\right)}{\sum_{j'} \exp\left(s_{ij'}\right)},"
                        r"\qquad \sum_j w_{ij} = 1",
        "step_output": rf"Z = W V \in \mathbb{{R}}^{{{T} \times {d_k}}}, \qquad z_i = \sum_{{j \le i}} w_{{ij}}\, v_j",
        "step_project": r"\begin{gathered} \mathrm{out} = "
                        rf"\left[\, Z_1 \;\cdots\; Z_{{{n_head}}} \,\right] W_O + b_O "
                        rf"\\ ({T} \times {n_head * d_k})\,({n_head * d_k} \times {d_model}) \to {T} \times {d_model}"
                        r" \end{gathered}",
    }
    if step not in formulas:
        raise ValueError(f"Unknown step {step!r}; the steps are {', '.join(STEPS)}.")
    return formulas[step]


def head_share_figure(norms, chosen: int, title: str = "", lang: str = FALLBACK) -> go.Figure:
    """Bars of how much each head adds to one token's attention output (vector lengths), chosen head marked."""
    n = np.asarray(norms, dtype=float)
    if n.ndim != 1:
        raise ValueError(f"head_share_figure needs one length per head; got shape {n.shape}.")
    colours, w = [HIGHLIGHT if h == chosen else "#56B4E9" for h in range(n.size)], words("attention_grid", lang)
    fig = go.Figure(go.Bar(x=[w["head"].format(h=h + 1) for h in range(n.size)], y=n.round(4), marker_color=colours,
                           hovertemplate=w["hover_share"] + "<extra></extra>"))
    fig.update_layout(title=title, height=240, margin=dict(l=10, r=10, t=40 if title else 10, b=10), dragmode=False,
                      yaxis=dict(title="‖z_h W_O‖", rangemode="tozero"))
    return fig


def _num(x: float, digits: int = 3) -> str:
    """A number for LaTeX: fixed digits, a proper minus sign, parentheses when negative."""
    s = f"{x:.{digits}f}"
    return f"({s})" if x < 0 else s


def dot_latex(dot, query: int, key: int, per_line: int = 2, lang: str = FALLBACK) -> str:
    """q_i · k_j written out term by term (the largest terms when there are many)."""
    terms = [rf"{_num(float(dot.q[d]))} \times {_num(float(dot.k[d]))}" for d in dot.shown]
    if dot.n_hidden:
        other = words("attention_grid", lang)["other_terms"].format(n=dot.n_hidden)
        terms.append(rf"\underbrace{{{_num(dot.rest)}}}_{{\text{{{other}}}}}")
    lines = [" + ".join(terms[i : i + per_line]) for i in range(0, len(terms), per_line)]
    body = r" \\ &\quad + ".join(lines)
    return (rf"\begin{{aligned}} q_{{{query}}} \cdot k_{{{key}}} &= \sum_{{d=1}}^{{{dot.terms.numel()}}} "
            rf"q_{{{query},d}}\, k_{{{key},d}} \\ &= {body} \\ &= {dot.total:.4f} \end{{aligned}}")


def cell_latex(cell) -> list[str]:
    """The steps of one cell after its dot product: scale, mask, softmax, and the weight times v_j."""
    i, j, root = cell.query, cell.key, math.sqrt(cell.d_k)
    s, m = rf"s_{{{i},{j}}}", rf"m_{{{i}}}"
    out = [rf"{s} = \frac{{q_{{{i}}} \cdot k_{{{j}}}}}{{\sqrt{{d_k}}}} = \frac{{{cell.dot.total:.4f}}}"
           rf"{{\sqrt{{{cell.d_k}}}}} = \frac{{{cell.dot.total:.4f}}}{{{root:.4g}}} = {cell.scaled:.4f}"]
    if not cell.allowed:
        out.append(rf"{s} + M_{{{i},{j}}} = {cell.scaled:.4f} + (-\infty) = -\infty"
                   rf"\quad\Rightarrow\quad w_{{{i},{j}}} = \frac{{e^{{-\infty}}}}{{\cdots}} = 0")
        return out
    out.append(rf"{s} + M_{{{i},{j}}} = {cell.scaled:.4f} + 0 = {cell.scaled:.4f}")
    out.append(
        rf"\begin{{aligned}} w_{{{i},{j}}} &= \frac{{e^{{{s} - {m}}}}}{{\sum_{{j' \le {i}}} e^{{s_{{{i},j'}} - {m}}}}}"
        rf" = \frac{{e^{{{cell.scaled:.4f} - {_num(cell.row_max, 4)}}}}}{{{cell.denominator:.4f}}} \\"
        rf" &= \frac{{{cell.exp:.4f}}}{{{cell.denominator:.4f}}} = {cell.weight:.4f} \end{{aligned}}"
    )
    out.append(rf"z_{{{i}}} = \sum_{{j' \le {i}}} w_{{{i},j'}}\, v_{{j'}} = \cdots + {cell.weight:.4f}\, v_{{{j}}}"
               r" + \cdots")
    return out


def contribution_figure(v, contribution, z, key: int, query: int, lang: str = FALLBACK) -> go.Figure:
    """v_j, w_ij·v_j and z_i side by side (dimensions across): how one weight scales v_j inside z_i."""
    m = np.vstack([np.asarray(v, float), np.asarray(contribution, float), np.asarray(z, float)])
    if m.shape[0] != 3:
        raise ValueError("contribution_figure needs three vectors of one length.")
    w = words("attention_grid", lang)
    rows = [w["row_value"].format(key=key), w["row_weighted"].format(key=key), w["row_output"].format(query=query)]
    fig = matrix_figure(m, rows, col_title=w["dimension_d"], text_limit=0, lang=lang)
    fig.update_layout(height=200)
    return fig


def terms_figure(dot, lang: str = FALLBACK) -> go.Figure:
    """Bars of every term q[d]·k[d] of a dot product, the ones written out in a stronger colour."""
    terms = np.asarray(dot.terms, dtype=float)
    shown = set(dot.shown)
    colours, w = ["#D55E00" if d in shown else "#56B4E9" for d in range(terms.size)], words("attention_grid", lang)
    fig = go.Figure(go.Bar(x=list(range(terms.size)), y=terms.round(4), marker_color=colours,
                           hovertemplate=w["hover_term"] + "<extra></extra>"))
    fig.update_layout(height=220, margin=dict(l=10, r=10, t=10, b=10), dragmode=False,
                      xaxis=dict(title=w["dimension_d"]), yaxis=dict(title="q[d] · k[d]"))
    return fig


# --- what each head does ----------------------------------------------------------------------------------


def score_figure(scores, name: str, selected: tuple[int, int] | None = None, lang: str = FALLBACK) -> go.Figure:
    """A (layer, head) heatmap of one head score, 0 to 1, values written in; point k of curve 1 is
    layer k // n_head, head k % n_head, for clicks."""
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2:
        raise ValueError(f"score_figure needs scores shaped (layer, head); got {s.shape}.")
    L, H = s.shape
    ls, hs = np.divmod(np.arange(L * H), H)
    w = words("attention_grid", lang)
    fig = go.Figure([
        go.Heatmap(z=s.round(3), x=list(range(H)), y=list(range(L)), zmin=0, zmax=1, colorscale="Viridis",
                   texttemplate="%{z:.2f}" if L * H <= 400 else None, hoverinfo="skip",
                   colorbar=dict(title=html.escape(name), thickness=12)),
        go.Scatter(x=hs, y=ls, mode="markers", marker=INVISIBLE, customdata=s.reshape(-1).round(3),
                   hovertemplate=put(w["hover_score"], name=html.escape(name)) + "<extra></extra>"),
    ])
    if selected is not None:
        fig.add_shape(type="rect", x0=selected[1] - 0.5, x1=selected[1] + 0.5, y0=selected[0] - 0.5,
                      y1=selected[0] + 0.5, line=dict(color=HIGHLIGHT, width=3))
    fig.update_layout(
        height=int(max(220, 60 + L * min(40, 700 / L))), margin=dict(l=10, r=10, t=30, b=10), hoverdistance=-1,
        dragmode=False, showlegend=False,
        xaxis=dict(tickvals=list(range(H)), ticktext=[str(h + 1) for h in range(H)], title=w["head_axis"], side="top",
                   showgrid=False, zeroline=False, range=[-0.5, H - 0.5]),
        yaxis=dict(tickvals=list(range(L)), ticktext=[str(i + 1) for i in range(L)], title=w["layer_axis"],
                   range=[L - 0.5, -0.5], showgrid=False, zeroline=False),
    )
    return fig


def test_sequence_figure(pattern, n: int, offset: int, title: str = "", lang: str = FALLBACK) -> go.Figure:
    """One head's pattern on the repeated random sequence [prefix] r r, with the copies marked and the
    diagonal an induction head follows (from each token of the second copy to the token after its
    first occurrence) drawn dashed."""
    a = _square(pattern)
    if offset + 2 * n != a.shape[0]:
        raise ValueError(f"A sequence of {offset} + 2 × {n} tokens needs a {offset + 2 * n}-square pattern; "
                         f"got {a.shape}.")
    z, w = masked_pattern(a), words("attention_grid", lang)
    fig = go.Figure(go.Heatmap(z=z, zmin=0, zmax=float(np.nanmax(z)) or 1, colorscale="Viridis", hoverongaps=False,
                               colorbar=dict(title=w["weight"], thickness=12),
                               hovertemplate=w["hover_test"] + "<extra></extra>"))
    edge = offset + n - 0.5
    fig.add_shape(type="line", x0=-0.5, x1=a.shape[0] - 0.5, y0=edge, y1=edge, line=dict(color="#999", width=1))
    fig.add_shape(type="line", x0=edge, x1=edge, y0=-0.5, y1=a.shape[0] - 0.5, line=dict(color="#999", width=1))
    fig.add_shape(type="line", x0=offset + 1, x1=offset + n, y0=offset + n, y1=offset + 2 * n - 1,
                  line=dict(color=HIGHLIGHT, width=1, dash="dash"))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(title=w["key_position"], showgrid=False, zeroline=False),
                      yaxis=dict(title=w["query_position"], autorange="reversed", showgrid=False, zeroline=False))
    return fig
