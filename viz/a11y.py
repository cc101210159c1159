"""Text alternatives for charts: the sentence a screen reader reads for a chart, and the table behind it.

Pure: a plotly Figure (or arrays and token strings) in, plain text or table rows out, always with the
chart's own numbers. Words come from ``assets/text/charts.<lang>.md`` (sections "summary" and "labels").
Labels inside figures are escaped HTML (``axis_labels``), sometimes with tags; here they become plain
text again, so a caller must escape them before putting them into HTML (Streamlit's ``alt`` and
``st.dataframe`` treat them as text).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .catalog import labels
from .tokens import visible

_TAG = re.compile(r"<[^>]*>")
MAX_TRACES = 4  # traces a summary describes; the table alternative holds the rest


def words(lang: str = "en") -> dict[str, str]:
    return labels("charts", "summary", lang)


def plain(label) -> str:
    """A figure label as plain text: tags dropped, entities decoded."""
    return html.unescape(_TAG.sub("", str(label))).strip()


def quoted(token: str) -> str:
    """A token for a sentence: whitespace drawn as in the charts (⋅ ↵ →), in typographic quotes."""
    return f"“{visible(token)}”"


def number(x: float) -> str:
    """A value for a sentence: three significant digits, thousands separated."""
    if not np.isfinite(x):
        return "—"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def percent(p: float) -> str:
    return f"{p:.1%}" if p >= 0.01 else f"{p:.2%}"


def _weight(w: float) -> str:
    """An attention weight for a sentence; "—" where the row had none (all hidden)."""
    return f"{w:.2f}" if w >= 0 else "—"


def _invisible(trace) -> bool:
    """Click targets and legend-only entries: no data a reader needs."""
    if trace.type != "scatter":
        return False
    xs = trace.x
    if xs is None or all(v is None for v in np.asarray(xs, dtype=object).reshape(-1)):
        return True
    colour = str(trace.marker.color if trace.marker else "").replace(" ", "")
    return (trace.mode or "") == "markers" and colour in ("rgba(0,0,0,0)", "transparent")


def data_traces(fig: go.Figure) -> list:
    """The traces that carry the chart's numbers (not click targets, not legend-only entries)."""
    return [t for t in fig.data if not _invisible(t)]


def _axis(values, n: int, ticks: dict | None = None) -> list[str]:
    """Labels of n points along an axis; numbers the axis relabels (tickvals → ticktext) read as shown."""
    if isinstance(values, str):  # one text for every point
        return [plain(values)] * n
    raw = range(n) if values is None else np.asarray(values, dtype=object).reshape(-1)[:n]
    if ticks:
        return [ticks.get(v, plain(v)) if isinstance(v, (int, float, np.number)) else plain(v) for v in raw]
    return [plain(v) for v in raw]


def _ticks(fig: go.Figure | None, trace, letter: str) -> dict:
    """tickvals → ticktext of the axis a trace is drawn on, when the layout relabels it."""
    if fig is None:
        return {}
    ref = getattr(trace, f"{letter}axis", None) or letter  # "x", "x2", ...
    axis = fig.layout[f"{letter}axis{ref[1:]}"]
    if axis is None or axis.tickvals is None or axis.ticktext is None:
        return {}
    return {float(v): plain(t) for v, t in zip(axis.tickvals, axis.ticktext, strict=False)}


def _floats(values) -> np.ndarray:
    if values is None:
        return np.zeros(0)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(float).reshape(-1)
    a = np.asarray([np.nan if v is None else v for v in np.asarray(values, dtype=object).reshape(-1)], dtype=object)
    try:
        return a.astype(float)
    except (TypeError, ValueError):
        return np.full(a.shape, np.nan)


def _heatmap_z(trace) -> np.ndarray:
    if isinstance(trace.z, np.ndarray) and trace.z.dtype.kind in "biuf":
        return trace.z.astype(float).reshape(trace.z.shape[0], -1)
    z = np.asarray(trace.z, dtype=object)
    z = np.where(z == None, np.nan, z)  # noqa: E711 (element-wise: missing cells are None)
    return z.astype(float).reshape(z.shape[0], -1)


def _bars(trace) -> tuple[list[str], np.ndarray]:
    """(categories, values) of a bar trace, whichever way it lies."""
    horizontal = trace.orientation == "h"
    values = _floats(trace.x if horizontal else trace.y)
    return _axis(trace.y if horizontal else trace.x, values.size), values


