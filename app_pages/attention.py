"""Attention: every head at once, one head large, the formula worked with its numbers, what heads do."""

import streamlit as st

from gpt_core import attention_math as am
from gpt_core.analysis import head_scores
from ui import attention_parts as parts
from ui import charts, handout, links, state
from ui.text import label, lang, section, title
from viz import a11y
from viz import attention_grid as ag
from viz.attention import WINDOW, attention_heatmap

PAGE = parts.PAGE
LABELS = parts.labels()
key, text, keep = parts.key, parts.text, parts.keep
SCORES = {"previous": "previous_token", "first": "first_token", "duplicate": "duplicate_token",
          "induction": "induction"}
VIEWS = ("view_heatmap", "view_lines", "view_lines_all")


@st.cache_data(max_entries=4, show_spinner=False)  # the caller shows a spinner in the session's language
def model_scores(src: str):
    """Head-type scores of a model on its repeated random test sequence: once per model."""
    b = state.load_bundle(src)
    return head_scores(b.model, bos=b.tokenizer.eot_token)


st.title(title(PAGE))
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
run = state.run_or_stop(section(PAGE, "empty"))
if run.truncated:
    st.warning(text("truncated", context=run.context, total=run.n_tokens_total, dropped=run.truncated,
                    kept=len(run.ids)))

cfg = bundle.model.config
L, H, T, tokens = cfg.n_layer, cfg.n_head, len(run.ids), run.labels  # a byte token reads as its character's part
with st.spinner(label(PAGE, "measuring")):
    scores = model_scores(state.source(state.active_model()))
score_maps = {s: getattr(scores, field).numpy() for s, field in SCORES.items()}


