"""The Evolution page: parameter counts against the papers, the cost arithmetic, and the page itself."""

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from gpt_core import GPT, PRESETS, count_parameters
from gpt_core.costs import costs, load_measurements, matmul_weights, measure, record_measurement
from gpt_core.evolution import norm_growth, preset_rows, published_figures, token_counts
from tests.conftest import TINY
from viz.evolution import context_figure, norm_figure, scale_figure, table_rows

ROWS = {r.name: r for r in preset_rows()}
EXPLAINED = {"gpt3-medium", "gpt3-175b"}  # counts that differ from the printed figure; the page says why


# --- counts against the published figures --------------------------------------------------------------


@pytest.mark.parametrize("name,exact,printed", [
    ("gpt2", 124_439_808, "124M"), ("gpt2-medium", 354_823_168, "355M"),
    ("gpt2-large", 774_030_080, "774M"), ("gpt2-xl", 1_557_611_200, "1558M"),
])
def test_gpt2_counts_match_the_published_figures_exactly(name, exact, printed):
    row = ROWS[name]
    assert row.counted == exact  # the released checkpoints' parameter counts
    assert row.corrected.text == printed and row.corrected.matches(row.counted)


def test_gpt2_papers_original_figures_are_shown_beside_the_corrected_ones():
    assert [ROWS[n].paper.text for n in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")] == \
        ["117M", "345M", "762M", "1542M"]


def test_gpt3_table_matches_within_rounding():
    gpt3 = [r for r in ROWS.values() if r.family == "GPT-3"]
    assert len(gpt3) == 8
    for r in gpt3:
        assert abs(r.difference) < 0.02, r.name
        assert r.paper.matches(r.counted) == (r.name not in EXPLAINED), r.name


def test_gpt1_count_is_the_117m_figure_rounded():
    r = ROWS["gpt1"]
    assert r.counted == 116_534_784 and r.paper.matches(r.counted)
    assert PRESETS["gpt1"].config.tie_word_embeddings  # the original code reuses the embedding as the head


def test_published_figures_are_parsed_with_their_precision():
    paper, corrected = published_figures("117M (124M counted)")
    assert (paper.value, paper.unit, corrected.text) == (117, "M", "124M")
    thirteen, none = published_figures("13.0B")
    assert none is None and thirteen.round_like(12_952_938_780) == "13.0B"
    with pytest.raises(ValueError, match="No parameter figure"):
        published_figures("about a hundred million")


# --- costs ----------------------------------------------------------------------------------------------


def test_costs_of_gpt2_small():
    c = costs(PRESETS["gpt2"].config)
    assert c.kv_per_token_fp32 == 2 * 12 * 768 * 4 == 73_728
    assert c.weights_fp32 == 124_439_808 * 4 and c.weights_fp16 == 124_439_808 * 2
    assert c.flops_attention == 4 * 12 * 1024 * 768
    assert c.flops_per_token == c.flops_weights + c.flops_attention
    assert c.rule_of_thumb == 2 * 124_439_808
    assert 0.95 < c.flops_weights / c.rule_of_thumb < 1.0  # 2 × params is close, counting look-ups as work


def test_matmul_weights_are_the_linear_layers_of_a_real_model():
    model = GPT(TINY)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert matmul_weights(TINY) == linear  # lm_head counted once, though it shares wte's matrix


def test_context_must_fit():
    with pytest.raises(ValueError, match="between 1 and"):
        costs(TINY, 0)
    with pytest.raises(ValueError, match="between 1 and"):
        costs(TINY, TINY.block_size + 1)


def test_measurements_round_trip_and_survive_a_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GPT_EXPLAINER_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    t = measure(GPT(TINY).eval(), list(range(10)), new_tokens=4)
    assert t.prompt_tokens == 10 and t.new_tokens == 4 and t.seconds_per_token > 0
    assert record_measurement("tiny@cpu", t.as_record("tiny", "cpu", 1))
    got = load_measurements()["tiny@cpu"]
    assert got["new_tokens"] == 4 and "when" in got
    (tmp_path / "measurements.json").write_text("{not json")
    assert load_measurements() == {}


def test_measure_leaves_room_in_a_full_context():
    t = measure(GPT(TINY).eval(), list(range(500)), new_tokens=8)
    assert t.prompt_tokens + t.new_tokens == TINY.block_size


# --- live examples -----------------------------------------------------------------------------------------


def test_norm_growth_reads_the_residual_stream_and_ln1():
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    _, cache = model.run_with_cache(torch.tensor([[1, 2, 3, 4, 5]]))
    g = norm_growth(cache)
    assert len(g.resid) == TINY.n_layer + 1 and len(g.normalized) == TINY.n_layer
    x = cache["blocks.1.hook_resid_pre"][0]
    assert g.resid[1] == pytest.approx(float(x.norm(dim=-1).mean()), abs=1e-3)


def test_token_counts_and_round_trip():
    got = {c.tokenizer: c for c in token_counts("Hello 世界 🌍", ["shakespeare_bpe", "r50k_base"])}
    assert got["r50k_base"].n_vocab == 50257 and got["r50k_base"].round_trip
    assert got["shakespeare_bpe"].n_tokens > got["r50k_base"].n_tokens  # 1,024 tokens split more
    lone = token_counts("a \ud800 b", ["r50k_base"])[0]  # a lone surrogate cannot be encoded as it is
    assert lone.n_tokens > 0 and not lone.round_trip


def test_figures_check_their_inputs():
    with pytest.raises(ValueError, match="same length"):
        scale_figure(["a", "b"], ["GPT-2"], [1, 2], [3, 4])
    with pytest.raises(ValueError, match="one more residual"):
        norm_figure([1.0, 2.0], [1.0, 1.0])
    fig = context_figure(["GPT-1"], [512], ["GPT-1"], 40)
    assert fig.data[0].y == (512,)


def test_table_rows_say_whether_each_count_matches():
    rows = {r["model"]: r for r in table_rows(preset_rows())}
    assert rows["gpt2"]["matches when rounded"] == "yes"
    assert rows["gpt3-medium"]["matches when rounded"].startswith("no: 356M (+1.7%)")
    assert rows["gpt2-xl"]["counted here"] == "1,557,611,200"


# --- the page ------------------------------------------------------------------------------------------------


def open_evolution(prompt: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    if prompt is not None:
        at.text_area(key="prompt").set_value(prompt)
    return at.switch_page("app_pages/evolution.py").run()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GPT_EXPLAINER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_page_shows_the_table_charts_and_sources(tiny_model_dir, cache_dir):
    at = open_evolution()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == len(PRESETS)
    assert table.set_index("model").loc["gpt2", "counted here"] == "124,439,808"
    assert len(at.get("plotly_chart")) == 3  # scale, norms, context
    page = " ".join(" ".join(m.value for m in at.markdown).split())  # line breaks of the text file ignored
    for title in ("Improving Language Understanding by Generative Pre-Training",
                  "Language Models are Unsupervised Multitask Learners", "Language Models are Few-Shot Learners"):
        assert title in page
    assert "5140" in page and "40 × 128 = 5120" in page
    assert "GPT-3 Medium" in page and "174.6B" in page  # the two GPT-3 differences are explained


def test_scale_chart_includes_the_loaded_model_with_its_real_count(tiny_model_dir, cache_dir):
    at = open_evolution()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = spec["data"][0]
    assert bars["y"][-1] == "tiny test model (this app)"
    assert bars["x"][-1] == count_parameters(TINY)["total"]


def test_calculator_works_out_a_chosen_model(tiny_model_dir, cache_dir):
    at = open_evolution()
    at.selectbox(key="evolution.calc_model").set_value("gpt2-xl").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Weights, float32"] == "6.23 GB"  # 1,557,611,200 × 4 bytes
    assert metrics["KV cache per token, float32"] == "614 KB"  # 2 × 48 × 1600 × 4 bytes
    assert any("not run this model yet" in i.value for i in at.info)
    at.slider(key="evolution.calc_context.gpt2-xl").set_value(10).run()
    detail = " ".join(m.value for m in at.markdown)
    assert f"{4 * 48 * 10 * 1600:,}" in detail


def test_measuring_the_loaded_model_is_stored_and_shown(tiny_model_dir, cache_dir):
    at = open_evolution()
    at.button(key="evolution.measure").click().run()
    assert not at.exception
    assert any("Measured on this machine" in s.value for s in at.success)
    stored = json.loads((cache_dir / "measurements.json").read_text())
    assert stored["default@cpu"]["model"] == "tiny test model"
    assert any(str(cache_dir) in c.value for c in at.caption)


def test_page_without_a_prompt_still_compares_the_models(tiny_model_dir, cache_dir):
    at = open_evolution("   ")
    assert not at.exception and not at.error
    assert any("Type some text in the sidebar" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 2  # scale and context; the norms need a prompt


@pytest.mark.parametrize("prompt", ["<b>bold</b><script>x</script>", "你好，世界 🌍 é", "x" * 5000])
def test_page_takes_any_prompt(tiny_model_dir, cache_dir, prompt):
    at = open_evolution(prompt)
    assert not at.exception and not at.error
