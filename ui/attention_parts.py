"""Pieces of the Attention page: widget keys and texts, click callbacks, and the panels that draw
one computed object each (one cell, the formula's steps, the wrong formula, the exports).

Streamlit glue only: the numbers come from gpt_core.attention_math, the figures from viz.attention_grid.
"""

from __future__ import annotations

import math

import streamlit as st

from gpt_core import attention_math as am
from gpt_core.cache import ActivationCache
from gpt_core.model import GPT
from ui import charts, presenter, state
from ui import text as ui_text
from ui.text import lang, section
from viz import attention_grid as ag
from viz.tokens import axis_labels, visible

PAGE = "attention"
LINES_MIN = 0.02  # weights under this are not drawn as lines in the head view
CHECK_TOLERANCE = 1e-4  # float32 recomputation vs the model's own activations


def key(name: str) -> str:
    return state.widget_key(PAGE, name)


def labels() -> dict[str, str]:
    return ui_text.labels(PAGE)


def text(name: str, **values) -> str:
    return ui_text.fill(PAGE, name, **values)


def keep(name: str, lo: int, hi: int, default: int) -> None:
    """Start a picker at ``default``; bring back into range a value left by a longer text or a larger model."""
    value = st.session_state.get(key(name))
    if not isinstance(value, int) or not lo <= value <= hi:
        st.session_state[key(name)] = default


def position_label(tokens: list[str]):
    return lambda i: f"{i} · {visible(tokens[i])}"


# --- clicks on charts set the same pickers a keyboard user sets ------------------------------------------


def pick_head(chart: str, n_head: int):
    """Callback for a click on the head grid or the score map: point k is layer k // n_head, head k % n_head."""

    def callback() -> None:
        hit = ag.picked_index(st.session_state.get(key(chart)))
        if hit is not None and hit[0] == 1:
            st.session_state[key("layer")], st.session_state[key("head")] = divmod(hit[1], n_head)

    return callback


def pick_cell(chart: str, start: int, stop: int):
    """Callback for a click on the large pattern: sets the query and key pickers."""

    def callback() -> None:
        cell = ag.picked_cell(st.session_state.get(key(chart)), start, stop)
        if cell is not None:
            st.session_state[key("query")], st.session_state[key("key")] = cell

    return callback


def pick_key(chart: str, start: int):
    """Callback for a click on one query's bars: bar k is key start + k."""

    def callback() -> None:
        hit = ag.picked_index(st.session_state.get(key(chart)))
        if hit is not None:
            st.session_state[key("key")] = start + hit[1]

    return callback


# --- panels -----------------------------------------------------------------------------------------------


def check(diff: float, hook: str, kind: str = "check") -> None:
    """Say how far a recomputed step is from the model's own activation (``kind``: which texts say it)."""
    if diff == 0:
        st.caption(text(kind + "_exact", hook=hook))
    elif diff <= CHECK_TOLERANCE:
        st.caption(text(kind, hook=hook, diff=diff))
    else:
        st.error(text("check_failed", hook=hook, diff=diff))


def draw_cell(cell: am.CellWork) -> None:
    """One weight by hand: the dot product, ÷√d_k, + M, softmax, and how the weight scales v_j."""
    lab = labels()
    st.markdown(text("cell", i=cell.query, j=cell.key))
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.latex(ag.dot_latex(cell.dot, cell.query, cell.key, lang=lang()))
        for line in ag.cell_latex(cell):
            st.latex(line)
        if not cell.allowed:
            st.info(text("cell_masked", i=cell.query, j=cell.key))
        else:
            st.caption(text("cell_softmax", row_max=cell.row_max, i=cell.query))
    with right:
        st.caption(lab["all_terms"])
        charts.show(st, ag.terms_figure(cell.dot, lang()), key=key("terms"), name="dot_product_terms")
        if cell.dot.n_hidden:
            st.caption(text("cell_terms", d_k=cell.d_k, shown=len(cell.dot.shown)))
        if cell.allowed:
            st.markdown(text("cell_output", j=cell.key, count=cell.query + 1, i=cell.query))
            charts.show(st, ag.contribution_figure(cell.v, cell.contribution, cell.z, cell.key, cell.query, lang()),
                        key=key("contribution"), name="value_times_weight")


def draw_formula(work: am.HeadWork) -> None:
    """The formula, with this head's sizes."""
    st.markdown(section(PAGE, "formula"))
    st.latex(ag.ATTENTION_LATEX)
    st.caption(text("shapes", T=work.n_tokens, d_k=work.d_k, root=math.sqrt(work.d_k)))


