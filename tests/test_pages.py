"""Every page, driven through Streamlit's AppTest on a tiny seeded model (context 64)."""

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, open_app, use_default_model
from streamlit.testing.v1 import AppTest

from gpt_core import PRESETS, GPTConfig, count_parameters, get_tokenizer
from gpt_core.training import VAL_SPLIT
from ui.state import DEFAULT_PROMPT

PAGES = ["app_pages/home.py", "app_pages/overview.py", "app_pages/model.py"]
ALL_PAGES = sorted(f"app_pages/{p.name}" for p in (Path(__file__).resolve().parent.parent / "app_pages").glob("*.py"))
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?"
LONG = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. " * 30)[:2000]
INJECTION = "<b>bold</b><script>alert(1)</script>"
ODD_PROMPTS = {"empty": "", "unicode": "你好，世界 🌍 Hello", "long": LONG, "html": INJECTION}


def open_page(page: str, prompt: str | None = None) -> AppTest:
    """Start the app, type ``prompt`` into the sidebar, and open ``page``."""
    return open_app(page, prompt)


class Parsed(HTMLParser):
    """The tags a browser would create from an HTML string, and its visible text."""

    def __init__(self, body: str):
        super().__init__()
        self.tags, self.text = set(), ""
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)

    def handle_data(self, data):
        self.text += data


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def heatmap_z(at: AppTest) -> np.ndarray:
    """The first chart's z values (plotly sends numpy arrays base64-encoded)."""
    z = plotly_specs(at)[0]["data"][0]["z"]
    if isinstance(z, dict):
        shape = [int(n) for n in str(z["shape"]).split(",")]  # sent as "rows, cols"
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array(z, dtype=float)


@pytest.mark.parametrize("page", ALL_PAGES)
@pytest.mark.parametrize("case", ODD_PROMPTS)
def test_every_page_renders_any_prompt_without_error(tiny_model_dir, page, case):
    at = open_page(page, ODD_PROMPTS[case])
    assert not at.exception
    assert not at.error
    parsed = [Parsed(el.value) for el in at.html]
    assert all(not {"b", "script"} & p.tags for p in parsed)
    if case == "html" and page.endswith("overview.py"):
        assert "&lt;" in at.html[0].value and "&gt;" in at.html[0].value
        assert parsed[0].text == INJECTION  # the chips read as exactly the text the user typed


def test_sidebar_is_on_every_page_and_describes_the_model(tiny_model_dir):
    for page in PAGES:
        at = open_page(page)
        assert at.text_area(key="prompt").value == DEFAULT_PROMPT
        assert at.selectbox(key="model").value == "default"
        assert any("tiny test model" in c.value and "Context: 64 tokens" in c.value for c in at.sidebar.caption)


def test_home_links_the_five_steps_and_shows_the_attention_formula(tiny_model_dir):
    at = open_page("app_pages/home.py")
    assert not at.exception  # every link points at a page the navigation knows
    assert len(at.get("page_link")) == 6  # the five steps, then the Training page
    formula = at.latex[0].value
    assert r"\frac{QK^\top}{\sqrt{d_k}} + M" in formula and r"\right) V" in formula
    assert r"-\infty & j > i" in formula


def test_overview_shows_the_prompt_tokens_as_chips(tiny_model_dir):
    at = open_page("app_pages/overview.py", PROMPT)
    tok = get_tokenizer("shakespeare_bpe")
    ids = tok.encode(PROMPT)
    chips = at.html[0].value
    assert chips.count('class="tok"') == len(ids)
    assert f'title="position 0 · token id {ids[0]}"' in chips
    assert "↵" in chips and "⋅what" in chips.replace('<span style="opacity:0.55">⋅</span>', "⋅")
    assert [m.value for m in at.metric][:2] == [f"{len(PROMPT)}", f"{len(ids)}"]


