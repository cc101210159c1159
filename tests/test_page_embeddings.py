"""The Embeddings page through Streamlit's AppTest, on the tiny seeded model (context 64, d_model 32)."""

import base64
import csv
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from conftest import open_app, use_default_model
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import gpt_core
from gpt_core import GPTConfig
from gpt_core import embeddings as emb

PAGE = "app_pages/embeddings.py"
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?"
LONG = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. " * 30)[:2000]
CHARTS = ["lookup.fig", "nn.fig", "map.fig", "pos.fig", "pos.pca", "ln.fig", "res.fig", "res.bars"]


def open_page(prompt: str | None = None) -> AppTest:
    return open_app(PAGE, prompt)


def charts(at: AppTest) -> dict[str, dict]:
    """Every plotly figure on the page by its widget key (without the page prefix)."""
    return {el.proto.id.split("-embeddings.")[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def arr(value) -> np.ndarray:
    """A figure's array as plotly serialised it: a plain list, or base64 typed-array data."""
    if isinstance(value, dict) and "bdata" in value:
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return a.reshape([int(n) for n in str(value.get("shape", len(a))).split(",")])
    return np.array(value, dtype=float)


def widget(at: AppTest, kind: str, name: str):
    return getattr(at, kind)(key=f"embeddings.{name}")


@pytest.fixture
def bundle(tiny_model_dir):
    return gpt_core.load_model(str(tiny_model_dir))


@pytest.fixture
def forward(bundle):
    ids = bundle.tokenizer.encode(PROMPT)
    return ids, bundle.model.run_with_cache(torch.tensor([ids]))[1]


class Tags(HTMLParser):
    def __init__(self, body: str):
        super().__init__()
        self.tags = set()
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)


def test_every_section_is_drawn_for_the_sidebar_prompt(tiny_model_dir):
    at = open_page()
    assert not at.exception and not at.error
    assert list(charts(at)) == CHARTS
    headings = " ".join(m.value for m in at.markdown)
    for title in ("1. Look up", "2. Meaning in the geometry", "A map of some tokens", "3. Positions",
                  "4. LayerNorm, worked", "5. The residual stream", "What each block adds"):
        assert title in headings
    assert len(at.get("download_button")) == 10
    assert "0 (exactly equal)" in " ".join(c.value for c in at.caption)  # the lookup check


def test_lookup_rows_are_the_model_weights_and_the_sum_is_hook_resid_pre(bundle, forward):
    ids, cache = forward
    at = open_page(PROMPT)
    tok_panel, pos_panel, total = (arr(t["z"]) for t in charts(at)["lookup.fig"]["data"])
    w = bundle.model.transformer
    assert tok_panel.shape == (len(ids), 32)
    assert np.allclose(tok_panel, w.wte.weight[ids].numpy(), atol=1e-6)
    assert np.allclose(pos_panel, w.wpe.weight[: len(ids)].numpy(), atol=1e-6)
    assert np.allclose(total, cache["blocks.0.hook_resid_pre"][0].numpy(), atol=2e-6)


def test_lookup_dimension_controls_pick_the_columns(tiny_model_dir):
    at = open_page(PROMPT)
    widget(at, "select_slider", "lookup.dims.n").set_value(8).run()
    assert list(arr(charts(at)["lookup.fig"]["data"][0]["x"])) == list(range(8))
    widget(at, "slider", "lookup.dims.first").set_value(20).run()
    assert list(arr(charts(at)["lookup.fig"]["data"][2]["x"])) == list(range(20, 28))
    widget(at, "select_slider", "lookup.dims.n").set_value(32).run()  # 20 + 32 > 32: starts at 0 instead
    assert list(arr(charts(at)["lookup.fig"]["data"][1]["x"])) == list(range(32))
    assert not at.exception


def test_long_prompts_are_windowed(tmp_path, monkeypatch):
    config = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=128, vocab_size=1024)
    use_default_model(tmp_path / "m128", monkeypatch, config, {"name": "context 128"})
    at = open_page(LONG)
    assert "last 128 tokens" in at.warning[0].value
    assert len(arr(charts(at)["lookup.fig"]["data"][0]["z"])) == 64
    widget(at, "slider", "lookup.window").set_value(0).run()
    assert charts(at)["lookup.fig"]["data"][0]["y"][0].startswith("#0 ")
    widget(at, "slider", "res.window").set_value(10).run()
    assert charts(at)["res.fig"]["data"][0]["x"][0].startswith("#10 ")
    assert arr(charts(at)["res.fig"]["data"][0]["z"]).shape == (2, 64)
    assert not at.exception


