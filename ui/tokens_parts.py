"""Pieces of the Tokens page: widget keys and texts, the cached lab data, the notices about the text,
and the two interactive panels (BPE replay, vocabulary lookup), each a fragment that redraws alone.

Streamlit glue only: the numbers come from gpt_core.tokenlab, the HTML from viz.tokenlab.
"""

from __future__ import annotations

import functools

import streamlit as st

from gpt_core import tokenlab
from gpt_core.tokenizer import Tokenizer
from ui import state
from ui import text as ui_text
from ui.text import lang, section
from viz import tokenlab as vt

PAGE = "tokens"
EXAMPLES = {  # sample inputs (the same in every language); the buttons' names are the labels "example_<name>"
    "english": "Tokenization splits unbelievably long words into pieces.",
    "chinese": "你好，世界！语言模型把文字切成词元。🙂👍🏽 Café",
    "code": "def add(a, b):\n\treturn a + b  # 12345 + 678",
    "html": "<img src=x onerror=alert(1)> <|endoftext|>",
}


def key(name: str) -> str:
    return state.widget_key(PAGE, name)


def label(name: str, **values) -> str:
    """One short string of the page's "labels" section."""
    return ui_text.label(PAGE, name, **values)


def joined(names) -> str:
    """Names joined with the language's "and": "a and b and c"."""
    return functools.reduce(lambda a, b: label("and", a=a, b=b), names)


def t(name: str, **values) -> str:
    """A section of the page's text with ``values`` filled in (for values that hold no user text)."""
    return section(PAGE, name).format(**values)


def say(name: str, **values) -> None:
    """A section of the page's text filled with values that may hold user text: escaped, via st.html."""
    st.html(vt.template_html(section(PAGE, name), **values))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@st.cache_data(max_entries=16, show_spinner=False)  # lab() shows the spinner in the session's language
def _lab(model_tokenizer: str, raw: bytes, _tok: Tokenizer) -> tokenlab.LabData:
    return tokenlab.build_lab(raw.decode("utf-8", "surrogatepass"), _tok)


def lab(text: str, tok: Tokenizer) -> tokenlab.LabData:
    """The page's data for ``text``, cached per (model tokenizer, text). The text is hashed as UTF-8 with
    surrogates passed through, since a lone surrogate cannot be hashed as a str."""
    with st.spinner(label("tokenizing")):
        return _lab(tok.name, text.encode("utf-8", "surrogatepass"), tok)


def use_example(name: str) -> None:
    st.session_state["prompt"] = EXAMPLES[name]


def examples() -> None:
    st.caption(section(PAGE, "examples"))
    for col, name in zip(st.columns(len(EXAMPLES)), EXAMPLES, strict=True):
        col.button(label(f"example_{name}"), key=key(f"example.{name}"), on_click=use_example, args=(name,),
                   width="stretch")


def notices(text: str, data: tokenlab.LabData) -> None:
    """What is unusual about the text: only whitespace, replaced or invisible characters, specials, length."""
    clean, cmp = data.clean, data.comparison
    if not text.strip():
        st.info(section(PAGE, "whitespace"))
    if clean.replaced:
        chars = ", ".join(label("replaced_at", cp=cp, i=i) for i, cp in clean.replaced[:10])
        st.warning(t("replaced", n=len(clean.replaced), chars=chars))
    if clean.joined:
        st.caption(t("joined", n=clean.joined))
    if clean.invisible:
        st.info(t("invisible", chars=", ".join(f"{cp} {name} ×{n}" for cp, name, n in clean.invisible[:8])))
    if data.specials_typed:
        st.info(t("specials_typed", found=", ".join(f"`{s}` ×{n}" for s, n in data.specials_typed.items())))
    if cmp.shown_chars < cmp.n_chars:
        st.warning(t("cut", total=cmp.n_chars, shown=cmp.shown_chars, left=cmp.n_chars - cmp.shown_chars))


def row_headers(cmp: tokenlab.Comparison) -> list[str]:
    return [
        t("row", label=e.label, n=e.n_tokens, cpt=e.chars_per_token,
          mark=" " + section(PAGE, "row_model") if e.is_model else "")
        + (t("row_cut", shown=len(e.tokens)) if e.cut else "")
        for e in cmp.encodings
    ]


