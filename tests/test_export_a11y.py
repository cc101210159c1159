"""Export and accessibility: slide-sized PNG/SVG chart downloads, CSV for every table, the printable handout,
readable colour scales, a text summary and a table for the charts that matter, on a tiny seeded model."""

from __future__ import annotations

import datetime
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from conftest import open_app
from streamlit.testing.v1 import AppTest

import gpt_core
from gpt_core.handout import handout_data
from gpt_core.prompt import run_prompt
from ui import charts, handout
from viz import a11y
from viz import attention_grid as ag
from viz import embeddings as ev
from viz import generation as vg
from viz import training as vt
from viz import uses as vu
from viz.attention import attention_heatmap
from viz.catalog import labels, sections
from viz.handout import build_html, colour

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?"
HOSTILE = "<script>alert(\"x\")</script> \"quoted\" 'single' & <b>bold</b> <img src=x onerror=alert(1)>"
HANDOUT = "Download handout"


@pytest.fixture
def bundle(tiny_model_dir):
    return gpt_core.load_model(str(tiny_model_dir))


def open_page(page: str, prompt: str | None = None) -> AppTest:
    at = open_app(page, prompt, timeout=90)
    assert not at.exception, [e.value for e in at.exception]
    return at


def configs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.config) for el in at.get("plotly_chart")]


class Parsed(HTMLParser):
    """Tags, attributes and visible text of an HTML document."""

    def __init__(self, body: str):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], ""
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)

    def handle_data(self, data):
        self.text += data


def handout_for(bundle, prompt: str, layer: int = 1, head: int = 1, query: int | None = None, lang: str = "en"):
    run = run_prompt(bundle, prompt)
    T = len(run.ids)
    query = T - 1 if query is None else query
    data = handout_data(run, bundle.tokenizer, prompt, bundle.info.name, layer, head, query, 0, T, "2030-01-02")
    return run, data, build_html(data, lang)


# --- chart export --------------------------------------------------------------------------------------------


def test_chart_toolbar_saves_slide_sized_images_without_the_logo():
    opts = charts.CONFIG["toImageButtonOptions"]
    assert (opts["width"] * opts["scale"], opts["height"] * opts["scale"]) == (1920, 1080)
    assert charts.CONFIG["displaylogo"] is False and opts["format"] == "png"
    assert charts.file_name("attention.m_step_qkv") == "attention_m_step_qkv"


def test_every_chart_and_small_table_in_the_pages_goes_through_ui_charts():
    sources = [p for d in ("app_pages", "ui") for p in (ROOT / d).glob("*.py") if p.name != "charts.py"]
    for path in sources:
        code = path.read_text(encoding="utf-8")
        assert "plotly_chart(" not in code, f"{path.name} draws a chart without ui.charts.show"
        assert not re.search(r"(?<!charts)\.table\(", code), f"{path.name} draws a table without a CSV download"


def test_sidebar_picks_png_or_svg_for_every_chart_toolbar(tiny_model_dir):
    at = open_page("app_pages/overview.py", PROMPT)
    first = configs(at)
    assert len(first) == 2 and all(c["toImageButtonOptions"]["format"] == "png" for c in first)
    assert [c["toImageButtonOptions"]["filename"] for c in first] == ["attention_layer1_head1", "next_token_top10"]
    at.sidebar.radio(key=charts.FORMAT_KEY).set_value("svg").run()
    for c in configs(at):
        assert c["toImageButtonOptions"] | {"filename": ""} == charts.CONFIG["toImageButtonOptions"] | {
            "format": "svg", "filename": ""}
        assert c["displaylogo"] is False


def test_small_tables_offer_a_csv_download(tiny_model_dir):
    at = open_page("app_pages/model.py")
    assert len(at.table) == 3
    assert [b.label for b in at.get("download_button")].count("CSV") == 3
    assert charts.to_csv([{"a": 1, "b": "x,y"}]) == 'a,b\n1,"x,y"\n'


# --- the handout ---------------------------------------------------------------------------------------------


