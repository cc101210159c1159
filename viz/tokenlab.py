"""HTML for the tokenizer lab: token chips per encoding, chunks, BPE replay states and pairs.

Pure: gpt_core.tokenlab results in, escaped HTML out. Every character of user text goes through
``html.escape``; characters that take no room on screen (controls, zero-width and direction marks)
are drawn as their code point, so they can neither hide nor reorder the chips around them. The
classes are styled by ``STYLE``, which a page adds once with ``st.html``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from gpt_core.tokenlab import (
    Chunking,
    Encoded,
    Pair,
    SpecialView,
    Step,
    VocabEntry,
    VocabSize,
    codepoint,
    hex_bytes,
)

from .catalog import FALLBACK, words
from .tokens import _INVISIBLE, PALETTE, WHITESPACE, visible

_FILLS = "\n".join(
    f".tl-c{i}{{background:rgba({int(c[1:3], 16)},{int(c[3:5], 16)},{int(c[5:7], 16)},0.22);"
    f"border-bottom:3px solid {c}}}"
    for i, c in enumerate(PALETTE)
)
STYLE = f"""<style>
.tl-chips,.tl-pair{{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace,"Noto Color Emoji",
  "Apple Color Emoji","Segoe UI Emoji";font-size:0.95rem}}
.tl-row{{margin:0 0 0.9rem 0}}
.tl-msg{{margin:0.3rem 0}}
.tl-msg code{{white-space:pre}}
.tl-head{{font-family:inherit;font-size:0.85rem;opacity:0.85;margin-bottom:0.15rem}}
.tl-chips{{line-height:1.9}}
.tl-chip{{display:inline-flex;flex-direction:column;align-items:center;vertical-align:top;border-radius:4px;
  padding:0 3px;margin:2px 1px;white-space:pre;unicode-bidi:isolate;line-height:1.5}}
.tl-sub{{font-size:0.68rem;opacity:0.75;line-height:1.2}}
.tl-ws{{opacity:0.55}}
.tl-ctl{{font-size:0.68rem;opacity:0.8;border:1px solid currentColor;border-radius:3px;padding:0 2px}}
.tl-hex{{font-size:0.8rem}}
.tl-part{{outline:2px dashed currentColor;outline-offset:-2px}}
.tl-group{{display:inline-block;border:1px solid currentColor;border-radius:6px;padding:0 2px;margin:0 2px;
  vertical-align:top}}
.tl-glabel{{display:inline-block;font-weight:700;padding:0 4px;vertical-align:top;margin-top:2px}}
.tl-chunk{{display:inline-block;border:1px solid rgba(128,128,128,0.6);border-radius:6px;padding:1px 2px;
  margin:2px 3px;vertical-align:top}}
