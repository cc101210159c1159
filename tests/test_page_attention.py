"""The Attention page through Streamlit's AppTest, on a tiny seeded model: every control, and the numbers
the page shows checked against the model's own activations."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from conftest import open_app, use_default_model
from streamlit.testing.v1 import AppTest
from test_attention_math import recompute

import gpt_core
from gpt_core import GPTConfig
from ui.state import DEFAULT_PROMPT
from viz.attention_grid import STEPS

PAGE = "app_pages/attention.py"
TEXT = DEFAULT_PROMPT  # the page opens on the sidebar's default prompt


def key(name: str) -> str:
    return f"attention.{name}"


def open_page(prompt: str | None = None) -> AppTest:
    at = open_app(PAGE, prompt, timeout=90)
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A plotly JSON array, plain or base64-typed ({"dtype", "bdata", "shape"}), as numpy."""
    if isinstance(value, dict):
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return a.reshape([int(n) for n in str(value.get("shape", a.size)).split(",")])
    return np.asarray(value, dtype=float)


def texts(at: AppTest) -> str:
    """Every text on the page, whitespace (line breaks of the Markdown source) collapsed to single spaces."""
    return " ".join(" ".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                             + [i.value for i in at.info]).split())


def latex(at: AppTest) -> str:
    return "\n".join(el.value for el in at.latex)


def model_pattern(folder, text: str, layer: int, head: int) -> torch.Tensor:
    b = gpt_core.load_model(str(folder))
    _, cache = b.model.run_with_cache(torch.tensor([b.tokenizer.encode(text)]))
    return cache[f"blocks.{layer}.attn.hook_pattern"][0, head]


def test_page_shows_every_section(tiny_model_dir):
    at = open_page()
    md = texts(at)
    for heading in ("Every head at once", "Layer 1, head 1", "The formula, step by step", "One weight, by hand",
                    "A wrong formula", "What each head does", "Why several heads", "Export"):
        assert heading in md
    grid = charts(at)[0]
    assert [t["type"] for t in grid["data"]] == ["heatmap", "scatter"]
    assert len(array(grid["data"][1]["x"])) == 2 * 2  # one click target per (layer, head)
    assert r"\mathrm{Attention}(Q, K, V)" in latex(at)
    assert [b.label for b in at.get("download_button")] == [
        "Pattern of this head (CSV)", "Q, K, V and output of this head (CSV)", "Head scores of every head (CSV)",
        "Download handout"]
    assert "of all attention" in md  # the attention sink, explained with this text's share


def test_layer_and_head_pickers_open_that_head(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("layer")).set_value(1)
    at.selectbox(key=key("head")).set_value(1)
    rerun(at)
    assert "### Layer 2, head 2" in texts(at)
    shape = charts(at)[0]["layout"]["shapes"][0]  # the chosen tile is outlined in the grid
    assert shape["x0"] > 0 and shape["y0"] > 0


def test_the_large_pattern_shows_the_models_own_weights(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("layer")).set_value(1)
    rerun(at)
    big = next(c for c in charts(at) if len(c["data"]) == 3)  # heatmap + two click layers
    z = array(big["data"][0]["z"])
    expected = model_pattern(tiny_model_dir, TEXT, 1, 0).numpy()
    lower = np.tril_indices(expected.shape[0])
    assert np.allclose(z[lower], expected[lower], atol=1e-4)
    assert np.isnan(z[0, 1])  # masked cells are blank
    assert big["data"][0]["zmin"] == 0


def test_hide_first_toggle_renormalises_without_position_zero(tiny_model_dir):
    at = open_page()
    at.toggle(key=key("hide_first")).set_value(True)
    rerun(at)
    assert "Position 0 is hidden" in texts(at)
    big = next(c for c in charts(at) if len(c["data"]) == 3)
    z = array(big["data"][0]["z"])
    assert np.nanmax(np.abs(z[1:, 0])) == 0  # nothing left on the first token
    assert np.allclose(np.nansum(z[1:], axis=1), 1, atol=2e-3)  # the other keys share the whole row


def test_only_the_chosen_query_shows_one_row(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("query")).set_value(6)
    at.toggle(key=key("only_query")).set_value(True)
    rerun(at)
    bars = next(c for c in charts(at) if c["data"][0]["type"] == "bar" and len(c["data"][0]["x"]) == 7)
    assert sum(array(bars["data"][0]["y"])) == pytest.approx(1, abs=1e-3)


def test_lines_views_for_one_head_and_for_all_heads(tiny_model_dir):
    at = open_page("KING.\n<script>alert(1)</script> <b>lords</b>")
    at.segmented_control(key=key("view")).set_value("view_lines")
    rerun(at)
    view = next(c for c in charts(at) if "yaxis2" in c["layout"])
    assert {t["name"] for t in view["data"] if t.get("showlegend")} == {"head 1"}
    labels = view["layout"]["yaxis"]["ticktext"] + view["layout"]["yaxis2"]["ticktext"]
    assert any("&lt;" in label for label in labels) and not any("<" in label for label in labels)  # escaped
    at.segmented_control(key=key("view")).set_value("view_lines_all")
    at.toggle(key=key("only_query")).set_value(True)
    rerun(at)
    view = next(c for c in charts(at) if "yaxis2" in c["layout"])
    assert {t["name"] for t in view["data"] if t.get("showlegend")} == {"head 1", "head 2"}
    query = at.selectbox(key=key("query")).value
    starts = {int(y) for t in view["data"] if t["mode"] == "lines" and t["y"] != [None] for y in array(t["y"])[::3]}
    assert starts == {query}  # only the chosen query's lines (window rows; the window starts at 0 here)