def test_overview_boxes_the_chips_of_a_split_character_with_the_character(tiny_model_dir):
    """The shipped kind of tokenizer splits 我 into three byte tokens: three chips of �, boxed together with "= 我"."""
    at = open_page("app_pages/overview.py", "我 ok")
    chips = at.html[0].value
    tok = get_tokenizer("shakespeare_bpe")
    assert [tok.token_bytes(i) for i in tok.encode("我")] == [bytes([b]) for b in "我".encode()]  # the premise
    assert chips.count('class="tok-char"') == 1 and chips.count('class="tok"') == len(tok.encode("我 ok"))
    box = chips.split('class="tok-char"', 1)[1].split('class="tok-whole"', 1)[0]  # the box, up to its label
    assert 'title="tokens 0–2 together make 我"' in box and box.count('class="tok"') == 3
    assert '<span class="tok-whole" style="padding:0 3px 0 2px">= 我</span></span>' in chips
    assert "boxed together" in " ".join(c.value for c in at.caption)


def test_overview_layer_and_head_pickers_change_the_heatmap(tiny_model_dir):
    at = open_page("app_pages/overview.py", PROMPT)
    first = heatmap_z(at)
    at.selectbox(key="overview.head").set_value(1).run()
    other_head = heatmap_z(at)
    at.selectbox(key="overview.layer").set_value(1).run()
    other_layer = heatmap_z(at)
    n = len(get_tokenizer("shakespeare_bpe").encode(PROMPT))
    assert first.shape == other_layer.shape == (n, n)
    assert not np.allclose(first, other_head, equal_nan=True)
    assert not np.allclose(other_head, other_layer, equal_nan=True)
    assert np.isnan(other_layer[np.triu_indices(n, k=1)]).all()  # future cells masked
    assert np.allclose(np.nansum(other_layer, axis=1), 1, atol=1e-3)  # each row shares out all attention
    assert "masked by the causal mask" in " ".join(c.value for c in at.caption)


def test_overview_lists_the_ten_most_likely_next_tokens(tiny_model_dir):
    at = open_page("app_pages/overview.py", PROMPT)
    bars = plotly_specs(at)[1]["data"][0]
    probs = bars["x"]
    assert len(probs) == 10 and probs == sorted(probs, reverse=True)
    assert 0 < sum(probs) <= 1
    assert any("softmax over the whole vocabulary of 1,024 tokens" in c.value for c in at.caption)


def test_overview_asks_for_text_when_the_prompt_is_blank(tiny_model_dir):
    at = open_page("app_pages/overview.py", "   \n ")
    assert not at.exception
    assert "Type some text" in at.info[0].value
    assert not at.get("plotly_chart")


def test_overview_says_how_a_long_prompt_was_truncated(tiny_model_dir):
    at = open_page("app_pages/overview.py", LONG)
    n = len(get_tokenizer("shakespeare_bpe").encode(LONG))
    notice = at.warning[0].value
    assert f"at most 64 tokens; your text has {n:,}, so the first {n - 64:,} were dropped" in notice
    assert "the last 64 are shown" in notice
    assert at.html[0].value.count('class="tok"') == 64


def test_overview_windows_the_heatmap_of_long_prompts(tmp_path, monkeypatch):
    config = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=128, vocab_size=1024)
    use_default_model(tmp_path / "m128", monkeypatch, config, {"name": "context 128"})
    at = open_page("app_pages/overview.py", LONG)
    assert at.slider(key="overview.window").value == 64  # 128 tokens: the last 64 first
    assert heatmap_z(at).shape == (64, 64)
    at.slider(key="overview.window").set_value(0).run()
    assert plotly_specs(at)[0]["data"][0]["y"][0].startswith("#0 ")


def test_model_page_shows_shape_parameters_and_block(tiny_model_dir):
    at = open_page("app_pages/model.py")
    counts = count_parameters(TINY)
    assert [m.value for m in at.metric] == [f"{counts['total']:,}"] * 2
    assert at.success
    shape = at.table[0].value
    assert dict(zip(shape["setting"], shape["value"], strict=True))["d_head"] == "16"
    params = at.table[1].value
    assert params["parameters"].iloc[-1] == f"{counts['total']:,}"
    assert any("tied" in c for c in params["component"])
    assert sum(plotly_specs(at)[0]["data"][0]["x"]) == counts["total"]
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "T × 32" in dot and "2 × T × 16" in dot and "Linear 32 → 128" in dot


