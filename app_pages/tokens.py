"""Tokens: a tokenizer lab. How GPT reads text, byte by byte and merge by merge."""

import streamlit as st

from gpt_core import tokenlab
from ui import presenter, state
from ui import tokens_parts as parts
from ui.text import lang, section, title
from viz import tokenlab as vt

PAGE = parts.PAGE

st.title(title(PAGE))
st.markdown(section(PAGE))
st.html(vt.STYLE)
parts.examples()

bundle = state.bundle_or_stop()
text = state.prompt()
if not text:
    st.info(section(PAGE, "empty"))
    st.stop()
data = parts.lab(text, bundle.tokenizer)
cmp = data.comparison
toks = {tok.name: tok for tok in tokenlab.lab_tokenizers(bundle.tokenizer)}
parts.notices(text, data)

# The same text under every tokenizer, one row each
st.markdown(section(PAGE, "compare"))
left, right, _ = st.columns([1, 1, 3])
show_ids = left.toggle(parts.label("show_ids"), key=parts.key("ids"))
show_bytes = right.toggle(parts.label("show_bytes"), key=parts.key("bytes"))
best = tokenlab.takeaway(cmp)
if best is None:
    st.markdown(parts.t("takeaway_same", n=cmp.encodings[0].n_tokens))
else:
    st.markdown(parts.t("takeaway", best=best.best.label, base=best.base.label, pct=f"{best.fewer:.0%}",
                        n_best=best.best.n_tokens, n_base=best.base.n_tokens))
st.html(vt.comparison_html(cmp.encodings, parts.row_headers(cmp), show_ids, show_bytes, lang()))

# Bytes: tokens that hold part of a character, and the characters they make together
st.markdown(section(PAGE, "bytes"))
split = [e for e in cmp.encodings if e.n_partial]
if not split:
    st.caption(section(PAGE, "no_partials"))
for e in split:
    st.markdown(parts.t("partial_count", label=e.label, n=e.n_partial, total=e.n_tokens))
    if e.groups:
        st.dataframe(vt.group_rows(e, lang=lang()), hide_index=True, key=parts.key(f"groups.{e.name}"))

# BPE, step by step, on a word the user picks
parts.bpe_panel(toks, bundle.tokenizer.name, data.clean.text)

# Pre-tokenization: the chunks merges never cross
st.markdown(section(PAGE, "pretok"))
chunk_heads = [parts.t("chunk_row", labels=parts.joined(c.labels), n=c.n_chunks) for c in data.chunkings]
st.html(vt.chunks_html(data.chunkings, chunk_heads, lang()))
if not presenter.on():  # the regular expressions are for a closer look, not for a projector
    with st.expander(parts.label("patterns")):
        for c in data.chunkings:
            st.caption(parts.joined(c.labels))
            st.code(c.pattern, language="regex", wrap_lines=True)

# The vocabulary
parts.vocab_panel(toks)

# Special tokens: typed as text versus the token itself
st.markdown(section(PAGE, "special"))
st.dataframe(vt.special_rows(tokenlab.special_view(list(toks.values())), lang()), hide_index=True,
             key=parts.key("specials"))

# Export: built only when the button is clicked (not in presenter mode: a class does not download)
if not presenter.on():
    st.markdown(section(PAGE, "export"))
    st.download_button(parts.label("download"),
                       lambda: tokenlab.token_table_csv(data.clean.text, list(toks.values())),
                       file_name="tokens.csv", mime="text/csv", on_click="ignore", key=parts.key("csv"),
                       icon=":material/download:")