def test_neighbours_follow_the_picked_and_the_typed_token(bundle):
    tok = bundle.tokenizer
    index = emb.EmbeddingIndex.for_model(bundle.model, tok)
    at = open_page(PROMPT)
    first = charts(at)["nn.fig"]
    assert first["layout"]["title"]["text"] == "Nearest to But"  # the first word-like token
    assert len(arr(first["data"][0]["x"])) == 10
    light = tok.encode(" light")
    widget(at, "selectbox", "nn.token").set_value(light[0]).run()
    fig = charts(at)["nn.fig"]
    expected = index.nearest(light[0], 10)
    assert np.allclose(arr(fig["data"][0]["x"]), [s for _, s in expected], atol=1e-4)
    widget(at, "slider", "nn.k").set_value(5).run()
    assert len(arr(charts(at)["nn.fig"]["data"][0]["x"])) == 5
    widget(at, "text_input", "nn.word").set_value("king").run()
    assert charts(at)["nn.fig"]["layout"]["title"]["text"] == "Nearest to ⋅king"
    widget(at, "text_input", "nn.word").set_value("Juliet").run()  # " J" "u" "li" "et"
    widget(at, "selectbox", "nn.piece").set_value(tok.encode(" Juliet")[2]).run()
    assert charts(at)["nn.fig"]["layout"]["title"]["text"] == "Nearest to li"
    assert not at.exception


def test_map_draws_your_tokens_with_reference_words_and_their_pieces(tiny_model_dir):
    at = open_page(PROMPT)
    groups = [t["name"] for t in charts(at)["map.fig"]["data"]]
    assert groups == ["your text", "reference word"]
    widget(at, "text_input", "map.words.shakespeare_bpe").set_value("king, Juliet, <b>x</b>").run()
    fig = charts(at)["map.fig"]
    assert [t["name"] for t in fig["data"]] == ["your text", "reference word", "piece of a reference word"]
    assert "king" in fig["data"][1]["text"]
    assert "et (Juliet)" in fig["data"][2]["text"] and "⋅J (Juliet)" in fig["data"][2]["text"]
    note = at.html[-1].value
    assert "Juliet → ⋅J | u | li | et" in note and "&lt;b&gt;x&lt;/b&gt;" in note
    assert not {"b", "script"} & Tags(note).tags
    assert "%" in fig["layout"]["xaxis"]["title"]["text"]


def test_position_similarity_range_and_components(bundle):
    at = open_page(PROMPT)
    sim = charts(at)["pos.fig"]["data"][0]
    assert list(arr(sim["x"])) == list(range(64)) and arr(sim["z"]).shape == (64, 64)
    widget(at, "slider", "pos.range").set_value((10, 20)).run()
    sim = charts(at)["pos.fig"]["data"][0]
    assert list(arr(sim["x"])) == list(range(10, 21))
    w = bundle.model.transformer.wpe.weight
    assert arr(sim["z"])[0, 3] == pytest.approx(float(torch.cosine_similarity(w[10], w[13], dim=0)), abs=1e-3)
    assert len(charts(at)["pos.pca"]["data"]) == 3


def test_layernorm_worked_example_matches_the_model(bundle, forward):
    ids, cache = forward
    at = open_page(PROMPT)
    assert "blocks.0.ln1.hook_normalized" in at.success[0].value
    widget(at, "selectbox", "ln.where").set_value("blocks.1.ln2").run()
    widget(at, "selectbox", "ln.pos").set_value(3).run()
    x = cache["blocks.1.hook_resid_mid"][0, 3].double()
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["mean μ"]) == pytest.approx(float(x.mean()), abs=1e-6)
    assert float(metrics["std = √(σ² + ε)"]) == pytest.approx(float((x.var(unbiased=False) + 1e-5).sqrt()), abs=1e-6)
    table = next(d.value for d in at.dataframe if "the model's output" in d.value.columns)
    ref = cache["blocks.1.ln2.hook_normalized"][0, 3, :32].numpy()
    assert np.allclose(table["the model's output"], ref, atol=1e-6)
    assert np.allclose(table["γ · normalised + β"], ref, atol=1e-5)
    assert "blocks.1.ln2.hook_normalized" in at.success[0].value
    assert "biased" in " ".join(m.value for m in at.markdown)


