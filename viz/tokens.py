"""Tokens as coloured chips, with whitespace made visible."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence

from gpt_core.tokenizer import whole_characters

from .catalog import FALLBACK, words

# Okabe–Ito colours (safe for the common kinds of colour blindness). Chips use them as a
# translucent fill plus a solid underline, so the text keeps the theme's own colour and stays
# readable on light and dark backgrounds alike.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
WHITESPACE = {" ": "⋅", "\t": "→", "\n": "↵", "\r": "←"}  # drawn from fonts every system has (no ␍)


# Characters that take no room on screen (controls, format characters such as zero-width spaces and direction
# overrides, separators, private use, unassigned, other spaces): drawn as their code point, so a token made of
# one is seen, and an override cannot turn the text after it around.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}


def _marker(c: str) -> str | None:
    """What to draw instead of ``c``, or None when ``c`` shows as itself."""
    if c in WHITESPACE:
        return WHITESPACE[c]
    cat = unicodedata.category(c)
    return f"⟨U+{ord(c):04X}⟩" if cat in _INVISIBLE or (cat == "Zs" and c != " ") else None


def visible(token: str) -> str:
    """The token with spaces, tabs and line breaks drawn as ⋅ → ↵ and invisible characters as ⟨U+200B⟩
    (plain text, not escaped)."""
    return "".join(_marker(c) or c for c in token)


def visible_in_prose(text: str) -> str:
    """Text a model wrote, for reading as text: spaces, tabs and line breaks stay as they are, while characters
    that would draw nothing or a box (controls, a lone carriage return, zero-width and direction marks) are drawn
    as in ``visible`` (plain text, not escaped)."""
    return "".join(c if c in " \t\n" else _marker(c) or c for c in text)


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _chip_body(token: str) -> str:
    """Escaped token text with whitespace and invisible-character markers dimmed so they read as markers."""
    out = []
    for c in token:
        mark = _marker(c)
        out.append(html.escape(c) if mark is None else f'<span style="opacity:0.55">{mark}</span>')
    return "".join(out)


# The box around the chips of one character split between tokens: a thin frame in the text's own colour.
_GROUP_STYLE = ("display:inline-block;border:1px solid currentColor;border-radius:6px;padding:0 1px;margin:0 2px;"
                "white-space:nowrap")


def chips_html(
    tokens: Sequence[str], ids: Sequence[int], raw: Sequence[bytes] | None = None, first_position: int = 0,
    lang: str = FALLBACK,
) -> str:
    """One chip per token, neighbours in different colours, position and id on hover.

    ``raw`` (each token's bytes) adds the bytes to the hover text of tokens that are only part
    of a UTF-8 character, which show as �, and boxes the chips that make one character between
    them together with that character ("= 我"). A chip that ends a line is followed by a line
    break, so the chips keep the text's layout.
    """
    if len(tokens) != len(ids) or (raw is not None and len(raw) != len(ids)):
        raise ValueError(f"chips_html needs one id (and byte string) per token: got {len(tokens)} tokens, "
                         f"{len(ids)} ids.")
    chips, w = [], words("tokens", lang)
    groups = {first: (stop, text) for first, stop, text in whole_characters(raw) if stop - first > 1} if raw else {}
    close_at: dict[int, str] = {}  # the last chip of a split character -> what closes its box
    for i, (tok, tid) in enumerate(zip(tokens, ids, strict=True)):
        if i in groups:
            stop, text = groups[i]
            title = w["char_group"].format(first=first_position + i, last=first_position + stop - 1, text=visible(text))
            chips.append(f'<span class="tok-char" title="{html.escape(title, quote=True)}" style="{_GROUP_STYLE}">')
            close_at[stop - 1] = (f'<span class="tok-whole" style="padding:0 3px 0 2px">= {_chip_body(text)}</span>'
                                  "</span>")
        colour = PALETTE[i % len(PALETTE)]
        hover = w["chip"].format(position=first_position + i, id=int(tid))
        if raw is not None and "\ufffd" in tok:
            hover += w["chip_bytes"].format(bytes=raw[i].hex(" "))
        title = html.escape(hover, quote=True)
        style = (
            f"background:{_rgba(colour, 0.22)};border-bottom:3px solid {colour};border-radius:4px;"
            "padding:1px 3px;margin:2px 1px;display:inline-block;white-space:pre"
        )
        chips.append(f'<span class="tok" title="{title}" style="{style}">{_chip_body(tok)}</span>')
        if i in close_at:
            chips.append(close_at.pop(i))
        if tok.endswith("\n"):
            chips.append("<br>")
    return (
        '<div class="token-chips" style="font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;'
        f'font-size:0.95rem;line-height:2.1">{"".join(chips)}</div>'
    )


def axis_labels(tokens: Sequence[str], first_position: int = 0) -> list[str]:
    """Unique, escaped axis labels "#position token" (plotly merges equal category labels)."""
    return [html.escape(f"#{first_position + i} {visible(t)}") for i, t in enumerate(tokens)]