def draw_steps(work: am.HeadWork, cache: ActivationCache, model: GPT, start: int, stop: int, query: int,
               tokens: list[str]) -> None:
    """One step of the formula at a time, with this head's matrices and a check against the model."""
    lab = labels()
    st.markdown(section(PAGE, "steps"))
    st.session_state.setdefault(key("step"), ag.STEPS[0])
    step = st.radio(lab["step"], ag.STEPS, format_func=lab.get, key=key("step"), horizontal=True)
    n_head = cache[f"blocks.{work.layer}.attn.hook_q"].shape[2]
    d_model = cache["hook_embed"].shape[-1]
    st.latex(ag.step_latex(step, work.n_tokens, work.d_k, n_head, d_model))
    rows, w = axis_labels(tokens[start:stop], start), slice(start, stop)
    checks = am.model_checks(work, cache)

    def matrix(m, kind: str = "signed", cols=rows, col_title: str = "", name: str = step) -> None:
        charts.show(st, ag.matrix_figure(m, rows, cols, kind=kind, col_title=col_title, lang=lang()),
                    key=key(f"m_{name}"), name=f"attention_{name}", table=True)

    if step == "step_qkv":
        st.markdown(text(step, d_k=work.d_k))
        for tab, name, m in zip(st.tabs(["Q", "K", "V"]), ("matrix_q", "matrix_k", "matrix_v"),
                                (work.q, work.k, work.v), strict=True):
            with tab:
                st.caption(lab[name])
                matrix(m[w].numpy(), cols=None, col_title=lab["dimension"], name=name)
    elif step in ("step_scores", "step_scale"):
        st.markdown(text(step, root=math.sqrt(work.d_k)))
        matrix((work.scores if step == "step_scores" else work.scaled)[w, w].numpy())
    elif step == "step_mask":
        st.markdown(text(step))
        matrix(work.masked[w, w].numpy(), kind="masked")
        check(checks["scores"], "hook_attn_scores", "check_scores")
    elif step == "step_softmax":
        st.markdown(text(step, worst=am.worst_row_sum_error(work.pattern)))
        matrix(work.pattern[w, w].numpy(), kind="weight")
        check(checks["pattern"], "hook_pattern")
    elif step == "step_output":
        st.markdown(text(step))
        matrix(work.z[w].numpy(), cols=None, col_title=lab["dimension"])
        check(checks["z"], "hook_z", "check_z")
    else:
        proj = am.project_heads(cache, *am.output_weights(model, work.layer), work.layer)
        st.markdown(text(step, n_head=n_head, d_k=work.d_k, width=proj.concat.shape[1], d_model=d_model))
        matrix(proj.concat[w].numpy(), cols=None, col_title=lab["concat_columns"])
        st.markdown(section(PAGE, "per_head"))
        charts.show(st, ag.head_share_figure(am.head_output_norms(proj, query), work.head, lang=lang()),
                    key=key("per_head"), name="head_shares")
        check(proj.reference, "hook_attn_out")


def draw_wrong(work: am.HeadWork, start: int, stop: int, tokens: list[str]) -> None:
    """The widely copied wrong formula, what is wrong with it, and the row sums of both on this text."""
    lab = labels()
    wrong = am.wrong_formula(work)
    st.markdown(section(PAGE, "wrong"))
    st.latex(ag.wrong_latex(lang()))
    left, right = st.columns(2, gap="large")
    left.markdown(section(PAGE, "wrong_what"))
    with right:
        st.caption(text("wrong_literal" if wrong.literal else "wrong_reading", T=work.n_tokens, d_k=work.d_k,
                        eps=wrong.eps))
        st.markdown(text("wrong_result", right=wrong.worst_right, wrong=wrong.worst_wrong))
        m1, m2 = st.columns(2)
        m1.metric(lab["metric_right"], f"{wrong.worst_right:.1e}")
        m2.metric(lab["metric_wrong"], f"{wrong.worst_wrong:.3g}")
    rows = [{lab["col_query"]: i, lab["col_token"]: visible(tokens[i]),
             lab["col_right"]: float(wrong.right_row_sums[i]), lab["col_wrong"]: float(wrong.wrong_row_sums[i]),
             lab["col_future"]: float(wrong.wrong_future[i])} for i in range(start, stop)]
    st.dataframe(rows, hide_index=True, height=250, width="stretch", column_config={
        lab["col_right"]: st.column_config.NumberColumn(format="%.6f"),
        lab["col_wrong"]: st.column_config.NumberColumn(format="%.4g"),
        lab["col_future"]: st.column_config.NumberColumn(format="%.4g"),
    })


def draw_export(work: am.HeadWork, tokens: list[str], score_maps: dict, layer: int, head: int) -> None:
    """CSV downloads, built only when clicked (none in presenter mode: a class does not download)."""
    if presenter.on():
        return
    lab = labels()
    st.markdown(section(PAGE, "export"))
    name = f"attention_layer{layer + 1}_head{head + 1}"
    files = [
        ("csv_pattern", f"{name}_pattern.csv", lambda: am.to_csv(am.pattern_rows(work.pattern, tokens))),
        ("csv_qkv", f"{name}_qkv.csv", lambda: am.to_csv(am.qkv_rows(work, tokens))),
        ("csv_scores", "head_scores.csv", lambda: am.to_csv(am.score_rows(score_maps))),
    ]
    for col, (label, file_name, data) in zip(st.columns(len(files)), files, strict=True):
        col.download_button(lab[label], data=data, file_name=file_name, mime="text/csv", on_click="ignore",
                            key=key(label), icon=":material/download:")
