"""Uses: continuation, translation, question answering and summarisation as prompts, run live."""

import streamlit as st

from gpt_core.prompting import TimedSteps, answer_steps, fit_prompt
from ui import charts, models, state, textbox
from ui import uses as u
from ui.text import lang, section, title
from viz.uses import MAX_KEYS, answer_attention_figure, answer_html

PAGE, k, text = u.PAGE, u.key, u.text
st.title(title(PAGE))
st.markdown(section(PAGE))

bundle = state.bundle_or_stop()
model, tok, cfg, info = bundle.model, bundle.tokenizer, bundle.model.config, bundle.info
st.info(u.capability_note(bundle))

# --- the pattern and its prompt ---------------------------------------------------------------------
left, right = st.columns([3, 2])
pattern = left.segmented_control(section(PAGE, "pattern_label"), list(u.PATTERNS), key=k("pattern"),
                                 format_func=u.names("patterns").get, default="continue")
pattern = pattern or "continue"
shots = "zero"
if pattern != "continue":
    shots = right.segmented_control(section(PAGE, "shots_label"), list(u.SHOTS), key=k(f"shots.{pattern}"),
                                    format_func=u.names("shots").get, default="few") or "few"
st.markdown(section(PAGE, f"about_{pattern}"))

tkey = u.template_key(pattern, shots)
st.session_state.setdefault(tkey, u.template(pattern, shots))
prompt = st.text_area(section(PAGE, "prompt_label"), key=tkey, height=200, on_change=textbox.capped(tkey, u.MAX_CHARS),
                      help=section(PAGE, "prompt_help"))
textbox.notice(tkey, u.MAX_CHARS)
st.button(section(PAGE, "reset"), key=k(f"reset.{tkey}"), on_click=u.reset_template, args=(pattern, shots),
          icon=":material/restart_alt:")

c = st.columns(4, vertical_alignment="bottom")
max_new = c[0].slider(section(PAGE, "max_new"), 1, u.MAX_NEW, u.DEFAULT_NEW, key=k("max_new"))
temperature = c[1].slider(section(PAGE, "temperature"), 0.0, 1.5, u.DEFAULT_TEMPERATURE, 0.05, key=k("temperature"),
                          help=section(PAGE, "temperature_help"))
seed = int(c[2].number_input(section(PAGE, "seed"), 0, 2**31 - 1, 0, key=k("seed")))
stop_line = c[3].toggle(section(PAGE, "stop_line"), value=u.STOP_AT_LINE[pattern], key=k(f"stop_line.{pattern}"),
                        help=section(PAGE, "stop_line_help"))

ids = tok.encode(prompt) if prompt.strip() else []
if not ids:
    st.info(section(PAGE, "empty"))
    st.stop()
kept, dropped = fit_prompt(ids, cfg.block_size, max_new)
if dropped:
    st.warning(text("cropped", total=len(ids), dropped=dropped, context=cfg.block_size, room=len(kept)))

b1, b2, _ = st.columns([1, 1, 3])
run_now = b1.button(section(PAGE, "generate"), type="primary", key=k("go"), icon=":material/play_arrow:",
                    width="stretch")
b2.button(section(PAGE, "stop"), key=k("stop"), disabled=not run_now, icon=":material/stop:", width="stretch")
progress_slot, answer_slot = st.empty(), st.empty()
src = state.source(state.active_model())

# --- generate, live ---------------------------------------------------------------------------------
if run_now:
    result = u.start_result(src, tkey, kept, dropped, max_new, temperature, seed, stop_line)
    steps = TimedSteps(answer_steps(model, tok, kept, max_new, temperature, seed, "\n" if stop_line else None),
                       len(kept))
    bar = progress_slot.progress(0.0)
    for step in state.gated(steps):  # the line is taken per token, outside the timing
        result["answer"].append(step.token)  # kept in the session as it grows: Stop leaves the partial answer
        bar.progress(len(result["answer"]) / max_new, text=text("progress", n=len(result["answer"]), of=max_new))
        pieces = [tok.token_bytes(t) for t in result["answer"]]  # bytes: a split character is shown whole
        answer_slot.html(answer_html(*u.prompt_tail(tok, kept), pieces, lang()))
    result["finished"] = True
    progress_slot.empty()
    timing = steps.timing()
    if timing is not None:
        models.save_timing(bundle, timing)

result = u.result_for(src, tkey, kept)
if result is None:
    st.caption(section(PAGE, "press_generate"))
    st.stop()
answer = result["answer"]
answer_slot.html(answer_html(*u.prompt_tail(tok, kept), [tok.token_bytes(t) for t in answer], lang()))
st.caption(u.result_caption(result, tok))
if not answer:
    st.stop()

# --- where the answer looked ------------------------------------------------------------------------
if not st.toggle(section(PAGE, "look_toggle"), key=k("look")):
    st.stop()
st.markdown(section(PAGE, "look"))
look = u.look(src, tuple(result["prompt"]), tuple(answer))
l1, l2 = st.columns(2)
layer = l1.selectbox(section(PAGE, "layer"), range(cfg.n_layer), index=cfg.n_layer - 1, key=k("layer"),
                     format_func=lambda i: f"{i + 1} / {cfg.n_layer}")
head = l2.selectbox(section(PAGE, "head"), [None, *range(cfg.n_head)], key=k("head"),
                    format_func=lambda h: section(PAGE, "all_heads") if h is None else f"{h + 1} / {cfg.n_head}")
rows = look.rows(layer, head)
n_keys = rows.shape[1]
first = max(0, n_keys - MAX_KEYS)
fig = answer_attention_figure(rows[:, first:].numpy(), tok.context_labels(look.ids[:n_keys])[first:],
                              tok.context_labels(answer), look.n_prompt, first, lang=lang())
charts.show(st, fig, key=k("look_fig"), name="answer_attention")
st.caption(text("look_caption", shown=n_keys - first, total=n_keys, share=f"{look.share_on_prompt(layer, head):.0%}"))