def test_handout_is_self_contained(bundle):
    _, _, page = handout_for(bundle, PROMPT)
    parsed = Parsed(page)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(parsed.tags)
    assert not [a for a in parsed.attrs if a[1] in ("src", "href")]
    assert not re.search(r"https?://|@import|url\(", page)


def test_handout_escapes_a_hostile_prompt(bundle):
    _, data, page = handout_for(bundle, HOSTILE)
    parsed = Parsed(page)
    assert not {"script", "b", "img"} & set(parsed.tags)
    assert not any(k.startswith("on") for _, k, _ in parsed.attrs)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert HOSTILE in parsed.text  # the prompt reads back exactly as typed
    assert all(HOSTILE not in v for _, _, v in parsed.attrs)


def test_handout_holds_the_models_own_numbers(bundle):
    run, data, page = handout_for(bundle, PROMPT, layer=1, head=1)
    pattern = run.cache.pattern(1)[1].double().numpy()
    cells = re.findall(r'data-q="(\d+)" data-k="(\d+)" data-w="([0-9.]+)"', page)
    T = len(run.ids)
    assert len(cells) == T * (T + 1) // 2  # every allowed cell of the pattern, none of the masked ones
    for q, k, w in cells:
        assert float(w) == pytest.approx(pattern[int(q), int(k)], abs=1e-6)
    row = {int(j): float(w) for j, w in re.findall(r'data-key="(\d+)" data-weight="([0-9.]+)"', page)}
    assert sorted(row) == list(range(T))  # the worked row lists every key the last token may see
    assert np.allclose([row[j] for j in range(T)], pattern[T - 1], atol=1e-6)
    probs = torch.softmax(run.last_logits.double(), -1)
    top = torch.topk(probs, 10)
    assert f"{float(top.values[0]):.1%}" in page
    assert data.check < 1e-5 and data.next_ids == top.indices.tolist()
    assert f"q<sub>{T - 1}</sub> · k<sub>" in page  # the dot product written out for the strongest key


def test_handout_of_a_long_row_lists_the_largest_weights_and_sums_the_rest(tiny_model_dir, bundle):
    text = "To be, or not to be, that is the question. " * 6
    run, data, page = handout_for(bundle, text)
    listed = re.findall(r'data-key="(\d+)"', page)
    assert 0 < len(listed) < len(run.ids)
    assert "the other" in page and "sum over the keys" in page


def test_handout_speaks_chinese_with_the_same_sections(bundle):
    _, _, page = handout_for(bundle, PROMPT, lang="zh")
    assert '<html lang="zh-Hans">' in page and "GPT 如何阅读你的文本" in page and "注意力" in page
    en, zh = sections("handout", "en"), sections("handout", "zh")
    assert set(en) == set(zh)
    assert set(labels("handout", "labels", "en")) == set(labels("handout", "labels", "zh"))
    assert set(labels("charts", "summary", "en")) == set(labels("charts", "summary", "zh"))
    assert set(labels("charts", "labels", "en")) == set(labels("charts", "labels", "zh"))


def test_handout_names_a_split_character_by_its_part(bundle):
    """The worked table and the pattern's rows read "我(1/3)" for a token that is a third of 我, not "�"."""
    run, data, page = handout_for(bundle, "我 ok")
    assert data.labels[:3] == ["我(1/3)", "我(2/3)", "我(3/3)"] and data.tokens[0] == "\ufffd"
    assert "#0 我(1/3)" in page and "#2 我(3/3)" in page
    assert page.count('class="tok-char"') == 1 and "= 我</span>" in page  # the chips box the character too
    assert "\ufffd" not in page.split("<table class='work'", 1)[1]  # no replacement character after the chips


