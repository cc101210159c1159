"""Model: the loaded model's shape, parameters, block data flow and origin."""

import streamlit as st

from ui import charts, describe, state
from ui.text import label, lang, section, title
from viz.model import block_dot, param_bars, param_rows

PAGE = "model"
st.title(title(PAGE))
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
model, info, cfg = bundle.model, bundle.info, bundle.model.config

st.markdown(section(PAGE, "config"))
charts.table(st, describe.config_rows(bundle), name="model_configuration", key=state.widget_key(PAGE, "config_csv"))

st.markdown(section(PAGE, "params"))
counts = info.param_counts
left, right = st.columns([1, 1])
charts.table(left, param_rows(counts, cfg.tie_word_embeddings, lang()), name="parameters",
             key=state.widget_key(PAGE, "params_csv"))
charts.show(right, param_bars(counts, lang()), key=state.widget_key(PAGE, "params"), name="parameters")
if cfg.tie_word_embeddings:
    st.caption(section(PAGE, "tied"))
counted = model.num_parameters()
m1, m2 = st.columns(2)
m1.metric(label(PAGE, "total_metric"), f"{counts['total']:,}")
m2.metric(label(PAGE, "counted_metric"), f"{counted:,}")
if counted == counts["total"]:
    st.success(label(PAGE, "counts_match"))
else:
    st.warning(label(PAGE, "counts_differ", diff=counted - counts["total"]))

st.markdown(section(PAGE, "block"))
diagram, steps = st.columns([1, 1])
diagram.graphviz_chart(block_dot(cfg.n_head, cfg.n_embd, cfg.d_mlp, cfg.block_size, lang()),
                       alt=label(PAGE, "block_alt"))
steps.markdown(section(PAGE, "block_steps"))

st.markdown(section(PAGE, "provenance"))
if description := describe.recorded(info, "description"):
    st.text(description)
charts.table(st, describe.provenance_rows(info), name="model_provenance", key=state.widget_key(PAGE, "provenance_csv"))
commands = info.meta.get("commands", [])
if commands:
    st.caption(label(PAGE, "commands"))
    st.code("\n\n".join(commands), language="bash")
