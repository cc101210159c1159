"""Page prose from ``assets/text/<page>.<lang>.md``, falling back to English.

A file is split into named sections by marker lines ``<!-- name -->``; the text before the
first marker is the section "intro". A translation may leave sections (or single labels) out: the
English ones fill in. The files are read by ``viz.catalog`` (no Streamlit there, so figures can use it
too); this module adds the session's language, ``st.session_state["lang"]`` ("en" or "zh").
"""

from __future__ import annotations

import streamlit as st

from viz.catalog import FALLBACK, LANGS, sections
from viz.catalog import labels as _labels


def lang() -> str:
    """The session's language: "en" or "zh" (anything else reads as English)."""
    value = st.session_state.get("lang")
    return value if value in LANGS else FALLBACK


def section(page: str, name: str = "intro") -> str:
    """One section of a page's text in the session's language."""
    try:
        return sections(page, lang())[name]
    except KeyError:
        raise KeyError(f"assets/text/{page}.{FALLBACK}.md has no section {name!r}.") from None


def labels(page: str, name: str = "labels") -> dict[str, str]:
    """Short UI strings (widget labels, column names) from a "key: text" section of a page's text
    ("labels" unless named), in the session's language; a key the translation lacks is taken from English."""
    return _labels(page, name, lang())


def fill(page: str, name: str, **values) -> str:
    """A section of a page's text with its {placeholders} filled in."""
    return section(page, name).format(**values)


def label(page: str, key: str, /, **values) -> str:
    """One short string of a page's "labels" section, its {placeholders} filled in when values are given."""
    text = labels(page)[key]
    return text.format(**values) if values else text


def title(page: str) -> str:
    """A page's title (as in the navigation), from the "pages" section of common.<lang>.md."""
    return labels("common", "pages")[page]
