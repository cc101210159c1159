"""Embeddings: from token ids to the vectors the transformer works on, with the model's own numbers."""

import streamlit as st

from gpt_core import embeddings as emb
from ui import state
from ui.embeddings_parts import PAGE, csv_buttons, dims, key, position_pca, residual, vocabulary_index, window
from ui.text import section
from viz import embeddings as ev
from viz.tokens import visible

MAX_POSITIONS = 128  # positions per side of the position-similarity grid

st.title("Embeddings")
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
run = state.run_or_stop(section(PAGE, "empty"))

src = state.source(state.active_model())
model, tok, cfg = bundle.model, bundle.tokenizer, bundle.model.config
T = len(run.ids)
labels = [emb.token_label(tok, i) for i in run.ids]  # partial UTF-8 characters as <hex bytes>
if run.truncated:
    st.warning(section(PAGE, "truncated").format(n=T, last=T - 1))


def token_name(i: int) -> str:
    return f"#{i} {visible(labels[i])}"


@st.fragment
def lookup_view() -> None:
    st.markdown(section(PAGE, "lookup"))
    start, stop = window("lookup.window", T)
    d0, d1 = dims("lookup.dims", cfg.n_embd)
    look = emb.embedding_lookup(model, run.ids, start, stop)
    fig = ev.lookup_heatmap(look.token_rows, look.pos_rows, labels[start:stop], start, d0, d1)
    st.plotly_chart(fig, key=key("lookup.fig"))
    st.caption(section(PAGE, "dims").format(d=cfg.n_embd, n=d1 - d0, first=d0, last=d1 - 1, v=cfg.vocab_size))
    st.caption(section(PAGE, "lookup_check").format(err=ev.difference(look.max_error(run.cache))))
    rows = ev.row_labels(labels[start:stop], run.ids[start:stop], start)
    csv_buttons(ev.lookup_csvs(look.token_rows, look.pos_rows, rows, d0, d1))


@st.fragment
def neighbours_view() -> None:
    st.markdown(section(PAGE, "neighbours"))
    unique = list(dict.fromkeys(run.ids))
    names = dict(zip(run.ids, labels, strict=True))
    left, mid, right = st.columns([2, 2, 1])
    query = left.selectbox("A token from your text", unique, index=unique.index(run.ids[emb.default_query(labels)]),
                           format_func=lambda i: f"{visible(names[i])}  (id {i})", key=key("nn.token"))
    typed = mid.text_input("…or type a word", max_chars=100, key=key("nn.word")).strip()
    k = right.slider("How many", 5, 30, 10, key=key("nn.k"))
    if typed:
        pieces = tok.encode(" " + typed)
        query = pieces[0] if len(pieces) == 1 else mid.selectbox(
            "Your word is several tokens here; which piece?", pieces, key=key("nn.piece"),
            format_func=lambda i: f"{visible(emb.token_label(tok, i))}  (id {i})")
    index = vocabulary_index(src)
    found = emb.nearest_neighbours(index, tok, query, k)
    fig = ev.neighbour_bars([n.label for n in found], [n.cosine for n in found], emb.token_label(tok, query))
    st.plotly_chart(fig, key=key("nn.fig"))
    st.caption(section(PAGE, "neighbours_note").format(v=index.n_tokens))
    table = [{"neighbour": f"{n.rank}. {n.label} (id {n.token})", "cosine similarity": n.cosine} for n in found]
    csv_buttons([("Neighbours", ev.records_csv(table), "neighbours")])


@st.fragment
def map_view() -> None:
    st.markdown(section(PAGE, "map"))
    default = ", ".join(emb.default_reference_words(tok))
    typed = st.text_input("Reference words, separated by commas", default, max_chars=600,
                          key=key(f"map.words.{tok.name}"))
    st.caption(section(PAGE, "map_words"))
    try:
        tm = emb.token_map(model, tok, run.ids, typed.split(",")[:60])
    except ValueError as e:
        st.info(str(e))
        return
    fig = ev.pca_scatter(tm.projection.coords, tm.labels, tm.groups, tm.projection.explained, tm.words)
    st.plotly_chart(fig, key=key("map.fig"))
    if tm.n_prompt_unique > tm.n_prompt_shown:
        st.caption(section(PAGE, "map_capped").format(n=tm.n_prompt_unique, k=tm.n_prompt_shown))
    if tm.split:
        split = "; ".join(f"{r.word} → {' | '.join(visible(p) for p in r.pieces)}" for r in tm.split)
        st.html(ev.caption_html(f"{section(PAGE, 'map_split')} {split}"))
    rows = [f"{label} (id {i}, {g}{' of ' + w if w else ''})"
            for label, i, g, w in zip(tm.labels, tm.ids, tm.groups, tm.words, strict=True)]
    csv_buttons([("Map coordinates", ev.matrix_csv(tm.projection.coords, rows, ["PC1", "PC2"], "token"), "pca_map")])