def test_picking_gpt2_without_weights_explains_and_keeps_the_model(tiny_model_dir, tmp_path, monkeypatch):
    for var in ("HF_HOME", "HF_HUB_CACHE", "GPT_EXPLAINER_MODELS_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    at = open_page("app_pages/model.py")
    at.selectbox(key="model").set_value("gpt2").run()
    assert not at.exception
    assert "not on this machine" in at.sidebar.info[0].value
    assert at.selectbox(key="model").value == "default"
    assert any("tiny test model" in c.value for c in at.sidebar.caption)


def test_picking_weights_that_fail_to_load_explains_and_goes_back(tiny_model_dir, tmp_path, monkeypatch):
    broken = tmp_path / "models" / "gpt2"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    monkeypatch.setenv("GPT_EXPLAINER_MODELS_DIR", str(tmp_path / "models"))
    at = open_page("app_pages/overview.py", PROMPT)
    at.selectbox(key="model").set_value("gpt2").run()
    assert not at.exception
    assert "could not be loaded" in at.sidebar.error[0].value
    assert at.selectbox(key="model").value == "default"
    assert at.html and len(plotly_specs(at)) == 2  # the page still shows the previous model's view


def test_overview_explains_tokens_that_are_part_of_a_character(tiny_model_dir):
    at = open_page("app_pages/overview.py", "你好")
    assert any("only part of a character" in c.value for c in at.caption)
    assert "bytes e4" in at.html[0].value


def test_sidebar_and_model_page_report_what_the_checkpoint_recorded(tmp_path, monkeypatch):
    meta = {"name": "Shakespeare GPT", "corpus": "shakespeare.txt", "corpus_chars": 5_000_000, "steps": 3500,
            "val_nats_per_char": 1.25,
            "commands": ["python -m gpt_core.train --data shakespeare.txt", "python -m gpt_core.train --resume x"]}
    use_default_model(tmp_path / "trained", monkeypatch, TINY, meta)
    at = open_page("app_pages/model.py")
    summary = at.sidebar.caption[0].value
    assert "Shakespeare GPT" in summary and "5 M characters" in summary
    assert "1.250 nats per character" in summary
    facts = dict(zip(at.table[2].value["fact"], at.table[2].value["value"], strict=True))
    assert facts["Training steps"] == "3,500" and facts["Training text"] == "shakespeare.txt"
    assert at.code[0].value == "\n\n".join(meta["commands"])


def test_a_checkpoints_own_words_read_in_the_readers_language(tmp_path, monkeypatch):
    meta = {"name": "Plays GPT", "description": "Trained on plays.", "corpus": "plays.txt", "val_split": VAL_SPLIT,
            "i18n": {"zh": {"name": "戏剧 GPT", "description": "用剧本训练。"}}}
    use_default_model(tmp_path / "trained", monkeypatch, TINY, meta)
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["lang"] = "zh"
    at = at.run().switch_page("app_pages/model.py").run()
    assert not at.exception
    assert "戏剧 GPT" in at.sidebar.caption[0].value and "Plays GPT" not in at.sidebar.caption[0].value
    assert [t.value for t in at.text] == ["用剧本训练。"]
    facts = dict(zip(at.table[2].value["项目"], at.table[2].value["值"], strict=True))
    assert facts["留出文本"] == "语料按字符计的最后一部分，在行边界处切开；从未用于训练"  # the words train.py records
    at.segmented_control(key="lang").set_value("en").run()
    assert "Plays GPT" in at.sidebar.caption[0].value and [t.value for t in at.text] == ["Trained on plays."]
    facts = dict(zip(at.table[2].value["fact"], at.table[2].value["value"], strict=True))
    assert facts["Held-out text"] == VAL_SPLIT


def test_a_published_models_training_data_reads_in_the_readers_language(tmp_path, monkeypatch):
    use_default_model(tmp_path / "gpt2like", monkeypatch, TINY, {"trained_on": PRESETS["gpt2"].training_data})
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["lang"] = "zh"
    at = at.run()
    assert not at.exception and "WebText：约 40 GB 文本" in at.sidebar.caption[0].value


def test_a_model_that_records_no_training_data_says_so_in_the_readers_language(tmp_path, monkeypatch):
    use_default_model(tmp_path / "bare", monkeypatch, TINY, {"name": "bare"})
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not at.exception and "Trained on: not recorded" in at.sidebar.caption[0].value
    at.segmented_control(key="lang").set_value("zh").run()
    assert "未记录" in at.sidebar.caption[0].value
