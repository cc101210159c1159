"""Training: a small GPT learns, live, on this computer's CPU: loss, samples and attention heads."""

import streamlit as st

from gpt_core import live_training as lt
from ui import charts, textbox
from ui import training as tr
from ui.text import lang, section, title
from viz import training as vt

PAGE, k, text, LAB = tr.PAGE, tr.key, tr.text, tr.labels()
tr.init_defaults()
st.title(title(PAGE))
st.markdown(section(PAGE))

busy = tr.current() is not None
preset = lt.PRESETS[st.session_state[k("preset")]]
cfg = preset.config

# --- what to train on, and how big ------------------------------------------------------------
left, right = st.columns(2, gap="large")
with left:
    corpus = st.radio(LAB["corpus"], ["shipped", "plays", "own"], format_func=LAB.get, key=k("corpus"),
                      horizontal=True, disabled=busy)
    if corpus != "own":
        with st.spinner(LAB["cutting"]):
            chars, tokens = tr.shipped_size(corpus)
        st.caption(text(corpus, chars=chars, tokens=tokens))
    else:
        st.text_area(LAB["own_text"], key=k("own"), height=150, on_change=textbox.capped(k("own"), lt.MAX_TEXT_CHARS),
                     disabled=busy)
        textbox.notice(k("own"), lt.MAX_TEXT_CHARS)
        st.caption(text("own_help", limit=lt.MAX_TEXT_CHARS, tokens=lt.min_tokens(preset)))
    st.text_input(LAB["prompt"], key=k("prompt"), max_chars=40, disabled=busy)
with right:
    st.selectbox(LAB["preset"], list(lt.PRESETS), key=k("preset"), on_change=tr.on_preset_change, disabled=busy,
                 format_func=lambda name: LAB["preset_option"].format(name=name, params=lt.PRESETS[name].n_params))
    st.markdown(text("preset_facts", layers=cfg.n_layer, heads=cfg.n_head, width=cfg.n_embd,
                     context=cfg.block_size, params=preset.n_params, batch=preset.batch_size,
                     tokens=preset.tokens_per_step, memory=preset.memory_mb))
    st.caption(text("induction_yes" if preset.can_form_induction_head else "induction_no", layers=cfg.n_layer))
    st.number_input(LAB["steps"], tr.MIN_STEPS, lt.MAX_STEPS, step=10, key=k("steps"), disabled=busy)
    st.toggle(LAB["exercise"], key=k("exercise"), help=LAB["exercise_help"], disabled=busy)

b1, b2, _ = st.columns([1, 1, 4])
b1.button(LAB["start"], on_click=tr.start, disabled=busy, type="primary", icon=":material/play_arrow:",
          width="stretch", key=k("start_button"))
b2.button(LAB["stop"], on_click=tr.stop, disabled=not busy, icon=":material/stop:", width="stretch",
          key=k("stop_button"))
if st.session_state.get(k("problem")):
    st.error(st.session_state[k("problem")])
st.caption(text("limits", minutes=lt.MAX_TRAIN_S / 60, max_steps=lt.MAX_STEPS, memory=lt.MAX_RUN_MB,
                 concurrent=tr.MAX_CONCURRENT))


# --- the run: a chunk of steps per rerun of this fragment, then everything redrawn -------------
@st.fragment(run_every=tr.RERUN_EVERY_S if busy else None)
def live() -> None:
    run = tr.current()
    if run is not None and not tr.advance(run):
        tr.finish()
        st.rerun()  # the whole page: the controls come back
    h = tr.history()
    if h is None:
        st.info(section(PAGE, "not_started"))
        return
    if h.end_reason is None:
        left = h.seconds_left
        st.progress(h.step / h.max_steps, text=text(
            "progress", step=h.step, total=h.max_steps, tps=h.tokens_per_s,
            left=text("left", seconds=left) if left is not None else section(PAGE, "left_unknown")))
    else:
        st.success(text("end_" + h.end_reason, step=h.step, total=h.max_steps, seconds=h.elapsed_s,
                        tps=h.tokens_per_s, minutes=lt.MAX_TRAIN_S / 60))

    p = lt.PRESETS[h.preset].config
    st.markdown(section(PAGE, "loss"))
    loss_labels = LAB | {"x": LAB["loss_x"], "y": LAB["loss_y"]}
    charts.show(st, vt.loss_figure(h.steps, h.losses, h.evals, h.max_steps, p.vocab_size, loss_labels, lang()),
                key=k("loss_fig"), name="training_loss")
    st.markdown(text("samples", tokens=lt.SAMPLE_TOKENS))
    st.html(vt.samples_html(h.samples, h.sample_prompt, LAB["step"]))

    st.markdown(text("attention", n=lt.PROBE_N, n_minus_1=lt.PROBE_N - 1))
    if h.exercise:
        st.info(section(PAGE, "exercise_on"), icon=":material/school:")
    heads = ["auto"] + [f"{layer}.{head}" for layer in range(p.n_layer) for head in range(p.n_head)]
    if st.session_state[k("head")] not in heads:
        st.session_state[k("head")] = "auto"
    choice = st.selectbox(LAB["head"], heads, key=k("head"), format_func=lambda c: LAB["auto"] if c == "auto" else
                          LAB["head_name"].format(layer=int(c.split(".")[0]) + 1, head=int(c.split(".")[1]) + 1))
    layer, head = tr.chosen_head(h, choice)
    st.caption(LAB["head_name"].format(layer=layer + 1, head=head + 1))
    st.markdown(section(PAGE, "snapshots"))
    steps, prev, ind = h.score_series(layer, head)
    at = {s: i for i, s in enumerate(steps)}
    titles = [LAB["snapshot"].format(step=s.step, prev=prev[at[s.step]], ind=ind[at[s.step]]) for s in h.snapshots]
    snaps = vt.snapshots_figure([s.patterns[layer, head] for s in h.snapshots], titles, lt.PROBE_N, lang=lang())
    charts.show(st, snaps, key=k("snapshots_fig"), name="attention_snapshots")
    st.markdown(section(PAGE, "scores"))
    score_labels = LAB | {"x": LAB["scores_x"], "y": LAB["scores_y"]}
    charts.show(st, vt.scores_figure(steps, prev, ind, [float(s.max()) for s in h.previous_token],
                                     [float(s.max()) for s in h.induction], lt.chance_scores(),
                                     [s.step for s in h.snapshots], h.max_steps, score_labels, lang()),
                key=k("scores_fig"), name="head_scores_over_training")


live()