@st.fragment
def bpe_panel(toks: dict[str, Tokenizer], model_name: str, text: str) -> None:
    """Replay BPE on a word the user picks, one step at a time (slider or Previous/Next)."""
    st.markdown(section(PAGE, "bpe"))
    span_key, step_key = key("span"), key("step")
    suggestions = {name: tokenlab.replay_suggestions(tok, text) for name, tok in toks.items()}
    suggested, auto_key = next(iter(suggestions[model_name]), "tokenization"), key("span.suggested")
    if st.session_state.get(span_key, suggested) == st.session_state.get(auto_key, suggested):
        st.session_state[span_key] = suggested  # not typed by the user: follow the text in the sidebar
        if st.session_state.get(auto_key) != suggested:
            st.session_state[step_key] = 0
    st.session_state[auto_key] = suggested

    def reset_step() -> None:
        st.session_state[step_key] = 0

    def pick() -> None:
        if st.session_state[key("pick")]:
            st.session_state[span_key] = st.session_state[key("pick")]
        reset_step()

    c1, c2, c3 = st.columns(3)
    name = c1.selectbox(label("tokenizer"), list(toks), format_func=lambda n: toks[n].label, key=key("bpe_tok"),
                        on_change=reset_step)
    c2.selectbox(label("pick_word"), suggestions[name], index=None, key=key("pick"), on_change=pick,
                 placeholder=label("pick_placeholder"))
    span = c3.text_input(label("span", max=tokenlab.REPLAY_MAX_BYTES), key=span_key, on_change=reset_step)
    if not span:
        st.info(section(PAGE, "bpe_empty"))
        return
    tok = toks[name]
    replay = tokenlab.replay_bpe(tok, span)
    if replay.cut_bytes:
        st.caption(t("bpe_cut", max=tokenlab.REPLAY_MAX_BYTES, cut=replay.cut_bytes))
    n = len(replay.steps)
    st.session_state[step_key] = min(st.session_state.get(step_key, 0), n)

    def move(delta: int) -> None:
        st.session_state[step_key] = max(0, min(n, st.session_state[step_key] + delta))

    b1, b2, slider = st.columns([1, 1, 6])
    b1.button(label("previous"), key=key("prev"), on_click=move, args=(-1,), disabled=st.session_state[step_key] == 0,
              width="stretch")
    b2.button(label("next"), key=key("next"), on_click=move, args=(1,), disabled=st.session_state[step_key] >= n,
              width="stretch")
    k = slider.slider(label("step"), 0, n, key=step_key) if n else 0
    _replay_step(tok, replay, k)


def _replay_step(tok: Tokenizer, replay: tokenlab.Replay, k: int) -> None:
    """Step ``k`` of a replay: the pairs and the merge (or the start), then the verdict at the last step."""
    ranks, n = tok.mergeable_ranks, len(replay.steps)
    if k == 0:
        st.markdown(t("bpe_start", n_bytes=sum(len(c) for c in replay.chunks), n_chunks=len(replay.chunks)))
        if replay.steps:
            st.html(vt.pairs_html(replay.steps[0].pairs, replay.steps[0].merged))
        st.html(vt.state_html(replay.start, ranks, lang=lang()))
    else:
        step = replay.steps[k - 1]
        if step.merged is not None:
            m = step.merged
            say("bpe_step", k=k, n=n, rank=m.rank, left=_text(m.left), right=_text(m.right),
                new=_text(m.left + m.right))
            st.html(vt.pairs_html(step.pairs, m))
        else:
            chunk = replay.chunks[step.shortcut_chunk]
            say("bpe_shortcut", k=k, n=n, chunk=_text(chunk), rank=ranks[chunk])
        st.html(vt.step_html(step, ranks, lang()))
    if k < n:
        return
    if n == 0:
        st.caption(section(PAGE, "bpe_none"))
    expected = tuple(tok.encode(replay.span))  # tiktoken itself, to check the replay live
    verdict = section(PAGE, "bpe_same" if expected == replay.ids else "bpe_differ")
    merges = sum(s.merged is not None for s in replay.steps)
    st.markdown(t("bpe_done", n=merges, n_tokens=len(replay.ids), ids=list(replay.ids), tiktoken=list(expected),
                  verdict=verdict))
    whole = [_text(c) for c, w in zip(replay.chunks, replay.whole, strict=True) if w and len(c) > 1]
    if whole:
        say("bpe_whole", chunks=whole)


@st.fragment
def vocab_panel(toks: dict[str, Tokenizer]) -> None:
    """Look a token up by id or by text: its bytes, rank, the merge that made it, its neighbours."""
    st.markdown(section(PAGE, "vocab"))
    c1, c2, c3 = st.columns([2, 1, 2])
    tok = toks[c1.selectbox(label("tokenizer"), list(toks), format_func=lambda n: toks[n].label,
                            key=key("vocab_tok"))]
    modes = {m: label(f"by_{m}") for m in ("text", "id")}
    mode = c2.radio(label("look_up"), list(modes), horizontal=True, key=key("vocab_mode"), format_func=modes.get)
    by_id = mode == "id"
    query = c3.text_input(label("token_id" if by_id else "token_text"), value="1000" if by_id else "token",
                          key=key("vocab_id" if by_id else "vocab_text"))
    found = tokenlab.lookup(tok, query, by_id)
    if found.problem:
        st.info(t(f"vocab_{found.problem}", query=query.strip(), max=tok.n_vocab - 1))
    elif found.entry is None:
        st.markdown(t("vocab_not_single", n=len(found.encoded_as)))
        st.dataframe(vt.entry_rows(found.encoded_as, lang=lang()), hide_index=True, key=key("encoded_as"))
    else:
        e = found.entry
        st.markdown(t("vocab_found", id=e.id, n_bytes=len(e.data), hex=tokenlab.hex_bytes(e.data),
                      n_vocab=tok.n_vocab, special=section(PAGE, "vocab_special_mark") + " " if e.special else ""))
        if len(e.made_from) == 2:
            left, right = e.made_from
            say("vocab_made", left=_text(left), right=_text(right), left_id=tok.mergeable_ranks[left],
                right_id=tok.mergeable_ranks[right])
        elif len(e.data) == 1 and not e.special:
            st.markdown(section(PAGE, "vocab_byte"))
        st.markdown(section(PAGE, "neighbours"))
        st.dataframe(vt.entry_rows(found.neighbours, e.id, lang()), hide_index=True, key=key("neighbours"))
    st.caption(section(PAGE, "sizes"))
    st.dataframe(vt.size_rows(tokenlab.vocab_sizes(list(toks.values())), lang()), hide_index=True, key=key("sizes"))
