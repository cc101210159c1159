"""Overview: the whole forward pass on the sidebar prompt, at a glance."""

import streamlit as st

from gpt_core.analysis import top_next_tokens
from ui import state
from ui.text import section
from viz.attention import WINDOW, attention_heatmap, window_start
from viz.predictions import top_k_bars
from viz.tokens import chips_html

PAGE = "overview"
st.title("Overview")
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
run = state.current_run()
if run is None:
    st.info("Type some text in the sidebar, for example a line from a play, to see what the model does with it.")
    st.stop()

if run.truncated:
    st.warning(
        f"Your text was shortened. The model reads at most {run.context:,} tokens; your text has "
        f"{run.n_tokens_total:,}, so the first {run.truncated:,} were dropped and the last "
        f"{len(run.ids):,} are shown."
    )

T = len(run.ids)
c1, c2, c3 = st.columns(3)
c1.metric("Characters", f"{run.n_chars:,}")
c2.metric("Tokens", f"{run.n_tokens_total:,}")
c3.metric("Tokens the model reads", f"{T:,} of {run.context:,}")

st.markdown(section(PAGE, "tokens"))
st.html(chips_html(run.tokens, run.ids, [bundle.tokenizer.token_bytes(i) for i in run.ids]))
if any("\ufffd" in t for t in run.tokens):
    st.caption(section(PAGE, "partial"))


@st.fragment
def attention_view() -> None:
    st.markdown(section(PAGE, "attention"))
    cfg = bundle.model.config
    left, right, rest = st.columns([1, 1, 2])
    layer = left.selectbox("Layer", range(cfg.n_layer), key=state.widget_key(PAGE, "layer"),
                           format_func=lambda i: f"Layer {i + 1} of {cfg.n_layer}")
    head = right.selectbox("Head", range(cfg.n_head), key=state.widget_key(PAGE, "head"),
                           format_func=lambda i: f"Head {i + 1} of {cfg.n_head}")
    start = 0
    if T > WINDOW:
        start = rest.slider("First position shown", 0, window_start(T), window_start(T),
                            key=state.widget_key(PAGE, "window"))
        st.caption(
            f"Your text has {T} tokens; to keep the labels legible the map shows {WINDOW} positions at a "
            f"time ({start}–{start + WINDOW - 1}). Move the slider to see others. Rows still add up to 1 "
            "over all earlier tokens, including those left of the window."
        )
    fig = attention_heatmap(run.cache.pattern(layer)[head], run.tokens, start, start + min(T, WINDOW),
                            title=f"Layer {layer + 1}, head {head + 1}")
    st.plotly_chart(fig, width="stretch", key=state.widget_key(PAGE, "heatmap"))
    st.caption(section(PAGE, "masked"))


attention_view()

st.markdown(section(PAGE, "predictions"))
top = top_next_tokens(run.last_logits, bundle.tokenizer, k=10)
ids = [c.token for c in top]
bars = top_k_bars([c.text for c in top], [c.prob for c in top], ids, [bundle.tokenizer.token_bytes(i) for i in ids])
st.plotly_chart(bars, width="stretch", key=state.widget_key(PAGE, "top10"))
st.caption(
    f"Probabilities are a softmax over the whole vocabulary of {run.last_logits.numel():,} tokens, "
    f"not only over these ten; together these ten hold {sum(c.prob for c in top):.1%} of it."
)
