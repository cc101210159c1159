"""Generation: the model writes one token at a time; every choice, its sampling, and branches."""

from pathlib import Path

import streamlit as st

from gpt_core.embeddings import token_label
from gpt_core.lens import lens_at
from gpt_core.timeline import PICKED, choice_view
from ui import charts, links, presenter, state
from ui import generation as gen
from ui.text import lang, section, title
from viz import a11y
from viz import generation as vg
from viz.attention import WINDOW

PAGE, ATTENTION_PAGE = gen.PAGE, "app_pages/attention.py"
k, text, LAB = gen.key, gen.text, gen.labels()
st.title(title(PAGE))
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
model, tok, cfg = bundle.model, bundle.tokenizer, bundle.model.config
found = gen.timeline(bundle)
if found is None:
    st.info(section(PAGE, "empty"))
    st.stop()
tl, n_prompt = found
gen.init_defaults()
step_id = (state.prompt(), state.active_model(), tl.current, tl.cursor)  # the step shown (Predict first)
if n_prompt > len(tl.prompt):
    st.warning(text("truncated", total=n_prompt, context=cfg.block_size))

# --- controls ---------------------------------------------------------------------------------
large = presenter.on()  # presenter mode: large controls, and only those a class needs
if large:
    n_col, predict_col = st.columns([1.2, 2], vertical_alignment="center")
    st.html(vg.LARGE_CONTROLS_CSS)
else:
    o = st.columns([1, 1.2, 1, 1], vertical_alignment="center")
    o[0].number_input(LAB["max_new"], 1, 2000, key=k("max_new"))
    o[2].toggle(LAB["slide"], key=k("slide"), help=LAB["slide_help"])
    n_col, predict_col = o[1], o[3]
n_col.slider(LAB["n"], 1, 100, key=k("n"))
predict = presenter.predict_toggle(predict_col, k("predict"))
stopped = tl.stop_reason(gen.limits())
n = int(st.session_state[k("n")])
c = st.columns([1.2, 1.2, 1, 1, 1])
c[0].button(LAB["next"], on_click=gen.next_token, args=(model,), disabled=stopped is not None, type="primary",
            width="stretch", key=k("next"), icon=":material/skip_next:")
go_n = c[1].button(LAB["generate"].format(n=n), disabled=stopped is not None, width="stretch", key=k("go"),
                   icon=":material/fast_forward:")
c[2].button(LAB["stop"], disabled=not go_n, width="stretch", key=k("stop"), icon=":material/stop:")
c[3].button(LAB["back"], on_click=gen.back, disabled=tl.cursor == 0, width="stretch", key=k("back"),
            icon=":material/undo:")
c[4].button(LAB["reset"], on_click=gen.reset, width="stretch", key=k("reset"), icon=":material/restart_alt:")
st.caption(section(PAGE, "controls"))
progress_slot, text_slot = st.empty(), st.empty()


def draw_text() -> None:
    # Predict first: the tokens a Back stepped over (drawn faded ahead of the cursor) would give the answer away
    shown = tl.cursor if presenter.hidden(predict, step_id) else len(tl.branch.tokens)
    text_slot.html(vg.text_html(  # bytes: a character split between tokens is shown whole
        [tok.token_bytes(i) for i in tl.prompt], [tok.token_bytes(i) for i in tl.branch.tokens[:shown]], tl.cursor,
        tl.dropped(), gen.token_titles(tl)[:shown], [s.how == PICKED for s in tl.steps][:shown],
        next_mark="" if tl.stop_reason(gen.limits()) else "?",
        font_rem=1.5 if large else 1.05, lang=lang()))


interrupted = st.session_state.pop(k("running"), None)  # a run that ended inside the loop: Stop was pressed
if go_n:
    st.session_state[k("running")] = tl.cursor
    bar = progress_slot.progress(0.0)
    for i, _ in enumerate(state.gated(tl.generate(model, gen.settings(), gen.limits(), n)), 1):
        bar.progress(i / n, text=f"{i} / {n}")
        draw_text()
    del st.session_state[k("running")]
    st.rerun()  # draw the page again for the new state (buttons may now be disabled)
