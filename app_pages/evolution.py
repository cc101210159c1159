"""Evolution: GPT-1, GPT-2 and GPT-3 side by side, what changed and why, and what each costs to run."""

import streamlit as st

from gpt_core import PRESETS
from gpt_core.costs import FP16, FP32, available_memory, costs, measure
from gpt_core.evolution import norm_growth, preset_rows, token_counts
from ui import charts, describe, models, state
from ui.text import label, lang, section, title
from viz.evolution import context_figure, family_rows, nbytes, norm_figure, scale_figure, short, table_rows

PAGE = "evolution"
def k(name: str) -> str:
    return state.widget_key(PAGE, name)


def text(part: str, /, **values) -> str:
    return section(PAGE, part).format(**values)


st.title(title(PAGE))
st.markdown(section(PAGE))
bundle = state.bundle_or_stop()
cfg, info = bundle.model.config, bundle.info
rows = preset_rows()

# --- side by side --------------------------------------------------------------------------------------
st.markdown(section(PAGE, "table"))
st.dataframe(table_rows(rows, lang()), hide_index=True, width="stretch", key=k("table"))
charts.table(st, family_rows(rows, lang()), name="model_families", key=k("families_csv"))
st.markdown(section(PAGE, "counts"))

mine = label(PAGE, "mine", name=describe.model_name(info))
names = [r.name for r in rows] + [mine]
families = [r.family for r in rows] + ["this app"]
charts.show(st, scale_figure(names, families, [r.counted for r in rows] + [info.n_params],
                             [r.flops_per_token for r in rows] + [costs(cfg).flops_per_token], lang()),
            key=k("scale"), name="model_sizes")
st.caption(text("scale_caption", params=f"{info.n_params:,}"))

# --- what changed ----------------------------------------------------------------------------------------
st.markdown(section(PAGE, "changes"))
run = state.current_run()

st.markdown(section(PAGE, "prenorm"))
if run is None:
    st.info(section(PAGE, "no_prompt"))
else:
    g = norm_growth(run.cache)
    charts.show(st, norm_figure(g.resid, g.normalized, lang()), key=k("norms"), name="residual_growth")
    st.caption(text("prenorm_caption", first=f"{g.resid[0]:.2f}", last=f"{g.resid[-1]:.2f}",
                    low=f"{min(g.normalized):.2f}", high=f"{max(g.normalized):.2f}", tokens=len(run.ids)))

st.markdown(section(PAGE, "vocab"))
prompt = state.prompt()
if prompt.strip():
    names_tok = list(dict.fromkeys([bundle.tokenizer.name, "r50k_base"]))
    lab = {name: label(PAGE, name) for name in ("col_tokenizer", "col_vocabulary", "col_tokens", "col_round_trip")}
    charts.table(st, [{lab["col_tokenizer"]: c.label, lab["col_vocabulary"]: f"{c.n_vocab:,}",
                       lab["col_tokens"]: f"{c.n_tokens:,}",
                       lab["col_round_trip"]: label(PAGE, "yes" if c.round_trip else "no")}
                      for c in token_counts(prompt, names_tok)], name="tokenizers", key=k("tokenizers_csv"))
st.page_link("app_pages/tokens.py", label=section(PAGE, "tokens_link"), icon=":material/arrow_forward:")

st.markdown(section(PAGE, "context"))
gpt2_tokens = token_counts(prompt, ["r50k_base"])[0].n_tokens if prompt.strip() else None
ctx_names = ["GPT-1", "GPT-2", "GPT-3", mine]
ctx_values = [PRESETS["gpt1"].config.block_size, PRESETS["gpt2"].config.block_size,
              PRESETS["gpt3-175b"].config.block_size, cfg.block_size]
charts.show(st, context_figure(ctx_names, ctx_values, ["GPT-1", "GPT-2", "GPT-3", "this app"], gpt2_tokens, lang()),
            key=k("context"), name="context_lengths")