def _named(trace, w: dict[str, str]) -> str:
    return w["named"].format(name=plain(trace.name)) if trace.name else ""


def trace_sentence(trace, w: dict[str, str], fig: go.Figure | None = None) -> str | None:
    """One sentence about one trace, with its largest (and smallest or last) values; None if it has none."""
    if trace.type == "heatmap":
        z = _heatmap_z(trace)
        if not np.isfinite(z).any():
            return None
        i, j = np.unravel_index(int(np.nanargmax(z)), z.shape)
        rows = _axis(trace.y, z.shape[0], _ticks(fig, trace, "y"))
        cols = _axis(trace.x, z.shape[1], _ticks(fig, trace, "x"))
        return w["heatmap"].format(rows=z.shape[0], cols=z.shape[1], low=number(float(np.nanmin(z))),
                                   high=number(float(z[i, j])), row=rows[i], col=cols[j])
    if trace.type == "bar":
        cats, values = _bars(trace)
        if not np.isfinite(values).any():
            return None
        hi, lo = int(np.nanargmax(values)), int(np.nanargmin(values))
        return w["bars"].format(n=values.size, name=_named(trace, w), label=cats[hi], value=number(values[hi]),
                                low_label=cats[lo], low=number(values[lo]))
    if trace.type == "scatter":
        ys = _floats(trace.y)
        xs = _axis(trace.x, ys.size)
        keep = np.flatnonzero(np.isfinite(ys))
        if keep.size == 0:
            return None
        if "lines" in (trace.mode or "lines"):
            h = keep[int(np.argmax(ys[keep]))]
            return w["line"].format(name=_named(trace, w), n=keep.size, first=number(ys[keep[0]]), x0=xs[keep[0]],
                                    last=number(ys[keep[-1]]), x1=xs[keep[-1]], high=number(ys[h]), xh=xs[h])
        return w["points"].format(n=keep.size, name=_named(trace, w))
    return None


def title_of(fig: go.Figure) -> str:
    """The figure's title, or else its axis titles ("dimension d · q[d] · k[d]"), or ""."""
    text = fig.layout.title.text if fig.layout.title else None
    if text:
        return plain(text)
    axes = [fig.layout[a].title.text for a in ("xaxis", "yaxis") if fig.layout[a].title]
    return " · ".join(plain(t) for t in axes if t)


def figure_summary(fig: go.Figure, lang: str = "en", title: str = "") -> str:
    """A short description of a chart for a screen reader, from its own data: "Title: heat map of …"."""
    w = words(lang)
    sentences = [s for s in (trace_sentence(t, w, fig) for t in data_traces(fig)[:MAX_TRACES]) if s]
    head = title or title_of(fig) or w["chart"]
    sep, gap = ("：", "") if lang == "zh" else (": ", " ")
    return f"{head}{sep}{gap.join(sentences)}" if sentences else head


def is_heatmap(fig: go.Figure) -> bool:
    """Whether figure_table reads this figure as a heat map's grid."""
    return any(t.type == "heatmap" for t in data_traces(fig))


def figure_table(fig: go.Figure, lang: str = "en") -> list[dict]:
    """The numbers behind a chart as table rows: a heat map's grid (rows × columns), bars by category
    (one column per series), or lines and points as (series, x, y)."""
    lab = labels("charts", "labels", lang)
    traces = data_traces(fig)
    heat = [t for t in traces if t.type == "heatmap"]
    if heat:
        t = heat[0]
        z = _heatmap_z(t)
        rows, cols = _axis(t.y, z.shape[0], _ticks(fig, t, "y")), _axis(t.x, z.shape[1], _ticks(fig, t, "x"))
        return [{lab["row"]: r} | {c: (None if np.isnan(v) else float(v)) for c, v in zip(cols, z[i], strict=True)}
                for i, r in enumerate(rows)]
    bars = [t for t in traces if t.type == "bar"]
    if bars:
        table: dict[str, dict] = {}
        for n, t in enumerate(bars):
            name = plain(t.name) if t.name else (lab["value"] if n == 0 else f"{lab['value']} {n + 1}")
            for cat, v in zip(*_bars(t), strict=True):
                table.setdefault(cat, {lab["label"]: cat})[name] = None if np.isnan(v) else float(v)
        return list(table.values())
    out = []
    for t in traces:
        if t.type != "scatter":
            continue
        ys = _floats(t.y)
        xs, texts = _axis(t.x, ys.size), _axis(t.text, ys.size) if t.text is not None else [""] * ys.size
        for x, y, text in zip(xs, ys, texts, strict=False):
            row = {lab["series"]: plain(t.name or ""), "x": x, "y": None if np.isnan(y) else float(y)}
            out.append(row | ({lab["label"]: text} if t.text is not None else {}))
    return out


