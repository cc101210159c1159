"""Session state and helpers of the Uses page: templates, the last answer, the cached attention look."""

from __future__ import annotations

import streamlit as st

import gpt_core
from gpt_core.prompting import AnswerLook, answer_attention
from ui import describe, state
from ui import text as ui_text
from ui.text import section
from viz import catalog

PAGE = "uses"
MAX_CHARS = 6_000
MAX_NEW = 64  # generation is bounded: a few seconds even for GPT-2 XL on a laptop
DEFAULT_NEW = 24
DEFAULT_TEMPERATURE = 0.7  # greedy decoding makes small models repeat themselves (often line breaks)
TAIL_CHARS = 400  # how much of the prompt is shown above the answer
STOP_AT_LINE = {"continue": False, "translate": True, "qa": True, "summarise": True}


def key(name: str) -> str:
    return state.widget_key(PAGE, name)


def text(part: str, /, **values) -> str:
    return section(PAGE, part).format(**values)


# The patterns and shot counts, in order (the same in every language); their names come from the page text
PATTERNS = tuple(catalog.labels(PAGE, "patterns"))
SHOTS = tuple(catalog.labels(PAGE, "shots"))


def names(section_name: str) -> dict[str, str]:
    """The patterns' ("patterns") or shot counts' ("shots") names in the session's language."""
    return ui_text.labels(PAGE, section_name)


def template_key(pattern: str, shots: str) -> str:
    return key(f"template.{pattern}.{shots}")


def template(pattern: str, shots: str) -> str:
    """The starting prompt of a pattern, from the page's text file."""
    return section(PAGE, f"tpl_{pattern}_{shots}")


def reset_template(pattern: str, shots: str) -> None:
    st.session_state[template_key(pattern, shots)] = template(pattern, shots)


def capability_note(b: gpt_core.ModelBundle) -> str:
    """What the loaded model can and cannot be expected to do, in its own words for the known models."""
    name = state.active_model()
    kind = name if name in ("default", *gpt_core.GPT2_NAMES) else "other"
    return text(f"can_{kind}", name=describe.md_escape(describe.model_name(b.info)), params=f"{b.info.n_params:,}",
                trained_on=describe.md_escape(describe.corpus(b.info)))


def prompt_tail(tok: gpt_core.Tokenizer, ids: list[int]) -> tuple[str, bool]:
    """The end of the prompt as the model reads it, and whether its start was cut off for display."""
    full = tok.decode(ids)
    return full[-TAIL_CHARS:], len(full) > TAIL_CHARS


# --- the answer of this session --------------------------------------------------------------------


def start_result(src: str, tkey: str, prompt: list[int], dropped: int, max_new: int, temperature: float,
                 seed: int, stop_line: bool) -> dict:
    """A new answer record in the session; the page appends each token to it as it comes."""
    result = {"src": src, "tkey": tkey, "prompt": list(prompt), "dropped": dropped, "answer": [],
              "max_new": max_new, "temperature": temperature, "seed": seed, "stop_line": stop_line,
              "finished": False}
    st.session_state[key("result")] = result
    return result


def result_for(src: str, tkey: str, prompt: list[int]) -> dict | None:
    """The session's last answer, if it belongs to this model, template and prompt."""
    r = st.session_state.get(key("result"))
    if r is None or r["src"] != src or r["tkey"] != tkey or r["prompt"] != list(prompt):
        return None
    return r


def result_caption(r: dict, tok: gpt_core.Tokenizer) -> str:
    """How the answer was made and why it ended, in one line."""
    answer = r["answer"]
    if not r["finished"]:
        why = text("why_stopped", n=len(answer))
    elif answer and tok.eot_token is not None and answer[-1] == tok.eot_token:
        why = section(PAGE, "why_eot")
    elif len(answer) < r["max_new"] and r["stop_line"]:
        why = section(PAGE, "why_line")
    else:
        why = text("why_limit", n=r["max_new"])
    how = text("how_greedy") if r["temperature"] == 0 else text("how_sampled", t=r["temperature"], seed=r["seed"])
    return text("result", n=len(answer), how=how, why=why)


def look(src: str, prompt: tuple[int, ...], answer: tuple[int, ...]) -> AnswerLook:
    """Attention of the positions that chose each answer token (read-only, shared)."""
    with st.spinner(section(PAGE, "looking")):
        return _look(src, prompt, answer)


@st.cache_resource(max_entries=4, show_spinner=False)
def _look(src: str, prompt: tuple[int, ...], answer: tuple[int, ...]) -> AnswerLook:
    return answer_attention(state.load_bundle(src).model, list(prompt), list(answer))
