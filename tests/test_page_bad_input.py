"""Every page × every case of tests/bad_input.py through Streamlit's AppTest (tiny model, context 64).

tests/test_pages.py already renders every page for the empty prompt and a 2,000-character one, so those two
cases are left out here. The megabyte goes through the sidebar's text box, which keeps 100,000 characters in the
server and says so (a browser's own limit would drop a longer paste in silence). Lone surrogates cannot reach a
page (a browser sends UTF-8, and Streamlit serialises widget values as UTF-8): tests/test_bad_input_core.py
covers them in the core.
"""

import json
from html.parser import HTMLParser

import pytest
from streamlit.testing.v1 import AppTest

from gpt_core import get_tokenizer
from tests.bad_input import BY_NAME, CASES, SIDEBAR_MAX_CHARS
from tests.test_pages import ALL_PAGES, open_page

COVERED_IN_TEST_PAGES = {"empty", "over_context"}
PAGE_CASES = [c for c in CASES if c.typed and c.name not in COVERED_IN_TEST_PAGES]
PROMPT_PAGES = ["app_pages/overview.py", "app_pages/tokens.py", "app_pages/embeddings.py", "app_pages/attention.py",
                "app_pages/generation.py"]  # the pages that draw the sidebar text; each says something when it is blank
# Pieces of the hostile cases that must never reach a Markdown or HTML renderer as they were typed; plotly
# labels are not Markdown but take a few HTML tags (links among them), so there only tags count.
RAW = ["<script", "onerror=", "<iframe", "<img", "javascript:", "**boldface**", "$x$", ":red[red]", "$$\\frac"]
RAW_TAGS = ["<script", "<iframe", "<img", "<a ", "<b>"]
DANGEROUS_TAGS = {"script", "iframe", "img", "object", "embed", "svg", "math", "form", "input", "link", "meta"}


class Tags(HTMLParser):
    """Every tag and attribute a browser would create from an HTML string."""

    def __init__(self, body: str):
        super().__init__()
        self.tags, self.attrs = [], []
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs


def markdown_texts(at: AppTest) -> list[str]:
    """Every string Streamlit renders as Markdown: text elements, alerts, table cells, metric labels, options."""
    out = [el.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "header",
                                 "subheader", "toast") for el in getattr(at, kind)]
    for table in at.table:
        frame = table.value
        out += [str(c) for c in frame.columns] + [str(v) for v in frame.to_numpy().ravel()]
    out += [m.label for m in at.metric] + [str(o) for r in at.radio for o in r.options]
    return out


def plotly_strings(at: AppTest) -> list[str]:
    """Every string inside every plotly figure (labels, hover texts, titles)."""
    found = []

    def walk(v):
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for el in at.get("plotly_chart"):
        walk(json.loads(el.proto.spec))
    return found


def assert_shown_as_text(at: AppTest, text: str) -> None:
    """No markup from ``text`` is live anywhere on the page."""
    raw, tags = [r for r in RAW if r in text], [r for r in RAW_TAGS if r in text]
    for body in [el.value for el in at.html]:
        parsed = Tags(body)
        assert not DANGEROUS_TAGS & set(parsed.tags), parsed.tags
        assert not [a for a, _ in parsed.attrs if a.startswith("on")]
        assert not any(v and "javascript:" in v.lower() for a, v in parsed.attrs if a in ("href", "src"))
        if "<b>bold</b>" in text:
            assert "b" not in parsed.tags
    for s in markdown_texts(at):
        assert not [r for r in raw if r in s], s[:300]
    for s in plotly_strings(at):
        assert not [r for r in tags if r in s], s[:300]


