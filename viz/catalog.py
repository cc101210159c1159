"""The text catalog, without Streamlit: ``assets/text/<name>.<lang>.md`` split into named sections.

A file is split by marker lines ``<!-- name -->``; the text before the first marker is the section
"intro". A translation may leave sections (or single labels) out: the English ones fill in.
``ui.text`` reads it in the session's language; figure builders here take a ``lang`` argument and
read their words from ``assets/text/figures.<lang>.md``, one section per module.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

TEXT_DIR = Path(__file__).resolve().parent.parent / "assets" / "text"
FALLBACK = "en"
LANGS = ("en", "zh")
_MARKER = re.compile(r"^<!--\s*([\w.-]+)\s*-->\s*$", re.MULTILINE)


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


def parse_labels(text: str) -> dict[str, str]:
    """``key: text`` lines as a dict (lines without ": " are ignored)."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def labels(page: str, name: str = "labels", lang: str = FALLBACK) -> dict[str, str]:
    """A "key: text" section in ``lang``, each missing key taken from English (a fresh dict: callers may change it)."""
    return dict(_labels(page, name, lang))


@functools.lru_cache(maxsize=256)
def _labels(page: str, name: str, lang: str) -> dict[str, str]:
    english = parse_labels(sections(page, FALLBACK).get(name, ""))
    if name not in sections(page, FALLBACK):
        raise KeyError(f"assets/text/{page}.{FALLBACK}.md has no section {name!r}.")
    return english | parse_labels(sections(page, lang if lang in LANGS else FALLBACK)[name])


def words(module: str, lang: str = FALLBACK) -> dict[str, str]:
    """The words a figure module draws (titles, axes, hover and legend text), from figures.<lang>.md."""
    return labels("figures", module, lang)


def put(template: str, **values: object) -> str:
    """``template`` with each ``{name}`` replaced, leaving plotly's own ``%{…}`` parts (and all else) as they are."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template