elif interrupted is not None:
    # shown in the page, not as a toast: a toast fades after a few seconds, before a slow page is drawn
    progress_slot.info(text("stopped", count=max(0, tl.cursor - interrupted)), icon=":material/stop:")
draw_text()
st.caption(section(PAGE, "text_help"))

s1, s2 = st.columns([3, 2])
s1.markdown(text("status", shown=tl.cursor, total=len(tl.steps), branch=tl.current + 1))
s2.caption(text("kv", reused=tl.last_forward[0], computed=tl.last_forward[1]))
if tl.dropped():
    st.info(text("slid", context=cfg.block_size, dropped=tl.dropped()))
if stopped:
    st.warning(text("stop_" + stopped, limit=gen.limits().max_new_tokens, context=cfg.block_size,
                    length=len(tl.ids())))


# --- the choice at the cursor: the sampling settings redraw only this part --------------------
@st.fragment
def choice() -> None:
    if st.session_state.pop(k("rerun"), False):
        st.rerun()  # a candidate was picked: the text above changed too
    st.markdown(text("choice", vocab=cfg.vocab_size))
    w = st.columns(5)
    w[0].slider(LAB["temperature"], 0.0, 3.0, step=0.05, key=k("temperature"), help=LAB["temperature_help"])
    w[1].slider(LAB["top_k"], 0, min(200, cfg.vocab_size), key=k("top_k"), help=LAB["top_k_help"])
    w[2].slider(LAB["top_p"], 0.01, 1.0, step=0.01, key=k("top_p"), help=LAB["top_p_help"])
    w[3].number_input(LAB["seed"], 0, 2**31 - 1, key=k("seed"))
    w[4].slider(LAB["bars"], 3, 40, key=k("bars"))
    if not large:
        with st.expander(LAB["what"]):
            st.markdown(section(PAGE, "settings_help"))
    settings = gen.settings()
    with state.forward_gate():
        dist, d = tl.preview(model, settings)
    kept = tl.steps[tl.cursor] if tl.cursor < len(tl.steps) else None
    v = choice_view(dist, d, int(st.session_state[k("bars")]), (d.token,) + ((kept.token,) if kept else ()))
    names, at = [token_label(tok, i) for i in v.ids], v.ids.index(d.token)  # a byte token as <e6 88>
    hide = presenter.hidden(predict, step_id)
    m = st.columns(4)
    m[0].metric(LAB["next_metric" if kept is None and not stopped else "settings_metric"],
                presenter.HIDDEN if hide else gen.token_text(tok, d.token))
    m[1].metric(LAB["rank_metric"], presenter.HIDDEN if hide else f"{v.ranks[at]:,} / {v.probs[at]:.2%}")
    m[2].metric(LAB["entropy_metric"], f"{v.entropy:.2f} nats",
                help=LAB["entropy_help"].format(bits=v.entropy_bits, choices=v.perplexity))
    m[3].metric(LAB["kept_metric"], f"{v.n_kept:,} / {v.vocab:,}")
    if hide:  # the class guesses first: the choice, the candidates and the draw wait for Reveal
        presenter.reveal_panel(step_id, k("rerun"))
        links.write()
        return
    if kept is None:
        st.markdown(text("would_pick" if stopped else "will_pick", token=gen.token_md(tok, d.token),
                         rank=v.ranks[at], vocab=v.vocab, prob=f"{v.probs[at]:.2%}"))
    else:
        st.markdown(text("chose", token=gen.token_md(tok, kept.token), rank=kept.rank, prob=f"{kept.prob:.2%}",
                         how=gen.how(kept)))
        if kept.token != d.token:
            st.info(text("differs", token=gen.token_md(tok, d.token)))
    left, right = st.columns([3, 2])
    charts.show(left, vg.candidates_figure(names, v.ranks, v.logits, v.probs, v.tempered, v.final, v.kept,
                                           settings.temperature, at, lang()), key=k("bars_fig"),
                name="next_token_candidates",
                alt=a11y.next_summary(names, v.probs, lang()), table=True)
    left.caption(text("bars", shown=len(v.ids), mass=f"{v.shown_mass:.1%}", others=v.vocab - len(v.ids)))
    right.markdown(section(PAGE, "cut"))
    charts.show(right, vg.cut_figure(v.curve, v.n_kept, settings.top_p, settings.top_k, lang()), key=k("cut_fig"),
                name="sampling_cut")
    right.markdown(section(PAGE, "draw"))
    seg = [None if t is None else token_label(tok, t) for t, _, _ in v.segments]
    landed = next(i for i, (t, _, _) in enumerate(v.segments) if t == d.token)
    charts.show(right, vg.draw_figure(seg, [s for _, s, _ in v.segments], [w for _, _, w in v.segments],
                                      None if dist.greedy else d.u, landed, names[at], lang()), key=k("draw_fig"),
                name="random_draw")
    if dist.greedy:
        right.caption(section(PAGE, "draw_greedy"))
    if stopped is None or kept is not None:
        st.markdown(section(PAGE, "pick"))
        st.pills(LAB["candidates"], v.ids, key=k("pick"), on_change=gen.pick, args=(model,),
                 label_visibility="collapsed", format_func=lambda t: f"{v.ranks[v.ids.index(t)]}. "
                 f"{gen.token_md(tok, t)} ({v.probs[v.ids.index(t)]:.1%})")
    links.write()  # a fragment rerun changed the view: the address follows


