"""Overview: the whole forward pass on the sidebar prompt, at a glance."""

import streamlit as st

from gpt_core.analysis import top_next_tokens
from ui import charts, handout, links, presenter, state
from ui.text import fill, label, labels, lang, section, title
from viz import a11y
from viz.attention import WINDOW, attention_heatmap, window_start
from viz.predictions import top_k_bars
from viz.tokens import chips_html

PAGE = "overview"
st.title(title(PAGE))
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
run = state.current_run()
if run is None:
    st.info(section(PAGE, "empty"))
    st.stop()

if run.truncated:
    st.warning(fill(PAGE, "truncated", context=run.context, total=run.n_tokens_total, dropped=run.truncated,
                    kept=len(run.ids)))

T = len(run.ids)
if not presenter.on():  # presenter mode keeps the screen for the tokens and the next-token chart
    c1, c2, c3 = st.columns(3)
    c1.metric(label(PAGE, "characters"), f"{run.n_chars:,}")
    c2.metric(label(PAGE, "tokens"), f"{run.n_tokens_total:,}")
    c3.metric(label(PAGE, "reads"), label(PAGE, "reads_value", n=T, context=run.context))
first = st.container() if presenter.on() else None  # presenter mode: the next-token chart (its step 4) comes first

st.markdown(section(PAGE, "tokens"))
st.html(chips_html(run.tokens, run.ids, [bundle.tokenizer.token_bytes(i) for i in run.ids], lang=lang()))
if any("\ufffd" in t for t in run.tokens):
    st.caption(section(PAGE, "partial"))


@st.fragment
def attention_view() -> None:
    st.markdown(section(PAGE, "attention"))
    cfg = bundle.model.config
    left, right, rest = st.columns([1, 1, 2])
    lab = labels(PAGE)  # option names in this run's language
    layer = left.selectbox(lab["layer"], range(cfg.n_layer), key=state.widget_key(PAGE, "layer"),
                           format_func=lambda i: lab["layer_of"].format(i=i + 1, n=cfg.n_layer))
    head = right.selectbox(lab["head"], range(cfg.n_head), key=state.widget_key(PAGE, "head"),
                           format_func=lambda i: lab["head_of"].format(i=i + 1, n=cfg.n_head))
    start = 0
    if T > WINDOW:
        start = rest.slider(label(PAGE, "window"), 0, window_start(T), window_start(T),
                            key=state.widget_key(PAGE, "window"))
        st.caption(fill(PAGE, "window", n=T, size=WINDOW, first=start, last=start + WINDOW - 1))
    fig = attention_heatmap(run.cache.pattern(layer)[head], run.labels, start, start + min(T, WINDOW),
                            title=label(PAGE, "heatmap_title", layer=layer + 1, head=head + 1), lang=lang())
    charts.show(st, fig, key=state.widget_key(PAGE, "heatmap"), name=f"attention_layer{layer + 1}_head{head + 1}",
                alt=a11y.attention_summary(run.cache.pattern(layer)[head], run.labels, layer + 1, head + 1, T - 1,
                                           lang()), table=True)
    st.caption(section(PAGE, "masked"))
    handout.button(st, run, layer, head, T - 1, start, start + min(T, WINDOW), key=state.widget_key(PAGE, "handout"))
    links.write()  # a fragment rerun changed the view: the address follows


with presenter.tucked("attention_tucked"):  # presenter mode: attention was the step before
    attention_view()

with first or st.container():
    st.markdown(section(PAGE, "predictions"))
    top = top_next_tokens(run.last_logits, bundle.tokenizer, k=10)
    ids = [c.token for c in top]
    bars = top_k_bars([c.text for c in top], [c.prob for c in top], ids,
                      [bundle.tokenizer.token_bytes(i) for i in ids], lang=lang())
    texts, probs = [c.text for c in top], [c.prob for c in top]
    charts.show(st, bars, key=state.widget_key(PAGE, "top10"), name="next_token_top10",
                alt=a11y.next_summary(texts, probs, lang()), table=a11y.token_rows(texts, ids, probs, lang()))
    st.caption(fill(PAGE, "softmax", vocab=run.last_logits.numel(), share=sum(c.prob for c in top)))