@pytest.mark.parametrize("page", ALL_PAGES)
@pytest.mark.parametrize("case", PAGE_CASES, ids=lambda c: c.name)
def test_every_page_takes_hostile_and_broken_text(tiny_model_dir, page, case):
    at = open_page(page, case.text)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.text_area(key="prompt").value == case.text[:SIDEBAR_MAX_CHARS]  # the server keeps 100,000 at most
    cut = [w.value for w in at.sidebar.warning if "more than this box keeps" in w.value]
    assert cut == ([f"Your text had {len(case.text):,} characters, more than this box keeps: the first 100,000 are "
                    "used. To use another part, paste only that part."] if len(case.text) > SIDEBAR_MAX_CHARS else [])
    assert_shown_as_text(at, case.text)
    if page in PROMPT_PAGES and not case.text.strip():
        assert at.main.info, "a blank prompt gets a message"


@pytest.mark.parametrize("case", [c for c in PAGE_CASES if c.text.strip()], ids=lambda c: c.name)
def test_overview_counts_exactly_what_arrived_and_says_what_was_cut(tiny_model_dir, case):
    at = open_page("app_pages/overview.py", case.text)
    text = case.text[:SIDEBAR_MAX_CHARS]
    n = len(get_tokenizer("shakespeare_bpe").encode(text))
    assert [m.value for m in at.metric][:2] == [f"{len(text):,}", f"{n:,}"]
    assert at.html[0].value.count('class="tok"') == min(n, 64)
    if n > 64:
        assert f"your text has {n:,}, so the first {n - 64:,} were dropped" in at.warning[0].value
    else:
        assert not at.warning


# --- the other text boxes: each page's own inputs get the same cases --------------------------------------


def _uses(at: AppTest, text: str) -> None:
    at.text_area(key="uses.template.continue.zero").set_value(text).run()
    for button in [b for b in at.button if b.key == "uses.go"]:  # absent while the prompt is blank
        button.click().run()


def _typed(key: str):
    def fill(at: AppTest, text: str) -> None:
        at.text_input(key=key).set_value(text).run()
    return fill


def _training_text(at: AppTest, text: str) -> None:
    at.radio(key="training.corpus").set_value("own").run()
    at.text_area(key="training.own").set_value(text).run()


INPUTS = {
    "uses_prompt": ("app_pages/uses.py", _uses),
    "embeddings_word": ("app_pages/embeddings.py", _typed("embeddings.nn.word")),
    "embeddings_map_words": ("app_pages/embeddings.py", _typed("embeddings.map.words.shakespeare_bpe")),
    "tokens_bpe_span": ("app_pages/tokens.py", _typed("tokens.span")),
    "tokens_vocab_text": ("app_pages/tokens.py", _typed("tokens.vocab_text")),
    "training_prompt": ("app_pages/training.py", _typed("training.prompt")),
    "training_text": ("app_pages/training.py", _training_text),
}
INPUT_CASES = [BY_NAME[n] for n in ("whitespace", "planes", "controls", "bidi", "special_tokens", "html", "markdown",
                                    "long_word")]


@pytest.mark.parametrize("where", INPUTS)
@pytest.mark.parametrize("case", INPUT_CASES, ids=lambda c: c.name)
def test_every_text_box_takes_hostile_and_broken_text(tiny_model_dir, where, case):
    page, fill = INPUTS[where]
    at = open_page(page)
    fill(at, case.text)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert_shown_as_text(at, case.text)


@pytest.mark.parametrize(("page", "key", "limit"), [("app_pages/uses.py", "uses.template.continue.zero", 6_000),
                                                    ("app_pages/training.py", "training.own", 200_000)])
def test_a_paste_longer_than_a_box_keeps_is_cut_and_said(tiny_model_dir, page, key, limit):
    at = open_page(page)
    if page.endswith("training.py"):
        at.radio(key="training.corpus").set_value("own").run()
    long = BY_NAME["megabyte"].text[: limit + 1234]
    at.text_area(key=key).set_value(long).run()
    assert at.text_area(key=key).value == long[:limit]
    assert any(f"Your text had {limit + 1234:,} characters" in w.value for w in at.warning)
    at.text_area(key=key).set_value("ROMEO. But soft").run()  # a text that fits ends the notice
    assert not any("more than this box keeps" in w.value for w in at.warning)
    assert not at.exception