st.markdown(section(PAGE, "scale"))
st.page_link("app_pages/uses.py", label=section(PAGE, "uses_link"), icon=":material/arrow_forward:")


# --- cost calculator -------------------------------------------------------------------------------------
@st.fragment
def calculator() -> None:
    st.markdown(section(PAGE, "calculator"))
    choices = ["loaded", *PRESETS]
    left, right = st.columns([1, 2])
    pick = left.selectbox(section(PAGE, "calc_model"), choices, key=k("calc_model"),
                          format_func=lambda n: mine if n == "loaded" else f"{PRESETS[n].family}: {n}")
    c_cfg = cfg if pick == "loaded" else PRESETS[pick].config
    context = right.slider(section(PAGE, "calc_context"), 1, c_cfg.block_size, c_cfg.block_size,
                           key=k(f"calc_context.{pick}"))
    c = costs(c_cfg, context)
    m = st.columns(4)
    m[0].metric(section(PAGE, "m_weights"), nbytes(c.weights_fp32),
                help=text("m_weights_help", fp16=nbytes(c.weights_fp16), params=f"{c.params:,}"))
    m[1].metric(section(PAGE, "m_weights16"), nbytes(c.weights_fp16))
    m[2].metric(section(PAGE, "m_kv"), nbytes(c.kv_per_token_fp32),
                help=text("m_kv_help", fp16=nbytes(c.kv_per_token_fp16), layers=c_cfg.n_layer, d=c_cfg.n_embd))
    m[3].metric(section(PAGE, "m_flops"), short(c.flops_per_token))
    st.markdown(text("calc_detail", context=f"{context:,}", kv_all=nbytes(c.kv_bytes(context, FP32)),
                     kv_all16=nbytes(c.kv_bytes(context, FP16)), weights=f"{c.matmul_weights:,}",
                     flops_w=f"{c.flops_weights:,}", flops_a=f"{c.flops_attention:,}", layers=c_cfg.n_layer,
                     d=c_cfg.n_embd, total=f"{c.flops_per_token:,}", rule=f"{c.rule_of_thumb:,}",
                     share=f"{c.flops_attention / c.flops_per_token:.1%}"))
    if pick == "gpt3-13b":
        st.caption(section(PAGE, "calc_13b"))
    free = available_memory()
    if free is not None and c.weights_fp32 > free:
        st.warning(text("calc_too_big", need=nbytes(c.weights_fp32), free=nbytes(free)))
    measured(pick, c_cfg)


def measured(pick: str, c_cfg) -> None:
    """What this machine measured when it last ran the chosen model, and a button to measure the loaded one."""
    name = state.active_model() if pick == "loaded" else pick
    if pick == "loaded" and run is not None:
        if st.button(section(PAGE, "measure"), key=k("measure"), icon=":material/timer:"):
            with st.spinner(section(PAGE, "measuring")):
                saved = models.save_timing(bundle, measure(bundle.model, run.ids, 16))
            if not saved:
                st.warning(section(PAGE, "not_saved"))
    t = models.last_timing(name, info.source if pick == "loaded" else None)
    if t is None:
        st.info(section(PAGE, "no_timing"))
        return
    ctx = min(max(1, int(t["prompt_tokens"]) + int(t["new_tokens"]) // 2), c_cfg.block_size)
    per = float(t["seconds_per_token"])
    rate = costs(c_cfg, ctx).flops_per_token / per if per > 0 else 0.0
    st.success(text("timing", model=t.get("model", name), device=t.get("device", "?"), when=t.get("when", "?"),
                    ms=f"{per * 1000:,.1f}", tokens=t["new_tokens"], prompt=t["prompt_tokens"],
                    prompt_ms=f"{float(t['prompt_seconds']) * 1000:,.0f}", rate=short(rate), ctx=ctx))
    st.caption(text("timing_where", path=models.measurements_file()))


calculator()

st.markdown(section(PAGE, "sources"))
