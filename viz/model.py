"""The architecture of the loaded model: parameters per component and the data flow of one block."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from .catalog import FALLBACK, words

# The parameter counts' components, in the order shown; their names are in figures.<lang>.md, section "model"
COMPONENTS = ("token_embedding", "position_embedding", "attention", "mlp", "layer_norms", "head")


def _checked(counts: Mapping[str, int]) -> dict[str, int]:
    """The per-component counts, after checking they are complete and add up to the total."""
    missing = [k for k in [*COMPONENTS, "total"] if k not in counts]
    if missing:
        raise ValueError(f"Parameter counts lack {', '.join(missing)}.")
    parts = {k: int(counts[k]) for k in COMPONENTS}
    if sum(parts.values()) != int(counts["total"]):
        raise ValueError(f"Components add up to {sum(parts.values()):,}, not the total {int(counts['total']):,}.")
    return parts


def param_rows(counts: Mapping[str, int], tied: bool, lang: str = FALLBACK) -> list[dict]:
    """Table rows (component, parameters as text, share of total), the head marked when it is tied."""
    parts, total, w = _checked(counts), int(counts["total"]), words("model", lang)
    component, parameters, share = w["col_component"], w["col_parameters"], w["col_share"]
    rows = []
    for key, n in parts.items():
        name = w["tied"].format(name=w[key]) if key == "head" and tied else w[key]
        rows.append({component: name, parameters: f"{n:,}", share: f"{n / total:.1%}"})
    rows.append({component: w["total"], parameters: f"{total:,}", share: "100.0%"})
    return rows


def param_bars(counts: Mapping[str, int], lang: str = FALLBACK) -> go.Figure:
    """Horizontal bars of parameters per component; the bars add up to the total."""
    parts, w = _checked(counts), words("model", lang)
    total = int(counts["total"])
    labels = [w[k] for k in parts]
    fig = go.Figure(
        go.Bar(
            x=list(parts.values()), y=labels, orientation="h", marker_color="#009E73", cliponaxis=False,
            text=[f"{n:,} ({n / total:.1%})" for n in parts.values()], textposition="outside",
            hovertemplate=w["hover"] + "<extra></extra>",
        )
    )
    fig.update_layout(
        height=300, margin=dict(l=10, r=110, t=10, b=10),
        xaxis=dict(title=w["x_title"]), yaxis=dict(autorange="reversed"),
    )
    return fig


def block_dot(n_head: int, d_model: int, d_mlp: int, context: int, lang: str = FALLBACK) -> str:
    """Graphviz DOT of one transformer block, with this model's shapes on the edges.

    T is the number of tokens in the input (at most ``context``).
    """
    if min(n_head, d_model, d_mlp, context) < 1 or d_model % n_head:
        raise ValueError(f"Invalid shape: {n_head} heads cannot split d_model = {d_model} evenly.")
    d_head, w = d_model // n_head, words("model", lang)
    x, h3, heads = f"T × {d_model}", f"T × {3 * d_model}", f"{n_head} × T × {d_head}"
    nodes = {  # "\\n" in the words is DOT's line break
        "x": w["node_in"].format(x=x, context=context),
        "ln1": "LayerNorm",
        "qkv": w["node_qkv"].format(d=d_model, d3=3 * d_model),
        "split": w["node_split"].format(n_head=n_head, heads=heads),
        "attn": w["node_attn"].format(d_head=d_head),
        "concat": w["node_concat"],
        "proj": w["node_proj"].format(d=d_model),
        "add1": "+",
        "ln2": "LayerNorm",
        "fc": f"Linear {d_model} → {d_mlp}",
        "gelu": "GELU",
        "fc2": f"Linear {d_mlp} → {d_model}",
        "add2": "+",
        "out": w["node_out"].format(x=x),
    }
    edges = [
        ("x", "ln1", x), ("ln1", "qkv", x), ("qkv", "split", h3), ("split", "attn", f"3 × ({heads})"),
        ("attn", "concat", heads), ("concat", "proj", x), ("proj", "add1", x), ("add1", "ln2", x),
        ("ln2", "fc", x), ("fc", "gelu", f"T × {d_mlp}"), ("gelu", "fc2", f"T × {d_mlp}"),
        ("fc2", "add2", x), ("add2", "out", x),
    ]
    lines = [
        "digraph block {",
        '  bgcolor="transparent"; rankdir=TB; nodesep=0.4; ranksep=0.3;',
        '  node [shape=box, style="rounded,filled", fillcolor="#DCEBF7", color="#0072B2", fontcolor="#1a1a1a",'
        ' fontname="Helvetica", fontsize=11];',
        '  edge [color="#888888", fontcolor="#888888", fontname="Helvetica", fontsize=10];',
    ]
    for name, label in nodes.items():
        extra = ', shape=circle, fillcolor="#FBE3C2", color="#E69F00"' if name.startswith("add") else ""
        if name in ("fc", "gelu", "fc2"):
            extra = ', fillcolor="#D5EFE6", color="#009E73"'
        lines.append(f'  {name} [label="{label}"{extra}];')
    lines += [f'  {a} -> {b} [label="  {shape}"];' for a, b, shape in edges]
    lines += [
        f'  x -> add1 [label="  {w["residual"]}", style=dashed];',
        f'  add1 -> add2 [label="  {w["residual"]}", style=dashed];',
        "}",
    ]
    return "\n".join(lines)