def test_query_and_key_pickers_work_that_weight_out(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("query")).set_value(5)
    at.selectbox(key=key("key")).set_value(2)
    rerun(at)
    assert "query 5 → key 2" in texts(at)
    weight = float(model_pattern(tiny_model_dir, TEXT, 0, 0)[5, 2])
    tex = latex(at)
    assert r"q_{5} \cdot k_{2}" in tex and f"= {weight:.4f}" in tex


def test_a_key_after_the_query_is_masked(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("query")).set_value(2)
    at.selectbox(key=key("key")).set_value(5)
    rerun(at)
    assert "comes after query 2" in texts(at)
    assert r"+ (-\infty) = -\infty" in latex(at)


def test_every_step_of_the_formula_is_shown_and_checked(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("layer")).set_value(1)
    at.selectbox(key=key("head")).set_value(1)
    rerun(at)
    b = gpt_core.load_model(str(tiny_model_dir))
    _, cache = b.model.run_with_cache(torch.tensor([b.tokenizer.encode(TEXT)]))
    ref = recompute(cache, 1, 1)  # plain-Python float64 loops over hook_q, hook_k, hook_v
    ref["q"] = cache["blocks.1.attn.hook_q"][0, :, 1]
    shown = {"step_scores": ["scores"], "step_scale": ["scaled"], "step_mask": ["masked"],
             "step_softmax": ["pattern"], "step_output": ["z"], "step_qkv": ["q"]}
    for step in STEPS:
        at.radio(key=key("step")).set_value(step)
        rerun(at)
        if step in ("step_mask", "step_softmax", "step_output", "step_project"):
            assert "✓ Recomputed" in texts(at), step
        matrices = [array(c["data"][0]["z"]) for c in charts(at) if len(c["data"]) == 1 and "z" in c["data"][0]]
        for name in shown.get(step, []):
            expected = ref[name].numpy()
            finite = np.where(np.isfinite(expected), expected, np.nan)
            assert any(m.shape == expected.shape and np.allclose(m, finite, atol=1e-4, equal_nan=True)
                       for m in matrices), (step, name)
    assert r"\left[\, Z_1 \;\cdots\; Z_{2} \,\right] W_O" in latex(at)


def test_the_wrong_formula_is_flagged_and_its_rows_do_not_sum_to_one(tiny_model_dir):
    at = open_page()
    assert r"K^\top K^\top + \varepsilon" in latex(at)
    assert "No normalisation over the keys" in texts(at)
    table = next(d.value for d in at.dataframe if "query" in d.value.columns)  # not a chart's "Show as table"
    right, wrong = table.columns[2], table.columns[3]
    assert np.allclose(table[right], 1, atol=1e-5)
    assert not np.allclose(table[wrong], 1, atol=1e-2)


def test_head_scores_picker_and_the_test_sequence(tiny_model_dir):
    at = open_page()
    for score in ("previous", "first", "duplicate", "induction"):
        at.segmented_control(key=key("score")).set_value(score)
        rerun(at)
        maps = [c for c in charts(at) if c["data"][0].get("zmax") == 1 and len(c["data"]) == 2]
        assert maps and maps[0]["data"][1]["hovertemplate"].find(score) >= 0
    test_seq = [c for c in charts(at) if c["layout"].get("title", {}).get("text") == "On the test sequence"]
    assert test_seq and len(test_seq[0]["layout"]["shapes"]) == 3


def test_multi_head_comparison_names_each_heads_favourite(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("query")).set_value(4)
    rerun(at)
    comp = next(c for c in charts(at)
                if c["data"][0]["type"] == "heatmap" and str(c["data"][0].get("y")).count("→") == 2)
    assert len(comp["data"][0]["x"]) == 5  # keys 0..4


def test_empty_text_shows_a_message(tiny_model_dir):
    at = open_page("   \n ")
    assert "Type some text in the sidebar" in texts(at)
    assert not at.get("plotly_chart")


def test_a_shorter_text_brings_pickers_back_into_range(tiny_model_dir):
    at = open_page()
    at.selectbox(key=key("query")).set_value(20)
    rerun(at)
    at.text_area(key="prompt").set_value("To be")
    rerun(at)
    assert at.selectbox(key=key("query")).value < 3


@pytest.fixture
def long_context_model(tmp_path, monkeypatch):
    import streamlit as st

    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=160, vocab_size=1024)
    yield use_default_model(tmp_path / "long", monkeypatch, cfg, {"name": "long test model"})
    st.cache_data.clear()
    st.cache_resource.clear()


def test_long_text_is_shown_through_windows(long_context_model):
    at = open_page(" ".join(["Now is the winter of our discontent"] * 12))
    assert at.slider(key=key("grid_start")) and at.slider(key=key("start"))
    assert "each square shows 64 positions at a time: now 0–63" in texts(at)
    at.slider(key=key("start")).set_value(20)
    at.slider(key=key("grid_start")).set_value(10)
    rerun(at)
    md = texts(at)
    assert "(20–83)" in md and "now 10–73" in md
    assert 20 <= at.selectbox(key=key("query")).value <= 83


ODD = ["", " \n\t ", "你好，世界 🌍 Hello", "<b>x</b><img src=x onerror=alert(1)>",
       ("To be, or not to be, that is the question. " * 200)[:8000]]  # (AppTest cannot send lone surrogates)


@pytest.mark.parametrize("prompt", ODD)
def test_any_text_gives_a_page_without_error(tiny_model_dir, prompt):
    at = open_page(prompt)
    assert not at.error
    assert all("<img" not in h.value and "<b>" not in h.value for h in at.html)