choice()

# --- what the newest token looked at, and the logit lens -------------------------------------
with state.forward_gate():
    ctx, look = tl.context(), tl.look(model)
target = tl.steps[tl.cursor].token if tl.cursor < len(tl.steps) else None
st.markdown(section(PAGE, "attention"))
first = max(0, len(ctx) - WINDOW)
newest = vg.newest_attention_figure(look.attention[:, :, first:], tok.context_labels(ctx)[first:], first, lang())
charts.show(st, newest, key=k("attention_fig"), name="newest_token_attention", table=True)
if first:
    st.caption(text("attention_window", length=len(ctx), shown=len(ctx) - first))
if Path(ATTENTION_PAGE).is_file():
    a1, a2, a3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    layer = a1.selectbox(LAB["layer"], range(cfg.n_layer), format_func=lambda i: f"{i + 1} / {cfg.n_layer}",
                         key=k("att_layer"))
    head = a2.selectbox(LAB["head"], range(cfg.n_head), format_func=lambda i: f"{i + 1} / {cfg.n_head}",
                        key=k("att_head"))
    if a3.button(LAB["open_head"], icon=":material/open_in_new:", key=k("att_open")):
        gen.open_head(layer, head)
        st.switch_page(ATTENTION_PAGE)
    st.caption(section(PAGE, "attention_link"))

if presenter.hidden(predict, step_id):
    presenter.lens_hidden()  # its last layer is the model's choice
else:
    lens = lens_at(model, look.resid, 5, target)
    who = section(PAGE, "lens_target_chosen" if target is not None else "lens_target_final")
    st.markdown(text("lens", target=f"'{gen.token_md(tok, lens.target)}' ({who})"))
    charts.show(st, vg.lens_figure(lens.layers, gen.lens_rows_tokens(lens, tok), lens.top_probs.numpy(),
                                   token_label(tok, lens.target), lens.target_probs.tolist(),
                                   lens.target_ranks.tolist(), lang()), key=k("lens_fig"), name="logit_lens")

# --- timeline and branches --------------------------------------------------------------------
st.markdown(section(PAGE, "timeline"))
if len(tl.branches) > 1:
    st.session_state[k("branch")] = tl.current
    st.radio(LAB["branch"], range(len(tl.branches)), key=k("branch"), on_change=gen.switch_branch,
             format_func=lambda i: gen.branch_label(tl, i))
if tl.steps:
    st.session_state[k("step")] = tl.cursor
    st.slider(LAB["step"], 0, len(tl.steps), key=k("step"), on_change=gen.scrub, help=LAB["step_help"])
st.dataframe(gen.branch_rows(tl, tok), hide_index=True, width="stretch")