@st.fragment
def explorer() -> None:
    keep("layer", 0, L - 1, 0)
    keep("head", 0, H - 1, 0)
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    layer = c1.selectbox(LABELS["layer"], range(L), key=key("layer"), format_func=lambda i: f"{i + 1} / {L}")
    head = c2.selectbox(LABELS["head"], range(H), key=key("head"), format_func=lambda i: f"{i + 1} / {H}")
    hide = c3.toggle(LABELS["hide_first"], key=key("hide_first"))
    shown = am.without_first if hide else (lambda p: p)  # what the views draw; the formula uses the real pattern
    pattern = shown(run.cache.pattern(layer)[head])  # (T, T)

    # Every head at once
    st.markdown(section(PAGE, "grid"))
    size, g0 = ag.grid_positions(L * H, T), 0
    if T > size:
        keep("grid_start", 0, T - size, 0)
        g0 = st.slider(LABELS["grid_start"], 0, T - size, key=key("grid_start"))
        st.caption(text("grid_window", n=T, heads=L * H, size=size, first=g0, last=g0 + size - 1, big=WINDOW))
    grid = ag.head_grid(am.window_patterns(run.cache, g0, g0 + size, hide).numpy(), (layer, head),
                        {LABELS[s]: m for s, m in score_maps.items()}, lang())
    charts.show(st, grid, key=key("grid"), name="attention_heads", on_select=parts.pick_head("grid", H),
                selection_mode="points", alt=a11y.grid_summary(L, H, g0, g0 + size - 1, layer + 1, head + 1, lang()))
    sink = am.sink_scores(run.cache)  # (layer, head)
    most = divmod(int(sink.argmax()), H)
    with st.expander(LABELS["sink_title"], expanded=not hide):
        st.markdown(text("sink", share=float(sink.mean()), layer=most[0] + 1, head=most[1] + 1, most=float(sink.max())))
    if hide:
        st.caption(section(PAGE, "hidden"))

    # The chosen head: the formula, then its pattern large beside the formula's steps with its numbers
    st.markdown(text("chosen", layer=layer + 1, head=head + 1))
    work = am.work_head(run.cache, layer, head)
    s0 = 0
    if T > WINDOW:
        keep("start", 0, T - WINDOW, 0)
        s0 = st.slider(LABELS["start"], 0, T - WINDOW, key=key("start"))
        st.caption(text("window", n=T, size=WINDOW, first=s0, last=s0 + WINDOW - 1))
    stop = s0 + min(T, WINDOW)
    keep("query", s0, stop - 1, stop - 1)
    query = st.session_state[key("query")]
    keep("key", s0, stop - 1, s0 + int(work.pattern[query, s0 : query + 1].argmax()))
    parts.draw_formula(work)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.session_state.setdefault(key("view"), VIEWS[0])
        view = st.segmented_control(LABELS["view"], VIEWS, format_func=LABELS.get, key=key("view")) or VIEWS[0]
        only = st.toggle(LABELS["only_query"], key=key("only_query"))
        title = LABELS["chosen_title"].format(layer=layer + 1, head=head + 1)
        if view == VIEWS[0] and only:
            fig = ag.query_row_figure(pattern[query].numpy(), tokens, query, s0, title, lang())
            charts.show(st, fig, key=key("row"), name="attention_row", on_select=parts.pick_key("row", s0),
                        selection_mode="points", table=True,
                        alt=a11y.attention_summary(pattern.numpy(), tokens, layer + 1, head + 1, query, lang()))
        elif view == VIEWS[0]:
            fig = ag.pattern_figure(pattern.numpy(), tokens, s0, stop, title, (query, st.session_state[key("key")]),
                                    lang=lang())
            charts.show(st, fig, key=key("pattern"), name="attention_pattern", selection_mode="points",
                        on_select=parts.pick_cell("pattern", s0, stop), table=True,
                        alt=a11y.attention_summary(pattern.numpy(), tokens, layer + 1, head + 1, query, lang()))
            st.caption(section(PAGE, "click_cell"))
        else:
            heads = [head] if view == VIEWS[1] else list(range(H))
            lines = shown(run.cache.pattern(layer)[heads]).numpy()
            fig = ag.head_view_figure(lines, heads, tokens, s0, stop, query if only else None, parts.LINES_MIN, title,
                                      lang())
            charts.show(st, fig, key=key("lines"), name="attention_lines",
                        alt=a11y.lines_summary(lines, tokens, s0, stop, title, lang()))
            st.caption(text("lines", min_weight=parts.LINES_MIN))
        p1, p2 = st.columns(2)
        label = parts.position_label(tokens)
        query = p1.selectbox(LABELS["query"], range(s0, stop), key=key("query"), format_func=label)
        cell_key = p2.selectbox(LABELS["key"], range(s0, stop), key=key("key"), format_func=label)
    with right:
        parts.draw_steps(work, run.cache, bundle.model, s0, stop, query, tokens)
    parts.draw_cell(am.work_cell(work, query, cell_key))

    parts.draw_wrong(work, s0, stop, tokens)

    # What each head does
    st.markdown(text("scores", n=(len(scores.tokens) - scores.offset) // 2, length=len(scores.tokens),
                     prefix=LABELS["bos_prefix"] if scores.offset else ""))
    st.markdown("\n\n".join(section(PAGE, f"score_{s}") for s in SCORES))
    st.session_state.setdefault(key("score"), "previous")
    pick = st.segmented_control(LABELS["score"], list(SCORES), format_func=LABELS.get, key=key("score"))
    pick = pick or "previous"
    charts.show(st, ag.score_figure(score_maps[pick], LABELS[pick], (layer, head), lang()), key=key("scores"),
                name=f"head_scores_{pick}", on_select=parts.pick_head("scores", H), selection_mode="points")
    st.markdown(section(PAGE, "score_pair"))
    a, b = st.columns(2)
    charts.show(a, attention_heatmap(pattern.numpy(), tokens, s0, stop, title=LABELS["on_prompt"], lang=lang()),
                key=key("on_prompt"), name="pattern_on_prompt")
    n = (len(scores.tokens) - scores.offset) // 2
    charts.show(b, ag.test_sequence_figure(scores.patterns[layer, head].numpy(), n, scores.offset,
                                           title=LABELS["on_test"], lang=lang()), key=key("on_test"),
                name="pattern_on_test_sequence")

    # Why several heads
    st.markdown(text("multihead", layer=layer + 1, query=query))
    first_key = max(0, query - WINDOW + 1)
    rows = shown(run.cache.pattern(layer)[:, query]).numpy()  # (head, key)
    charts.show(st, ag.heads_for_query_figure(rows, tokens, query, first_key, lang=lang()), key=key("heads_for_query"),
                name="heads_for_one_query")

    parts.draw_export(work, tokens, score_maps, layer, head)
    handout.button(st, run, layer, head, query, s0, stop, key=key("handout"))
    links.write()  # a fragment rerun changed the view: the address follows


explorer()
