"""Embeddings: from token ids to the vectors the transformer works on, with the model's own numbers."""

import functools

import streamlit as st

from gpt_core import embeddings as emb
from ui import charts, state
from ui.embeddings_parts import (
    PAGE,
    csv_buttons,
    dims,
    key,
    label,
    position_pca,
    residual,
    vocabulary_index,
    window,
)
from ui.text import lang, section, title
from viz import a11y
from viz import embeddings as ev
from viz.tokens import visible

MAX_POSITIONS = 128  # positions per side of the position-similarity grid

st.title(title(PAGE))
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
run = state.run_or_stop(section(PAGE, "empty"))

src = state.source(state.active_model())
model, tok, cfg = bundle.model, bundle.tokenizer, bundle.model.config
T = len(run.ids)
labels = [emb.token_label(tok, i) for i in run.ids]  # a token's own row: partial UTF-8 characters as <hex bytes>
context = run.labels  # a position in this text: a byte token reads as its character's part, 我(1/3)
if run.truncated:
    st.warning(section(PAGE, "truncated").format(n=T, last=T - 1))


def token_name(i: int) -> str:
    return f"#{i} {visible(context[i])}"


@st.fragment
def lookup_view() -> None:
    st.markdown(section(PAGE, "lookup"))
    start, stop = window("lookup.window", T)
    d0, d1 = dims("lookup.dims", cfg.n_embd)
    look = emb.embedding_lookup(model, run.ids, start, stop)
    fig = ev.lookup_heatmap(look.token_rows, look.pos_rows, labels[start:stop], start, d0, d1, lang())
    charts.show(st, fig, key=key("lookup.fig"), name="embedding_lookup",
                table=a11y.embedding_rows(look.token_rows[:, d0:d1], look.pos_rows[:, d0:d1], labels[start:stop], start,
                                          d0, lang()))
    st.caption(section(PAGE, "dims").format(d=cfg.n_embd, n=d1 - d0, first=d0, last=d1 - 1, v=cfg.vocab_size))
    st.caption(section(PAGE, "lookup_check").format(err=ev.difference(look.max_error(run.cache), lang())))
    rows = ev.row_labels(labels[start:stop], run.ids[start:stop], start)
    csv_buttons(ev.lookup_csvs(look.token_rows, look.pos_rows, rows, d0, d1, lang()))


@st.fragment
def neighbours_view() -> None:
    st.markdown(section(PAGE, "neighbours"))
    unique = list(dict.fromkeys(run.ids))
    names = dict(zip(run.ids, labels, strict=True))
    left, mid, right = st.columns([2, 2, 1])
    choice = label("token_choice")  # in this run's language
    query = left.selectbox(label("nn_token"), unique, index=unique.index(run.ids[emb.default_query(labels)]),
                           format_func=lambda i: choice.format(token=visible(names[i]), id=i), key=key("nn.token"))
    typed = mid.text_input(label("nn_word"), max_chars=100, key=key("nn.word")).strip()
    k = right.slider(label("nn_k"), 5, 30, 10, key=key("nn.k"))
    if typed:
        pieces = tok.encode(" " + typed)
        query = pieces[0] if len(pieces) == 1 else mid.selectbox(
            label("nn_piece"), pieces, key=key("nn.piece"),
            format_func=lambda i: choice.format(token=visible(emb.token_label(tok, i)), id=i))
    index = vocabulary_index(src)
    found = emb.nearest_neighbours(index, tok, query, k)
    fig = ev.neighbour_bars([n.label for n in found], [n.cosine for n in found], emb.token_label(tok, query), lang())
    charts.show(st, fig, key=key("nn.fig"), name="nearest_neighbours", table=True)
    st.caption(section(PAGE, "neighbours_note").format(v=index.n_tokens))
    table = [{label("col_neighbour"): label("neighbour_row", rank=n.rank, token=n.label, id=n.token),
              label("col_cosine"): n.cosine} for n in found]
    csv_buttons([(label("csv_neighbours"), ev.records_csv(table), "neighbours")])


@st.fragment
def map_view() -> None:
    st.markdown(section(PAGE, "map"))
    default = ", ".join(emb.default_reference_words(tok))
    typed = st.text_input(label("map_words"), default, max_chars=600,
                          key=key(f"map.words.{tok.name}"))
    st.caption(section(PAGE, "map_words"))
    try:
        tm = emb.token_map(model, tok, run.ids, typed.split(",")[:60])
    except ValueError:  # fewer than three different tokens to fit a plane through
        st.info(section(PAGE, "map_too_few"))
        return
    fig = ev.pca_scatter(tm.projection.coords, tm.labels, tm.groups, tm.projection.explained, tm.words, lang())
    charts.show(st, fig, key=key("map.fig"), name="embedding_map", table=True)
    if tm.n_prompt_unique > tm.n_prompt_shown:
        st.caption(section(PAGE, "map_capped").format(n=tm.n_prompt_unique, k=tm.n_prompt_shown))
    if tm.split:
        split = "; ".join(f"{r.word} → {' | '.join(visible(p) for p in r.pieces)}" for r in tm.split)
        st.html(ev.caption_html(f"{section(PAGE, 'map_split')} {split}"))
    groups = ev.group_names(lang())
    rows = [label("map_row_word" if w else "map_row", token=name, id=i, group=groups[g], word=w)
            for name, i, g, w in zip(tm.labels, tm.ids, tm.groups, tm.words, strict=True)]
    csv_buttons([(label("csv_map"), ev.matrix_csv(tm.projection.coords, rows, ["PC1", "PC2"], label("corner_token")),
                  "pca_map")])