# --- sentences for the charts that matter most, with their own numbers --------------------------------------


def attention_summary(pattern, tokens: Sequence[str], layer: int, head: int, query: int, lang: str = "en") -> str:
    """ "Layer 2, head 3: token “the” (position 5) attends most to “of” (position 4) with weight 0.62."

    ``pattern``: the head's (T, T) weights; ``layer`` and ``head`` count from 1 as on screen.
    """
    row = np.nan_to_num(np.asarray(pattern, dtype=float)[query, : query + 1], nan=-1.0)
    j = int(np.argmax(row))
    return words(lang)["attention"].format(layer=layer, head=head, query=quoted(tokens[query]), qpos=query,
                                           key=quoted(tokens[j]), kpos=j, weight=_weight(float(row[j])))


def next_summary(tokens: Sequence[str], probs: Sequence[float], lang: str = "en", n: int = 5) -> str:
    """ "Most likely next tokens: “the” 12.3%, “a” 8.1%, …" (the first ``n``, most likely first)."""
    w = words(lang)
    order = sorted(range(len(tokens)), key=lambda i: -probs[i])[:n]
    sep = "，" if lang == "zh" else ", "
    items = sep.join(w["next_item"].format(token=quoted(tokens[i]), prob=percent(probs[i])) for i in order)
    return w["next"].format(items=items)


def grid_summary(n_layer: int, n_head: int, first: int, last: int, layer: int, head: int, lang: str = "en") -> str:
    """The all-heads grid: its size, the positions it shows, the head outlined (all counted from 1 but positions)."""
    return words(lang)["grid"].format(n=n_layer * n_head, layers=n_layer, heads=n_head, first=first, last=last,
                                      layer=layer, head=head)


def lines_summary(patterns, tokens: Sequence[str], start: int, stop: int, title: str, lang: str = "en") -> str:
    """The head view: which (query → key) line is strongest among ``patterns`` (n, T, T) over positions start..stop."""
    p = np.nan_to_num(np.asarray(patterns, dtype=float)[:, start:stop, start:stop], nan=-1.0)
    p = np.where(np.tril(np.ones(p.shape[-2:], dtype=bool)), p, -1.0)
    _, i, j = np.unravel_index(int(np.argmax(p)), p.shape)
    return words(lang)["lines"].format(title=title, query=quoted(tokens[start + i]), key=quoted(tokens[start + j]),
                                       weight=_weight(float(p.max())))


def token_rows(tokens: Sequence[str], ids: Sequence[int], probs: Sequence[float], lang: str = "en") -> list[dict]:
    """The table behind a next-token chart: rank, token (whitespace drawn), id and probability, likeliest first."""
    lab = labels("charts", "labels", lang)
    order = sorted(range(len(tokens)), key=lambda i: -probs[i])
    return [{lab["rank"]: r, lab["token"]: visible(tokens[i]), lab["id"]: int(ids[i]),
             lab["probability"]: float(probs[i])} for r, i in enumerate(order, 1)]


def embedding_rows(token_rows, pos_rows, tokens: Sequence[str], first_position: int, dim_start: int,
                   lang: str = "en") -> list[dict]:
    """The table behind the embedding lookup: one row per (token, dimension) with both embeddings and their sum.

    ``token_rows`` and ``pos_rows`` are (n, d) for the n tokens shown, already cut to the dimensions shown.
    """
    lab = labels("charts", "labels", lang)
    tok, pos = np.asarray(token_rows, dtype=float), np.asarray(pos_rows, dtype=float)
    return [{lab["position"]: first_position + i, lab["token"]: visible(t), lab["dimension"]: dim_start + d,
             lab["token_embedding"]: float(tok[i, d]), lab["position_embedding"]: float(pos[i, d]),
             lab["sum"]: float(tok[i, d] + pos[i, d])}
            for i, t in enumerate(tokens) for d in range(tok.shape[1])]
