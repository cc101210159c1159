"""Two languages: every catalog has its Chinese twin, page code holds no prose, every page speaks both."""

import ast
import re
import string
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import use_default_model
from ui.lang import from_locale
from viz import catalog

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "assets" / "text"
ENGLISH = sorted(p.name.removesuffix(".en.md") for p in TEXT.glob("*.en.md"))
_PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")  # {name}, {n:,}, %{y} (plotly's), not {{ }}


def placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


def label_sections(page: str) -> set[str]:
    """Sections read as "key: text" lines: "labels", and any other of two or more lines that all look so."""
    found = {"labels"}
    for name, text in _raw(page, "en").items():
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) >= 2 and all(re.match(r"^[\w.-]+: ", line) for line in lines):
            found.add(name)
    return found


def _raw(page: str, lang: str) -> dict[str, str]:
    """A file's own sections, without the English fill-in."""
    parts = catalog._MARKER.split((TEXT / f"{page}.{lang}.md").read_text(encoding="utf-8"))
    return {"intro": parts[0].strip()} | {k: v.strip() for k, v in zip(parts[1::2], parts[2::2], strict=True)}


# --- (a) one catalog per language, the same shape --------------------------------------------------------------


@pytest.mark.parametrize("page", ENGLISH)
def test_every_english_text_has_a_chinese_twin_with_the_same_sections_keys_and_placeholders(page):
    zh_path = TEXT / f"{page}.zh.md"
    assert zh_path.is_file(), f"assets/text/{page}.zh.md is missing"
    en, zh = _raw(page, "en"), _raw(page, "zh")
    assert list(zh) == list(en), f"{page}: the sections differ (or are in another order)"
    for name in en:
        if name in label_sections(page) and name in en:
            en_labels, zh_labels = catalog.parse_labels(en[name]), catalog.parse_labels(zh[name])
            assert list(zh_labels) == list(en_labels), f"{page}/{name}: the label keys differ"
            for key, text in en_labels.items():
                assert placeholders(zh_labels[key]) == placeholders(text), f"{page}/{name}/{key}: placeholders differ"
        else:
            assert placeholders(zh[name]) == placeholders(en[name]), f"{page}/{name}: placeholders differ"
        assert bool(zh[name]) == bool(en[name]), f"{page}/{name}: empty in one language only"


@pytest.mark.parametrize("page", [p for p in ENGLISH if (TEXT / f"{p}.zh.md").is_file()])
def test_chinese_texts_keep_latex_markers_and_markdown_structure(page):
    en, zh = _raw(page, "en"), _raw(page, "zh")
    for name in en:
        for pattern in (r"\$[^$]+\$", r"^#+ ", r"^\d+\. ", r"^[-*] ", r"`"):
            count = len(re.findall(pattern, en[name], re.MULTILINE))
            assert len(re.findall(pattern, zh[name], re.MULTILINE)) == count, f"{page}/{name}: {pattern!r} differs"
        if name not in label_sections(page) and name != "intro" and en[name] != zh[name]:  # same: kept on purpose
            assert re.search(r"[\u4e00-\u9fff]", zh[name]) or not re.search(r"[A-Za-z]{3,} [a-z]{3,}", en[name]), \
                f"{page}/{name} reads as English in the Chinese file"


def test_the_language_follows_the_browser_and_defaults_to_english():
    assert [from_locale(x) for x in ("zh-CN", "zh-TW", "zh", "ZH-hans", "en-US", "fr", "", None)] == \
        ["zh", "zh", "zh", "zh", "en", "en", "en", "en"]


def test_a_missing_translation_falls_back_to_english_key_by_key():
    en = catalog.labels("common", "labels", "en")
    assert catalog.labels("common", "labels", "xx") == en  # an unknown language reads as English
    assert catalog.labels("common", "labels", "zh").keys() == en.keys()


# --- (b) page code holds no prose ------------------------------------------------------------------------------

DISPLAY = {  # Streamlit calls whose string arguments reach the screen
    "title", "header", "subheader", "markdown", "caption", "text", "write", "info", "warning", "error", "success",
    "toast", "exception", "button", "download_button", "link_button", "page_link", "checkbox", "toggle", "radio",
    "selectbox", "multiselect", "slider", "select_slider", "text_input", "text_area", "number_input", "date_input",
    "segmented_control", "pills", "metric", "expander", "tabs", "popover", "spinner", "status", "progress", "html",
    "dataframe", "table", "data_editor", "Page", "set_page_config", "update",
}
TEXT_KEYWORDS = {"label", "help", "placeholder", "title", "alt", "text", "body", "show_spinner", "format_func",
                 "page_title", "value"}
NOT_TEXT = {"latex", "code"}  # formulas and shell commands, not prose
_WORD = re.compile(r"[A-Za-z][a-z]+")
_TAG = re.compile(r"<[^>]*(>|$)")  # HTML markup (a tag, or the start of one an f-string continues)


def english_words(text: str) -> int:
    return sum(bool(_WORD.fullmatch(t.strip(string.punctuation + "…·—–"))) for t in _TAG.sub(" ", text).split())