@st.fragment
def positions_view() -> None:
    st.markdown(section(PAGE, "positions").format(last=T - 1))
    n = cfg.block_size
    lo, hi = st.slider(label("positions"), 0, n - 1, (0, n - 1), key=key("pos.range"))
    positions = emb.sampled_positions(lo, hi + 1, MAX_POSITIONS)
    sim = emb.position_similarity(model, positions)
    charts.show(st, ev.similarity_heatmap(sim, positions, lang()), key=key("pos.fig"), name="position_similarity")
    if len(positions) < hi + 1 - lo:
        st.caption(section(PAGE, "positions_sampled").format(s=positions[1] - positions[0], lo=lo, hi=hi,
                                                              n=len(positions)))
    names = [label("pos_name", p=p) for p in positions]
    items = [(label("csv_positions"), ev.matrix_csv(sim, names, names, label("corner_position")),
              "position_similarity")]
    if n >= 16:
        st.markdown(section(PAGE, "components").format(n=n))
        proj = position_pca(src)
        charts.show(st, ev.components_plot(proj.coords, proj.explained, lang()), key=key("pos.pca"),
                    name="position_components")
        items.append((label("csv_components"), ev.components_csv(proj.coords, lang()), "position_components"))
    csv_buttons(items)


@st.fragment
def layernorm_view() -> None:
    st.markdown(section(PAGE, "layernorm"))
    left, right = st.columns(2)
    where = left.selectbox(label("ln_where"), emb.layer_norm_names(cfg.n_layer),
                           format_func=functools.partial(ev.layernorm_name, lang=lang()), key=key("ln.where"))
    pos = right.selectbox(label("ln_token"), range(T), format_func=token_name, key=key("ln.pos"))
    s = emb.layernorm_steps(model, run.cache, where, pos)
    st.latex(ev.LAYERNORM_FORMULA)
    st.markdown(section(PAGE, "layernorm_std"))
    for col, (name, value) in zip(st.columns(5), ev.layernorm_metrics(cfg.n_embd, s.mean, s.var, s.eps, s.std,
                                                                     lang()), strict=True):
        col.metric(name, value)
    d0, d1 = dims("ln.dims", cfg.n_embd)
    st.latex(ev.layernorm_latex(d0, float(s.x[d0]), s.mean, s.std, float(s.gamma[d0]), float(s.beta[d0]),
                                float(s.y[d0])))
    charts.show(st, ev.layernorm_figure(s.x, s.normalized, s.y, s.mean, s.std, d0, d1, lang()), key=key("ln.fig"),
                name="layernorm")
    rows = ev.layernorm_rows(s.x, s.centered, s.normalized, s.gamma, s.beta, s.y, s.reference, d0, d1, lang())
    st.dataframe(rows, hide_index=True, key=key("ln.table"),
                 column_config={c: st.column_config.NumberColumn(format="%.6f") for c in list(rows[0])[1:]})
    ok = s.max_error < 1e-4
    (st.success if ok else st.error)(section(PAGE, "layernorm_check" if ok else "layernorm_mismatch")
                                     .format(name=where, err=ev.difference(s.max_error, lang())))
    csv_buttons([(label("csv_layernorm"), ev.records_csv(rows), "layernorm")])


@st.fragment
def residual_view() -> None:
    st.markdown(section(PAGE, "residual"))
    r = residual(src, state.prompt())
    start, stop = window("res.window", T)
    log = st.toggle(label("res_log"), key=key("res.log"))
    charts.show(st, ev.residual_heatmap(r.resid[:, start:stop], context[start:stop], start, log, lang()),
                key=key("res.fig"), name="residual_norms")
    st.markdown(section(PAGE, "contributions"))
    average = label("res_average")  # in this run's language
    who = st.selectbox(label("res_token"), [-1, *range(T)], key=key("res.token"),
                       format_func=lambda i: average if i < 0 else token_name(i))
    attn, mlp, resid = r.of_token(None if who < 0 else who)
    charts.show(st, ev.contribution_bars(attn, mlp, resid, lang()), key=key("res.bars"), name="block_contributions")
    st.caption(section(PAGE, "residual_check").format(err=ev.difference(r.max_error, lang())))
    stages, blocks = ev.stage_labels(cfg.n_layer, lang()), [label("block_name", i=i + 1) for i in range(cfg.n_layer)]
    parts = list(zip(attn.tolist(), mlp.tolist(), strict=True))
    tokens = ev.row_labels(context[start:stop], run.ids[start:stop], start)
    csv_buttons([(label("csv_residual"), ev.matrix_csv(r.resid[:, start:stop], stages, tokens, label("corner_stage")),
                  "residual_norms"),
                 (label("csv_blocks"), ev.matrix_csv(parts, blocks, [label("col_attention"), label("col_mlp")],
                                                      label("corner_block")), "block_contributions")])


lookup_view()
neighbours_view()
map_view()
positions_view()
layernorm_view()
residual_view()