def test_handout_colours_run_light_to_dark_from_zero():
    shades = [colour(t / 10) for t in range(11)]
    lightness = [sum(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in shades]
    assert lightness == sorted(lightness, reverse=True) and shades[0] == "#f7fbff"


@pytest.mark.parametrize("page", ["app_pages/overview.py", "app_pages/attention.py"])
def test_pages_offer_the_handout(tiny_model_dir, page):
    at = open_page(page, PROMPT)
    buttons = [b for b in at.get("download_button") if b.label == HANDOUT]
    assert len(buttons) == 1 and "layer 1, head 1" in buttons[0].proto.help
    assert handout.file_name(datetime.date(2030, 1, 2), 0, 3) == "gpt_handout_2030-01-02_layer1_head4.html"


# --- text alternatives ---------------------------------------------------------------------------------------


def test_attention_summary_names_the_strongest_key_with_its_weight():
    p = np.array([[1, 0, 0], [0.3, 0.7, 0], [0.1, 0.62, 0.28]])
    s = a11y.attention_summary(p, ["The", " of", " the"], 2, 3, 2)
    assert s == "Layer 2, head 3: token “⋅the” (position 2) attends most to “⋅of” (position 1) with weight 0.62."
    assert "第 2 层第 3 个头" in a11y.attention_summary(p, ["The", " of", " the"], 2, 3, 2, "zh")
    assert a11y.next_summary(["a", "b"], [0.2, 0.5]) == "Most likely next tokens: “b” 50.0%, “a” 20.0%."


def test_figure_summary_and_table_read_the_figures_own_numbers():
    heat = attention_heatmap(np.array([[0.5, 0], [0.25, 0.75]]), ["A", "<b>"], title="Layer 1, head 2")
    s = a11y.figure_summary(heat)
    assert s.startswith("Layer 1, head 2: heat map of 2 rows × 2 columns") and "#1 <b>" in s and "0.75" in s
    rows = a11y.figure_table(heat)
    assert rows[1] == {"row": "#1 <b>", "#0 A": 0.25, "#1 <b>": 0.75} and rows[0]["#1 <b>"] is None
    bars = go.Figure(go.Bar(x=[0.1, 0.6], y=["x", "y"], orientation="h", name="p"))
    assert "the highest is y at 0.6" in a11y.figure_summary(bars)
    assert a11y.figure_table(bars) == [{"label": "x", "p": 0.1}, {"label": "y", "p": 0.6}]
    score = ag.score_figure(np.array([[0.1, 0.2], [0.9, 0.3]]), "induction")
    assert "row 2, column 1" in a11y.figure_summary(score)  # the axes' own labels (layers and heads from 1)


def test_overview_charts_carry_a_summary_and_a_table(tiny_model_dir, bundle):
    at = open_page("app_pages/overview.py", PROMPT)
    run = run_prompt(bundle, PROMPT)
    T = len(run.ids)
    pattern = run.cache.pattern(0)[0].numpy()
    alts = [el.proto.alt for el in at.get("plotly_chart")]
    j = int(pattern[T - 1].argmax())
    assert alts[0].startswith("Layer 1, head 1: token")
    assert f"(position {j}) with weight {pattern[T - 1, j]:.2f}" in alts[0]
    assert alts[1].startswith("Most likely next tokens:")
    tables = [e for e in at.expander if e.label == "Show as table"]
    assert len(tables) == 2 and not any(t.dataframe for t in tables)  # built only when opened
    for chart in ("heatmap", "top10"):  # open both, as a click would
        at.session_state[charts.table_key(f"overview.{chart}")] = True
    at.run()
    tables = [e for e in at.expander if e.label == "Show as table"]
    grid = tables[0].dataframe[0].value
    assert grid.shape == (T, T + 1)
    # the causal mask's cells (key after query) are empty, drawn as a dash the caption explains
    assert grid.iloc[:, 1:].isna().to_numpy().sum() == T * (T - 1) // 2
    assert tables[0].dataframe[0].proto.placeholder == "—" and "causal mask" in tables[0].caption[0].value
    assert "causal mask" not in tables[1].caption[0].value and not tables[1].dataframe[0].proto.placeholder
    assert np.allclose(grid.iloc[:, 1:].to_numpy(dtype=float)[np.tril_indices(T)], pattern[np.tril_indices(T)],
                       atol=1e-4)
    top = tables[1].dataframe[0].value
    assert list(top.columns) == ["rank", "token", "token id", "probability"] and len(top) == 10
    assert top["probability"].is_monotonic_decreasing


def test_every_attention_chart_has_a_summary(tiny_model_dir):
    at = open_page("app_pages/attention.py", PROMPT)
    alts = [el.proto.alt for el in at.get("plotly_chart")]
    assert alts and all(len(a) > 20 and re.search(r"\d", a) for a in alts)
    assert alts[0].startswith("All 4 attention heads")


# --- colour scales -------------------------------------------------------------------------------------------

RAINBOW = {"jet", "rainbow", "hsv", "turbo", "portland", "picnic", "electric", "hot", "blackbody"}


def _scales(fig: go.Figure) -> list[tuple]:
    """(colour scale name or stops, zmin, zmid, zmax) of every heatmap, from the trace or its colour axis."""
    out = []
    for t in fig.data:
        if t.type != "heatmap":
            continue
        if t.coloraxis:
            ax = fig.layout[t.coloraxis]
            out.append((ax.colorscale, ax.cmin, ax.cmid, ax.cmax))
        else:
            out.append((t.colorscale, t.zmin, t.zmid, t.zmax))
    return out


def _name(scale) -> str:
    """Plotly expands named scales to stops; identify the ones the app uses by their end colours."""
    ends = (scale[0][1].lower(), scale[-1][1].lower())
    known = {("#440154", "#fde725"): "viridis", ("rgb(5,48,97)", "rgb(103,0,31)"): "rdbu_r",
             ("rgb(103,0,31)", "rgb(5,48,97)"): "rdbu", ("rgb(247,251,255)", "rgb(8,48,107)"): "blues",
             ("rgba(0,0,0,0)", "#fde725"): "viridis"}
    return known.get(ends, "unknown: " + " → ".join(ends))


def test_heatmaps_are_sequential_from_zero_or_diverging_around_zero():
    rng = np.random.default_rng(0)
    p = np.tril(rng.random((6, 6)))
    p /= p.sum(1, keepdims=True)
    toks = [f"t{i}" for i in range(6)]
    weights = [
        attention_heatmap(p, toks), ag.pattern_figure(p, toks), ag.head_grid(np.stack([[p, p]])),
        ag.heads_for_query_figure(p[[5, 4]], toks, 5), ag.matrix_figure(p, toks, kind="weight"),
        ag.score_figure(p[:2, :3], "previous"), ag.test_sequence_figure(p, 3, 0),
        ev.residual_heatmap(rng.random((3, 6)) * 5, toks), vt.snapshots_figure([p, p], ["a", "b"], 3),
        vg.newest_attention_figure(rng.random((2, 2, 6)), toks), vu.answer_attention_figure(p[3:], toks, toks[3:], 3),
        vg.lens_figure(["emb", "L1"], [["a", "b"], ["c", "d"]], np.array([[0.5, 0.2], [0.6, 0.1]]), "a",
                       [0.5, 0.6], [1, 1]),
    ]
    signed = [ag.matrix_figure(rng.normal(size=(4, 3)), toks[:4]), ag.matrix_figure(np.triu(rng.normal(size=(4, 4)))
              - np.triu(np.full((4, 4), np.inf), 1), toks[:4], kind="masked"),
              ev.lookup_heatmap(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), toks[:3]),
              ev.similarity_heatmap(np.eye(3), [0, 1, 2])]
    for fig in weights:
        for scale, low, _, _ in _scales(fig):
            assert _name(scale) in ("viridis", "blues"), (fig.layout.title.text, _name(scale))
            assert low == 0, "a sequential scale starts at 0"
    for fig in signed:
        for scale, low, mid, high in _scales(fig):
            assert _name(scale).startswith("rdbu")
            assert mid == 0 or (low is not None and low == -high), "a diverging scale is centred on 0"
    for name in RAINBOW:
        assert name not in " ".join(p.read_text() for p in (ROOT / "viz").glob("*.py")).lower().split('"')


def test_lines_stay_visible_on_dark_and_light_themes():
    from viz.evolution import context_figure

    assert "#000000" not in ag.HEAD_COLOURS  # head 8's lines were black: invisible on the dark theme
    fig = context_figure(["GPT-1", "GPT-2"], [512, 1024], ["GPT-1", "GPT-2"], 300)
    assert all(s.line.color not in ("#000000", "black") for s in fig.layout.shapes)
