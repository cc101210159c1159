"""Model: the loaded model's shape, parameters, block data flow and origin."""

import streamlit as st

from ui import describe, state
from ui.text import section
from viz.model import block_dot, param_bars, param_rows

PAGE = "model"
st.title("Model")
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
model, info, cfg = bundle.model, bundle.info, bundle.model.config

st.markdown(section(PAGE, "config"))
st.table(describe.config_rows(bundle), hide_index=True)

st.markdown(section(PAGE, "params"))
counts = info.param_counts
left, right = st.columns([1, 1])
left.table(param_rows(counts, cfg.tie_word_embeddings), hide_index=True)
right.plotly_chart(param_bars(counts), width="stretch", key=state.widget_key(PAGE, "params"))
if cfg.tie_word_embeddings:
    st.caption(section(PAGE, "tied"))
counted = model.num_parameters()
m1, m2 = st.columns(2)
m1.metric("Total, from the shapes", f"{counts['total']:,}")
m2.metric("Counted in the loaded model's tensors", f"{counted:,}")
if counted == counts["total"]:
    st.success("The two counts match: every parameter of the model is in the table.")
else:
    st.warning(f"The counts differ by {counted - counts['total']:,}: the table misses some tensors.")

st.markdown(section(PAGE, "block"))
diagram, steps = st.columns([1, 1])
diagram.graphviz_chart(block_dot(cfg.n_head, cfg.n_embd, cfg.d_mlp, cfg.block_size),
                       alt="Data flow through one transformer block of this model, with tensor shapes")
steps.markdown(section(PAGE, "block_steps"))

st.markdown(section(PAGE, "provenance"))
if info.description:
    st.text(info.description)
st.table(describe.provenance_rows(info), hide_index=True)
commands = info.meta.get("commands", [])
if commands:
    st.caption("Commands that trained it, in order (each continues from the one before):")
    st.code("\n\n".join(commands), language="bash")