.tl-new{{outline:3px solid #0072B2;outline-offset:0}}
.tl-pick{{outline:3px solid #D55E00;outline-offset:0}}
.tl-pair{{display:inline-block;border:1px solid rgba(128,128,128,0.6);border-radius:4px;padding:1px 4px;margin:2px;
  font-size:0.85rem;white-space:pre}}
.tl-pair.tl-none{{opacity:0.45}}
.tl-pair.tl-best{{border:3px solid #D55E00;font-weight:700}}
{_FILLS}
</style>"""
"""The stylesheet for every class used here (Okabe–Ito fills at 22 %: readable in light and dark themes)."""


def _char_html(c: str, first: bool) -> str:
    if c in WHITESPACE:
        return f'<span class="tl-ws">{WHITESPACE[c]}</span>'
    cat = unicodedata.category(c)
    if cat in _INVISIBLE or (cat == "Zs" and c != " "):
        return f'<span class="tl-ctl">{codepoint(c)}</span>'
    if first and cat in {"Mn", "Me", "Mc"}:  # a combining mark with nothing to sit on
        return "\u25cc" + html.escape(c)
    return html.escape(c)


def visible_html(text: str) -> str:
    """``text`` escaped, whitespace as ⋅ → ↵, invisible characters as their code point."""
    return "".join(_char_html(c, i == 0) for i, c in enumerate(text))


def visible_text(text: str) -> str:
    """Plain-text version of ``visible_html`` for tables: ⋅ → ↵ and ⟨U+200B⟩ for invisible characters."""
    return visible(text)


_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_CODE = re.compile(r"`([^`]+)`")


def template_html(template: str, **values: object) -> str:
    """A trusted text template with ``**bold**`` and ```code``` marks, filled with escaped values.

    The marks are turned into tags before the values go in, so a value (user text, a token) is
    shown exactly as it is, never read as markup or markdown. String values are drawn visibly; a
    list of strings becomes a comma-separated list of code spans.
    """

    def safe(v: object) -> object:
        if isinstance(v, str):
            return visible_html(v)
        if isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
            return ", ".join(f"<code>{visible_html(x)}</code>" for x in v)
        return v

    marked = _CODE.sub(r"<code>\1</code>", _BOLD.sub(r"<b>\1</b>", template))
    return f'<div class="tl-msg">{marked.format(**{k: safe(v) for k, v in values.items()})}</div>'


def _part_html(data: bytes) -> str:
    """A part of a BPE state: its text if it is whole UTF-8, else its bytes in hex."""
    try:
        return visible_html(data.decode("utf-8"))
    except UnicodeDecodeError:
        return f'<span class="tl-hex">{hex_bytes(data)}</span>'


def _chip(body: str, colour: int, title: str, subs: Sequence[str] = (), extra: str = "") -> str:
    sub = "".join(f'<span class="tl-sub">{html.escape(s)}</span>' for s in subs)
    cls = f"tl-chip tok tl-c{colour % len(PALETTE)}" + (f" {extra}" if extra else "")
    return f'<span class="{cls}" title="{html.escape(title, quote=True)}"><span>{body}</span>{sub}</span>'


def encoded_chips(enc: Encoded, show_ids: bool = False, show_bytes: bool = False, lang: str = FALLBACK) -> str:
    """The shown tokens of one encoding as chips; partial tokens dashed and boxed with the character they make."""
    w = words("tokenlab", lang)
    group_at = {g.first: g for g in enc.groups}
    group_end: dict[int, str] = {}
    out: list[str] = []
    for tok in enc.tokens:
        if tok.position in group_at:
            g = group_at[tok.position]
            title = w["group"].format(first=g.first, last=g.last, text=g.text, hex=hex_bytes(g.data))
            out.append(f'<span class="tl-group" title="{html.escape(title, quote=True)}">')
            group_end[g.last] = f'<span class="tl-glabel">= {visible_html(g.text)}</span></span>'
        title = w["token"].format(position=tok.position, id=tok.id, hex=hex_bytes(tok.data))
        if tok.partial:
            title += w["partial"]
        subs = ([str(tok.id)] if show_ids else []) + ([hex_bytes(tok.data)] if show_bytes else [])
        out.append(_chip(visible_html(tok.text), tok.position, title, subs, "tl-part" if tok.partial else ""))
        if tok.position in group_end:
            out.append(group_end.pop(tok.position))
        if tok.text.endswith("\n"):
            out.append("<br>")
    out.extend(group_end.values())  # a group cut by the end of the shown part
    return "".join(out)


def comparison_html(encodings: Sequence[Encoded], headers: Sequence[str], show_ids: bool = False,
                    show_bytes: bool = False, lang: str = FALLBACK) -> str:
    """One row per encoding: its header line (plain text, escaped here) above its chips."""
    if len(encodings) != len(headers):
        raise ValueError(f"comparison_html needs one header per encoding: got {len(headers)} for {len(encodings)}.")
    rows = [
        f'<div class="tl-row" data-encoding="{html.escape(enc.name, quote=True)}">'
        f'<div class="tl-head">{html.escape(head)}</div>'
        f'<div class="tl-chips">{encoded_chips(enc, show_ids, show_bytes, lang)}</div></div>'
        for enc, head in zip(encodings, headers, strict=True)
    ]
    return f'<div class="tl-rows">{"".join(rows)}</div>'


def chunks_html(chunkings: Sequence[Chunking], headers: Sequence[str], lang: str = FALLBACK) -> str:
    """One row per pattern: the chunks it cut the text into, as chips."""
    if len(chunkings) != len(headers):
        raise ValueError(f"chunks_html needs one header per pattern: got {len(headers)} for {len(chunkings)}.")
    rows, w = [], words("tokenlab", lang)
    for ch, head in zip(chunkings, headers, strict=True):
        chips = "".join(
            _chip(visible_html(c), i, w["chunk"].format(i=i, n=len(c.encode("utf-8"))))
            + ("<br>" if c.endswith("\n") else "")
            for i, c in enumerate(ch.chunks)
        )
        rows.append(f'<div class="tl-row"><div class="tl-head">{html.escape(head)}</div>'
                    f'<div class="tl-chips">{chips}</div></div>')
    return f'<div class="tl-rows">{"".join(rows)}</div>'


def state_html(state: Sequence[Sequence[bytes]], ranks: dict[bytes, int], mark: tuple[int, int] | None = None,
               mark_class: str = "tl-new", span: int = 1, lang: str = FALLBACK) -> str:
    """A BPE state: each chunk boxed, its parts as chips with their rank on hover and below.

    ``mark`` = (chunk, index) outlines ``span`` parts from there with ``mark_class``: the pair about
    to merge (``tl-pick``, span 2) or the token just made (``tl-new``).
    """
    boxes, w = [], words("tokenlab", lang)
    colour = 0
    for c, parts in enumerate(state):
        chips = []
        for i, part in enumerate(parts):
            rank = ranks.get(part)
            marked = mark is not None and mark[0] == c and mark[1] <= i < mark[1] + span
            title = w["part"].format(hex=hex_bytes(part)) + (w["rank"].format(rank=rank) if rank is not None else "")
            subs = [str(rank)] if rank is not None else []
            chips.append(_chip(_part_html(part), colour, title, subs, mark_class if marked else ""))
            colour += 1
        boxes.append(f'<span class="tl-chunk">{"".join(chips)}</span>')
    return f'<div class="tl-rows tl-chips">{"".join(boxes)}</div>'


def pairs_html(pairs: Sequence[Pair], chosen: Pair | None, limit: int = 80) -> str:
    """Every neighbouring pair with the rank of its join (— if not a token); the chosen one in bold."""
    out = []
    for p in pairs[:limit]:
        cls = "tl-best" if p == chosen else ("tl-none" if p.rank is None else "")
        rank = "—" if p.rank is None else f"{p.rank:,}"
        out.append(f'<span class="tl-pair {cls}">{_part_html(p.left)} + {_part_html(p.right)} · {rank}</span>')
    return f'<div class="tl-rows">{"".join(out)}</div>'


def step_html(step: Step, ranks: dict[bytes, int], lang: str = FALLBACK) -> str:
    """One step: the state with the merging pair outlined, and the state after with the new token outlined."""
    if step.merged is None:  # the whole-chunk shortcut
        c = step.shortcut_chunk if step.shortcut_chunk is not None else 0
        before = state_html(step.before, ranks, (c, 0), "tl-pick", len(step.before[c]), lang)
        after = state_html(step.after, ranks, (c, 0), lang=lang)
    else:
        m = step.merged
        before = state_html(step.before, ranks, (m.chunk, m.index), "tl-pick", 2, lang)
        after = state_html(step.after, ranks, (m.chunk, m.index), lang=lang)
    return f'{before}<div class="tl-head">↓</div>{after}'


def _text(data: bytes) -> str:
    return visible_text(data.decode("utf-8", errors="replace"))


def _listed(texts: Sequence[str]) -> str:
    """Token texts for a table cell, each in brackets: "[<] [|] [end]" (a token can itself be "|" or ",")."""
    return " ".join(f"[{visible_text(x)}]" for x in texts)


def group_rows(enc: Encoded, limit: int = 50, lang: str = FALLBACK) -> list[dict]:
    """Table rows for the partial-character groups of one encoding: each token's bytes, alone and together."""
    by_pos, w = {tok.position: tok for tok in enc.tokens}, words("tokenlab", lang)
    rows = []
    for g in enc.groups[:limit]:
        members = [by_pos[p] for p in range(g.first, g.last + 1)]
        rows.append({w["col_tokens"]: f"{g.first}–{g.last}", w["col_ids"]: ", ".join(str(m.id) for m in members),
                     w["col_bytes_each"]: " | ".join(hex_bytes(m.data) for m in members),
                     w["col_each_alone"]: _listed([m.text for m in members]),
                     w["col_together"]: visible_text(g.text)})
    return rows


def entry_rows(entries: Sequence[VocabEntry], marked: int | None = None, lang: str = FALLBACK) -> list[dict]:
    """Table rows for vocabulary entries; the entry with id ``marked`` gets ◀ (no marker column without one)."""
    w = words("tokenlab", lang)
    return [({"": "◀" if e.id == marked else ""} if marked is not None else {})
            | {w["col_id"]: e.id, w["col_token"]: visible_text(e.text), w["col_bytes"]: hex_bytes(e.data),
               w["col_made_from"]: " + ".join(_text(p) for p in e.made_from)}
            for e in entries]


def special_rows(views: Sequence[SpecialView], lang: str = FALLBACK) -> list[dict]:
    """Table rows: per tokenizer, the special token's id and what typing its string gives."""
    w = words("tokenlab", lang)
    return [{w["col_tokenizer"]: v.label, w["col_special_id"].format(special=v.special): v.special_id,
             w["col_typed"].format(special=v.special): w["typed"].format(n=len(v.typed),
                                                                         tokens=_listed([e.text for e in v.typed])),
             w["col_their_ids"]: ", ".join(str(e.id) for e in v.typed),
             w["col_all_specials"]: ", ".join(f"{s} = {i}" for s, i in v.all_specials)} for v in views]


def size_rows(sizes: Sequence[VocabSize], lang: str = FALLBACK) -> list[dict]:
    w = words("tokenlab", lang)
    return [{w["col_tokenizer"]: s.label, w["col_ids"]: s.n_vocab, w["col_merged"]: s.n_merged,
             w["col_specials"]: s.n_special} for s in sizes]