@st.fragment
def positions_view() -> None:
    st.markdown(section(PAGE, "positions").format(last=T - 1))
    n = cfg.block_size
    lo, hi = st.slider("Positions", 0, n - 1, (0, n - 1), key=key("pos.range"))
    positions = emb.sampled_positions(lo, hi + 1, MAX_POSITIONS)
    sim = emb.position_similarity(model, positions)
    st.plotly_chart(ev.similarity_heatmap(sim, positions), key=key("pos.fig"))
    if len(positions) < hi + 1 - lo:
        st.caption(section(PAGE, "positions_sampled").format(s=positions[1] - positions[0], lo=lo, hi=hi,
                                                              n=len(positions)))
    names = [f"pos {p}" for p in positions]
    items = [("Position similarity", ev.matrix_csv(sim, names, names, "position"), "position_similarity")]
    if n >= 16:
        st.markdown(section(PAGE, "components").format(n=n))
        proj = position_pca(src)
        st.plotly_chart(ev.components_plot(proj.coords, proj.explained), key=key("pos.pca"))
        items.append(("Principal components", ev.components_csv(proj.coords), "position_components"))
    csv_buttons(items)


@st.fragment
def layernorm_view() -> None:
    st.markdown(section(PAGE, "layernorm"))
    left, right = st.columns(2)
    where = left.selectbox("Which LayerNorm", emb.layer_norm_names(cfg.n_layer), format_func=ev.layernorm_name,
                           key=key("ln.where"))
    pos = right.selectbox("Token", range(T), format_func=token_name, key=key("ln.pos"))
    s = emb.layernorm_steps(model, run.cache, where, pos)
    st.latex(ev.LAYERNORM_FORMULA)
    st.markdown(section(PAGE, "layernorm_std"))
    for col, (name, value) in zip(st.columns(5), ev.layernorm_metrics(cfg.n_embd, s.mean, s.var, s.eps, s.std),
                                  strict=True):
        col.metric(name, value)
    d0, d1 = dims("ln.dims", cfg.n_embd)
    st.latex(ev.layernorm_latex(d0, float(s.x[d0]), s.mean, s.std, float(s.gamma[d0]), float(s.beta[d0]),
                                float(s.y[d0])))
    st.plotly_chart(ev.layernorm_figure(s.x, s.normalized, s.y, s.mean, s.std, d0, d1), key=key("ln.fig"))
    rows = ev.layernorm_rows(s.x, s.centered, s.normalized, s.gamma, s.beta, s.y, s.reference, d0, d1)
    st.dataframe(rows, hide_index=True, key=key("ln.table"),
                 column_config={c: st.column_config.NumberColumn(format="%.6f") for c in list(rows[0])[1:]})
    ok = s.max_error < 1e-4
    (st.success if ok else st.error)(section(PAGE, "layernorm_check" if ok else "layernorm_mismatch")
                                     .format(name=where, err=ev.difference(s.max_error)))
    csv_buttons([("LayerNorm steps", ev.records_csv(rows), "layernorm")])


@st.fragment
def residual_view() -> None:
    st.markdown(section(PAGE, "residual"))
    r = residual(src, state.prompt())
    start, stop = window("res.window", T)
    log = st.toggle("Colour by log₁₀ of the length (shows small ones next to very large ones)", key=key("res.log"))
    st.plotly_chart(ev.residual_heatmap(r.resid[:, start:stop], labels[start:stop], start, log), key=key("res.fig"))
    st.markdown(section(PAGE, "contributions"))
    who = st.selectbox("Token", [-1, *range(T)], key=key("res.token"),
                       format_func=lambda i: "Average over all tokens" if i < 0 else token_name(i))
    attn, mlp, resid = r.of_token(None if who < 0 else who)
    st.plotly_chart(ev.contribution_bars(attn, mlp, resid), key=key("res.bars"))
    st.caption(section(PAGE, "residual_check").format(err=ev.difference(r.max_error)))
    stages, blocks = ev.stage_labels(cfg.n_layer), [f"block {i + 1}" for i in range(cfg.n_layer)]
    parts = list(zip(attn.tolist(), mlp.tolist(), strict=True))
    tokens = ev.row_labels(labels[start:stop], run.ids[start:stop], start)
    csv_buttons([("Residual norms", ev.matrix_csv(r.resid[:, start:stop], stages, tokens, "stage"), "residual_norms"),
                 ("What each block adds", ev.matrix_csv(parts, blocks, ["attention", "MLP"], "block"),
                  "block_contributions")])


lookup_view()
neighbours_view()
map_view()
positions_view()
layernorm_view()
residual_view()