def _strings(node: ast.AST):
    """String literals under ``node`` (an f-string's literal parts together), with their line."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.JoinedStr):
            yield sub.lineno, "".join(v.value for v in sub.values if isinstance(v, ast.Constant))
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.lineno, sub.value


def prose_in(path: Path) -> list[str]:
    """Literal strings of two or more English words passed to Streamlit display calls and widget labels."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in NOT_TEXT:
            continue
        parts = [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
        if name in DISPLAY:
            parts += node.args
        for part in parts:
            for line, text in _strings(part):
                if english_words(text) >= 2 and not text.startswith(":material/"):
                    found.append(f"{path.name}:{line}: {text!r}")
    return found


def test_the_prose_check_finds_labels_and_lets_keys_and_icons_pass(tmp_path):
    sample = tmp_path / "page.py"
    sample.write_text('st.button("Show ids", key="tokens.show_ids", icon=":material/arrow_forward:")\n'
                      'left.selectbox(label("layer"), range(3), format_func=lambda i: f"Layer {i} of 3")\n'
                      'st.caption(section(PAGE, "no_partials"))\nst.latex(r"\\mathrm{softmax} of it")\n')
    assert [f.split(" ", 1)[1] for f in prose_in(sample)] == ["'Show ids'", "'Layer  of 3'"]


def test_page_code_holds_no_prose():
    files = sorted((ROOT / "app_pages").glob("*.py")) + sorted((ROOT / "ui").glob("*.py")) + [ROOT / "app.py"]
    found = [f for path in files for f in prose_in(path)]
    assert not found, "move these strings into assets/text/<page>.en.md (and .zh.md):\n" + "\n".join(found)


# --- (c) every page in Chinese, and back -----------------------------------------------------------------------

PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py"))


def _shown(at: AppTest) -> str:
    """The visible text of a run: titles, markdown, captions, notices and widget labels."""
    parts = [e.value for kind in ("title", "markdown", "caption", "info", "warning", "success", "error")
             for e in getattr(at, kind)]
    parts += [getattr(w, "label", "") for kind in ("selectbox", "slider", "toggle", "button", "radio", "text_area")
              for w in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _intro_line(page: str, lang: str) -> str:
    """The first line of a page's intro in ``lang`` (AppTest reports Markdown as written)."""
    return catalog.sections(page, lang)["intro"].splitlines()[0].strip()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_speaks_chinese_and_switches_back_to_english(tmp_path, monkeypatch, page):
    use_default_model(tmp_path / "tiny", monkeypatch)
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert at.session_state["lang"] == "en"  # no browser language here: English
    at.switch_page(f"app_pages/{page}.py").run()
    at.segmented_control(key="lang").set_value("zh").run()  # the sidebar's picker, as a user clicks it
    assert not at.exception, at.exception
    zh = _shown(at)
    if page != "home":
        assert catalog.labels("common", "pages", "zh")[page] in [t.value for t in at.title]
    assert _intro_line(page, "zh") in zh, f"{page}: the Chinese intro is not shown"
    assert catalog.labels("common", "labels", "zh")["prompt"] in [t.label for t in at.sidebar.text_area]
    at.segmented_control(key="lang").set_value("en").run()
    assert not at.exception, at.exception
    en = _shown(at)
    assert _intro_line(page, "en") in en, f"{page}: the English intro is not back"
    assert _intro_line(page, "zh") not in en
    assert "Your text" in [t.label for t in at.sidebar.text_area]


def test_a_session_that_starts_in_chinese_keeps_it_across_pages(tmp_path, monkeypatch):
    use_default_model(tmp_path / "tiny", monkeypatch)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["lang"] = "zh"  # as a link (?lang=zh) or a Chinese browser leaves it
    at.run()
    assert at.session_state["lang"] == "zh" and at.segmented_control(key="lang").value == "zh"
    at.switch_page("app_pages/overview.py").run()
    assert at.title[0].value == catalog.labels("common", "pages", "zh")["overview"]


def test_preset_texts_in_the_catalog_match_what_the_presets_record():
    from gpt_core import PRESETS

    english = catalog.words("presets")
    for key, text in english.items():
        kind, name = key.split(".", 1)
        recorded = {p.notes for p in PRESETS.values() if p.name == name} if kind == "note" else \
            {getattr(p, {"data": "training_data", "tokenizer": "tokenizer"}[kind]) for p in PRESETS.values()
             if p.family == name}
        assert recorded == {text}, f"figures.en.md presets/{key} no longer matches gpt_core.config"
    assert {f"note.{p.name}" for p in PRESETS.values() if p.notes} <= set(english)


def test_figures_draw_their_words_in_the_language_asked_for():
    import numpy as np

    from viz import attention, model

    fig = attention.attention_heatmap(np.eye(3), ["a", "b", "c"], lang="zh")
    assert fig.layout.xaxis.title.text == catalog.words("attention", "zh")["key_axis"]
    assert "键" in fig.data[0].hovertemplate and "key" not in fig.data[0].hovertemplate
    rows = model.param_rows({"token_embedding": 2, "position_embedding": 1, "attention": 3, "mlp": 4,
                             "layer_norms": 1, "head": 0, "total": 11}, tied=True, lang="zh")
    assert list(rows[0]) == ["组成部分", "参数", "占比"] and rows[-1]["组成部分"] == "合计"
    assert "共享" in rows[-2]["组成部分"]
