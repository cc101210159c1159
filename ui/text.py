"""Page prose from ``assets/text/<page>.<lang>.md``, falling back to English.

A file is split into named sections by marker lines ``<!-- name -->``; the text before the
first marker is the section "intro". A translation may leave sections out: the English ones fill in.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import streamlit as st

TEXT_DIR = Path(__file__).resolve().parent.parent / "assets" / "text"
FALLBACK = "en"
_MARKER = re.compile(r"^<!--\s*([\w-]+)\s*-->\s*$", re.MULTILINE)


@functools.lru_cache(maxsize=64)
def sections(page: str, lang: str = FALLBACK) -> dict[str, str]:
    """Every section of a page's text in ``lang``, missing ones taken from English."""
    path = TEXT_DIR / f"{page}.{lang}.md"
    base = sections(page, FALLBACK) if lang != FALLBACK else {}
    if not path.is_file():
        if lang == FALLBACK:
            raise FileNotFoundError(f"No text for page {page!r}: {path} is missing.")
        return base
    parts = _MARKER.split(path.read_text(encoding="utf-8"))
    found = {"intro": parts[0].strip()} | {k: v.strip() for k, v in zip(parts[1::2], parts[2::2], strict=True)}
    return base | {k: v for k, v in found.items() if v}


def lang() -> str:
    return st.session_state.get("lang", FALLBACK)


def section(page: str, name: str = "intro") -> str:
    """One section of a page's text in the session's language."""
    try:
        return sections(page, lang())[name]
    except KeyError:
        raise KeyError(f"assets/text/{page}.{FALLBACK}.md has no section {name!r}.") from None


def labels(page: str) -> dict[str, str]:
    """Short UI strings (widget labels, column names) from a page text's "labels" section ("key: text" lines)."""
    return dict(line.split(": ", 1) for line in section(page, "labels").splitlines() if ": " in line)


def fill(page: str, name: str, **values) -> str:
    """A section of a page's text with its {placeholders} filled in."""
    return section(page, name).format(**values)