def test_residual_controls_redraw_the_norms(forward):
    ids, cache = forward
    at = open_page(PROMPT)
    heat = charts(at)["res.fig"]["data"][0]
    assert np.allclose(arr(heat["z"])[0], cache["blocks.0.hook_resid_pre"][0].norm(dim=-1).numpy(), atol=1e-4)
    widget(at, "toggle", "res.log").set_value(True).run()
    heat = charts(at)["res.fig"]["data"][0]
    assert heat["colorbar"]["title"]["text"] == "log10 norm"
    assert np.allclose(np.power(10, arr(heat["z"])), arr(heat["customdata"]), rtol=1e-3)
    widget(at, "selectbox", "res.token").set_value(2).run()
    attn, mlp, resid = charts(at)["res.bars"]["data"]
    assert arr(attn["y"])[1] == pytest.approx(float(cache["blocks.1.hook_attn_out"][0, 2].norm()), abs=1e-4)
    assert arr(resid["y"])[-1] == pytest.approx(float(cache["blocks.1.hook_resid_post"][0, 2].norm()), abs=1e-4)
    assert any(c.value.startswith("Check: in every block") for c in at.caption)


def test_csv_downloads_hold_the_numbers_shown(bundle, forward, monkeypatch):
    ids, _ = forward
    shipped = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        shipped[filename] = data
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = open_page(PROMPT)
    widget(at, "select_slider", "lookup.dims.n").set_value(8).run()
    rows = list(csv.reader(io.StringIO(shipped["token_embedding_rows.csv"].decode())))
    assert rows[0] == ["position token (id)", *(f"dim {j}" for j in range(8))]
    assert rows[1][0] == f"#0 RO (id {ids[0]})"
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert np.allclose(values, bundle.model.transformer.wte.weight[ids, :8].numpy(), atol=1e-7)
    assert {"neighbours.csv", "pca_map.csv", "position_similarity.csv", "position_components.csv", "layernorm.csv",
            "residual_norms.csv", "block_contributions.csv"} <= set(shipped)


@pytest.mark.parametrize("prompt", ["你好，世界 🌍 é", "<b>bold</b><script>alert(1)</script>", LONG, "x"])
def test_any_prompt_draws_without_error_and_user_text_stays_text(tiny_model_dir, prompt):
    at = open_page(prompt)
    assert not at.exception and not at.error
    assert all(not {"b", "script"} & Tags(el.value).tags for el in at.html)
    if prompt == "x":  # one token: the map needs reference words and still draws
        assert "map.fig" in charts(at)


def test_blank_prompt_asks_for_text(tiny_model_dir):
    at = open_page("  \n ")
    assert not at.exception
    assert "Type some text" in at.info[0].value and not at.get("plotly_chart")


def test_home_links_the_vectors_step_to_this_page(tiny_model_dir):
    at = open_page()
    at.switch_page("app_pages/home.py").run()
    links = [json.loads(json.dumps(el.proto.page)) for el in at.get("page_link")]
    assert any(link.endswith("embeddings.py") or "embeddings" in link for link in links)


def test_positions_in_the_text_read_as_characters_and_a_tokens_own_row_as_its_bytes(tiny_model_dir):
    """A Chinese character split into byte tokens: the residual stream (positions in this text) names the
    character and the part; the lookup rows (one row serves every character starting with those bytes) the bytes."""
    at = open_page("我 ok")
    assert not at.exception and not at.error
    figs = charts(at)
    residual_x = figs["res.fig"]["data"][0]["x"]
    assert residual_x[:3] == ["#0 我(1/3)", "#1 我(2/3)", "#2 我(3/3)"]
    lookup = json.dumps(figs["lookup.fig"])
    assert "\\u6211(1/3)" not in lookup and "e6" in lookup  # the token rows keep the bytes
    picks = widget(at, "selectbox", "res.token").options
    assert "#0 我(1/3)" in picks
