"""Links that reopen the same view: every parameter read from the address and written back, and
hostile addresses that fall back to defaults with a notice (AppTest on tiny seeded models)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import torch
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from gpt_core import GPT, GPTConfig
from gpt_core.weights import to_hf_state_dict
from tests.conftest import use_default_model
from tests.test_pages import Parsed
from ui import links
from viz.attention import WINDOW

PROMPT = "JULIET.\nO Romeo, Romeo, wherefore art thou Romeo?"
SCRIPT = "<script>alert(1)</script>"
GPT2_TINY = GPTConfig(n_layer=3, n_head=4, n_embd=32, block_size=64, vocab_size=50257)


def open_link(page: str, query: dict, context: dict | None = None) -> AppTest:
    """A new session opening ``page`` with the address's ``query`` (a value may be a list: a repeated key)."""
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params = dict(query)
    if context:
        at.context = context
    return at.switch_page(page).run()


def notice(at: AppTest) -> str:
    return "\n".join(t.value for t in at.toast)


def assert_clean(at: AppTest) -> None:
    assert not at.exception
    assert not at.error
    assert all("script" not in Parsed(el.value).tags for el in at.html)


@pytest.fixture
def gpt2_here(tmp_path, monkeypatch):
    """A tiny 3-layer, 4-head model in GPT-2's place ($GPT_EXPLAINER_MODELS_DIR/gpt2, Hugging Face layout)."""
    torch.manual_seed(1)
    model = GPT(GPT2_TINY)
    folder = tmp_path / "models" / "gpt2"
    folder.mkdir(parents=True)
    c = GPT2_TINY
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": c.n_layer, "n_head": c.n_head,
                                                    "n_embd": c.n_embd, "n_positions": c.block_size,
                                                    "vocab_size": c.vocab_size, "layer_norm_epsilon": 1e-5}))
    weights = {k.removeprefix("transformer."): v for k, v in to_hf_state_dict(model).items() if k != "lm_head.weight"}
    save_file(weights, str(folder / "model.safetensors"))
    monkeypatch.setenv("GPT_EXPLAINER_MODELS_DIR", str(tmp_path / "models"))
    return folder


# --- every parameter: address -> session state -> page -> address --------------------------------------------


def test_attention_link_opens_the_same_view_and_is_written_back(tiny_model_dir):
    query = {"lang": "en", "prompt": PROMPT, "layer": "2", "head": "2", "query": "5", "key": "2", "hide": "1"}
    at = open_link("app_pages/attention.py", query)
    assert_clean(at)
    assert not at.toast
    assert at.text_area(key="prompt").value == PROMPT
    assert at.selectbox(key="attention.layer").value == 1 and at.selectbox(key="attention.head").value == 1
    assert at.selectbox(key="attention.query").value == 5 and at.selectbox(key="attention.key").value == 2
    assert at.toggle(key="attention.hide_first").value is True
    assert any("Layer 2, head 2" in m.value for m in at.markdown)
    assert at.query_params == query
    at.run()  # the address is now the app's own: nothing changes
    assert at.query_params == query and at.selectbox(key="attention.layer").value == 1


def test_overview_link_sets_layer_and_head(tiny_model_dir):
    at = open_link("app_pages/overview.py", {"layer": "2", "head": "2"})
    assert_clean(at)
    assert at.selectbox(key="overview.layer").value == 1 and at.selectbox(key="overview.head").value == 1
    assert at.query_params == {"lang": "en", "layer": "2", "head": "2"}


def test_generation_link_replays_the_same_tokens_and_step(tiny_model_dir):
    at = open_link("app_pages/generation.py", {"temperature": "0.7", "top_k": "5", "top_p": "0.9", "seed": "42",
                                               "max_new": "30", "slide": "1"})
    assert_clean(at)
    assert at.slider(key="generation.temperature").value == 0.7
    assert at.slider(key="generation.top_k").value == 5 and at.slider(key="generation.top_p").value == 0.9
    assert at.number_input(key="generation.seed").value == 42 and at.number_input(key="generation.max_new").value == 30
    assert at.toggle(key="generation.slide").value is True
    for _ in range(4):
        at.button(key="generation.next").click().run()
    at.button(key="generation.back").click().run()
    shared = dict(at.query_params)
    assert len(shared["gen"].split("-")) == 4 and shared["step"] == "3"
    assert shared | {"gen": "", "step": ""} == {"lang": "en", "temperature": "0.7", "top_k": "5", "top_p": "0.9",
                                                 "seed": "42", "max_new": "30", "slide": "1", "gen": "", "step": ""}
    text = at.html[0].value

    again = open_link("app_pages/generation.py", shared)  # another student opens the link
    assert_clean(again)
    assert not again.toast
    tl = again.session_state["generation.timeline"][1]
    assert [s.token for s in tl.steps] == [int(x) for x in shared["gen"].split("-")] and tl.cursor == 3
    assert all(s.how == "sampled" for s in tl.steps)  # the same seeded draws, not hand-picked tokens
    assert again.html[0].value == text
    assert again.query_params == shared


def test_model_language_and_presenter_mode_come_from_the_link(tiny_model_dir, gpt2_here):
    query = {"lang": "zh", "model": "gpt2", "present": "1", "layer": "3", "head": "4"}
    at = open_link("app_pages/overview.py", query)
    assert_clean(at)
    assert at.session_state["lang"] == "zh" and at.session_state["present"] is True
    assert at.selectbox(key="model").value == "gpt2" and at.session_state["model.active"] == "gpt2"
    assert at.selectbox(key="overview.layer").value == 2 and at.selectbox(key="overview.head").value == 3
    assert at.query_params == query


def test_a_prompt_with_lines_and_unicode_round_trips(tiny_model_dir):
    prompt = "JULIET.\n你好 🌍 & <b>not bold</b>\n\tindented"
    at = open_link("app_pages/home.py", {"prompt": prompt})
    assert_clean(at)
    assert at.text_area(key="prompt").value == prompt
    assert at.query_params == {"lang": "en", "prompt": prompt}


def test_defaults_are_left_out_of_the_address(tiny_model_dir):
    at = open_link("app_pages/attention.py", {})
    assert_clean(at)
    assert at.query_params == {"lang": "en"}


def test_widgets_stay_in_control_after_a_link_and_the_address_follows(tiny_model_dir):
    at = open_link("app_pages/attention.py", {"layer": "2", "prompt": "To be or not to be"})
    at.selectbox(key="attention.layer").set_value(0).run()
    assert at.selectbox(key="attention.layer").value == 0
    assert "layer" not in at.query_params
    at.text_area(key="prompt").set_value("Friends, Romans, countrymen").run()
    assert at.query_params["prompt"] == "Friends, Romans, countrymen"
    assert at.selectbox(key="attention.layer").value == 0


def test_picking_a_candidate_after_opening_a_link_keeps_the_new_branch(tiny_model_dir):
    """The pick reruns the page with st.rerun(), which hands the next run the address from before the
    pick: that older address of the app's own must not replay the link's tokens over the new branch."""
    first = open_link("app_pages/generation.py", {})
    for _ in range(3):
        first.button(key="generation.next").click().run()
    at = open_link("app_pages/generation.py", dict(first.query_params))
    at.button(key="generation.back").click().run()
    at.button(key="generation.back").click().run()
    tl = at.session_state["generation.timeline"][1]
    other = next(t for t in tl.steps[1].logits.argsort(descending=True).tolist() if t != tl.steps[1].token)
    at.pills(key="generation.pick").set_value(other).run()
    assert_clean(at)
    tl = at.session_state["generation.timeline"][1]
    assert len(tl.branches) == 2 and tl.current == 1 and tl.tokens()[1] == other
    assert at.query_params["gen"].split("-")[1] == str(other)


def test_a_query_past_the_first_window_moves_the_window(tmp_path, monkeypatch):
    use_default_model(tmp_path / "m", monkeypatch, GPTConfig(n_layer=1, n_head=1, n_embd=16, block_size=128,
                                                             vocab_size=1024))
    at = open_link("app_pages/attention.py", {"prompt": "To be, or not to be, that is the question. " * 20,
                                              "query": "100"})
    assert_clean(at)
    assert at.slider(key="attention.start").value == 100 - WINDOW + 1
    assert at.selectbox(key="attention.query").value == 100
    assert at.query_params["start"] == str(100 - WINDOW + 1)
    assert "query" not in at.query_params  # the window's last position: where the page starts the query anyway
    at.query_params = {**at.query_params, "query": "50"}
    at.run()
    assert at.selectbox(key="attention.query").value == 50 and at.slider(key="attention.start").value == 37
    assert at.query_params["query"] == "50"


def test_an_address_changed_later_is_applied_again(tiny_model_dir):
    """The browser's Back, or a link pasted into the same tab: the address differs from what the app wrote."""
    at = open_link("app_pages/attention.py", {"layer": "2"})
    at.query_params = {"layer": "1", "head": "2"}
    at.run()
    assert at.selectbox(key="attention.layer").value == 0 and at.selectbox(key="attention.head").value == 1


# --- hostile and broken addresses ----------------------------------------------------------------------------

HOSTILE = {  # name: (page, query, the parameter named in the notice, session key, the value it keeps or None)
    "unknown model": ("overview", {"model": "gpt5"}, "model", "model", "default"),
    "script model": ("overview", {"model": SCRIPT}, "model", "model", "default"),
    "layer 99": ("attention", {"layer": "99"}, "layer", "attention.layer", 0),
    "layer 0": ("attention", {"layer": "0"}, "layer", "attention.layer", 0),
    "layer -1": ("attention", {"layer": "-1"}, "layer", "attention.layer", 0),
    "layer x": ("attention", {"layer": "x"}, "layer", "attention.layer", 0),
    "layer 1.5": ("attention", {"layer": "1.5"}, "layer", "attention.layer", 0),
    "layer script": ("attention", {"layer": SCRIPT}, "layer", "attention.layer", 0),
    "layer repeated": ("attention", {"layer": ["1", "2"]}, "layer", "attention.layer", 0),
    "head 3": ("overview", {"head": "3"}, "head", "overview.head", 0),
    "head huge": ("overview", {"head": "9" * 400}, "head", "overview.head", 0),
    "query past the text": ("attention", {"query": "1000"}, "query", "attention.query", None),
    "key script": ("attention", {"key": SCRIPT}, "key", "attention.key", None),
    "hide maybe": ("attention", {"hide": "maybe"}, "hide", "attention.hide_first", False),
    "temperature nan": ("generation", {"temperature": "nan"}, "temperature", "generation.temperature", 1.0),
    "temperature inf": ("generation", {"temperature": "inf"}, "temperature", "generation.temperature", 1.0),
    "temperature 1e999": ("generation", {"temperature": "1e999"}, "temperature", "generation.temperature", 1.0),
    "temperature -1": ("generation", {"temperature": "-1"}, "temperature", "generation.temperature", 1.0),
    "top_p nan": ("generation", {"top_p": "NaN"}, "top_p", "generation.top_p", 1.0),
    "top_p 0": ("generation", {"top_p": "0"}, "top_p", "generation.top_p", 1.0),
    "top_k huge": ("generation", {"top_k": "1e9"}, "top_k", "generation.top_k", 0),
    "top_k script": ("generation", {"top_k": SCRIPT}, "top_k", "generation.top_k", 0),
    "seed huge": ("generation", {"seed": str(2**64)}, "seed", "generation.seed", 0),
    "seed negative": ("generation", {"seed": "-5"}, "seed", "generation.seed", 0),
    "max_new 0": ("generation", {"max_new": "0"}, "max_new", "generation.max_new", 50),
    "tokens garbage": ("generation", {"gen": "1-x-3"}, "gen", None, None),
    "tokens past the vocabulary": ("generation", {"gen": "5-999999"}, "gen", None, None),
    "tokens script": ("generation", {"gen": SCRIPT}, "gen", None, None),
    "step past the tokens": ("generation", {"gen": "5-6", "step": "9"}, "step", None, None),
    "language fr": ("home", {"lang": "fr"}, "lang", None, None),
    "language script": ("home", {"lang": SCRIPT}, "lang", None, None),
    "present maybe": ("home", {"present": SCRIPT}, "present", "present", None),
    "unknown key": ("home", {"utm_source": "chat"}, "utm", None, None),
    "script key": ("home", {SCRIPT: SCRIPT}, "script", None, None),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_values_fall_back_with_a_notice(tiny_model_dir, case):
    page, query, name, key, kept = HOSTILE[case]
    at = open_link(f"app_pages/{page}.py", query)
    assert_clean(at)
    shown = notice(at)
    assert "<script>" not in shown  # the value reads as text: every sign escaped for Markdown
    assert name in shown.replace("\\", ""), shown
    if kept is not None:
        assert at.session_state[key] == kept
    assert all(at.query_params.get(k) != v for k, v in query.items() if k != "gen")  # gone from the address
    at.run()
    assert not at.toast  # the notice is shown once


def test_script_in_the_prompt_is_text(tiny_model_dir):
    at = open_link("app_pages/overview.py", {"prompt": SCRIPT})
    assert_clean(at)
    assert at.text_area(key="prompt").value == SCRIPT
    assert Parsed(at.html[0].value).text == SCRIPT  # the chips read as the text itself
    assert at.query_params["prompt"] == SCRIPT


def test_a_100_kb_prompt_is_cut_with_a_notice(tiny_model_dir):
    at = open_link("app_pages/overview.py", {"prompt": "To be, or not to be. " * 5000})
    assert_clean(at)
    assert len(at.text_area(key="prompt").value) == links.PROMPT_CAP
    assert "prompt" in notice(at) and "2,000" in notice(at)
    assert len(at.query_params["prompt"]) == links.PROMPT_CAP


def test_control_characters_are_removed_from_a_prompt(tiny_model_dir):
    at = open_link("app_pages/home.py", {"prompt": "a\x00b\x1b[31mc\r\nd\x85e\tf"})
    assert_clean(at)
    assert at.text_area(key="prompt").value == "ab[31mc\nde\tf"
    assert "3 control characters removed" in notice(at)


def test_a_model_not_on_this_machine_stays_on_the_shipped_one_and_says_so(tiny_model_dir, tmp_path, monkeypatch):
    for var in ("HF_HOME", "HF_HUB_CACHE", "GPT_EXPLAINER_MODELS_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    at = open_link("app_pages/attention.py", {"model": "gpt2-xl", "layer": "2"})
    assert_clean(at)
    assert "not on this machine" in at.sidebar.info[0].value
    assert at.selectbox(key="model").value == "default"
    assert at.selectbox(key="attention.layer").value == 1  # checked against the model actually loaded


def test_layer_of_a_larger_model_is_checked_against_the_model_loaded(tiny_model_dir, gpt2_here):
    ok = open_link("app_pages/attention.py", {"model": "gpt2", "layer": "3", "head": "4"})
    assert_clean(ok)
    assert ok.selectbox(key="attention.layer").value == 2 and ok.selectbox(key="attention.head").value == 3
    tiny = open_link("app_pages/attention.py", {"layer": "3", "head": "4"})  # the shipped (tiny) model: 2 × 2
    assert "not between 1 and 2" in notice(tiny)
    assert tiny.selectbox(key="attention.layer").value == 0


def test_many_bad_values_make_one_short_notice(tiny_model_dir):
    at = open_link("app_pages/home.py", {f"x{i}": "1" for i in range(30)})
    assert_clean(at)
    assert len(at.toast) == 1 and "and 22 more" in notice(at)


# --- sharing ------------------------------------------------------------------------------------------------


def share(at: AppTest) -> AppTest:
    return at.button(key="links.share").click().run()


def test_share_shows_the_link_and_its_qr_code(tiny_model_dir):
    at = open_link("app_pages/attention.py", {"layer": "2", "prompt": "To be or not to be"},
                   {"url": "http://class.example:8501/attention"})
    share(at)
    assert_clean(at)
    url = at.code[-1].value
    parts = urlsplit(url)
    assert parts.netloc == "class.example:8501" and parts.path == "/attention"
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {"lang": "en", "layer": "2",
                                                                    "prompt": "To be or not to be"}
    qr = [el.value for el in at.html if 'class="links-qr"' in el.value]
    assert qr and 'src="data:image/svg+xml' in qr[0] and Parsed(qr[0]).tags == {"img"}


def test_share_without_a_known_address_gives_the_path(tiny_model_dir):
    at = share(open_link("app_pages/overview.py", {"head": "2"}))
    assert_clean(at)
    assert at.code[-1].value == "/overview?lang=en&head=2"
    assert any("could not tell its own address" in c.value for c in at.caption)


def test_a_link_too_long_for_a_qr_code_says_so(tiny_model_dir):
    at = share(open_link("app_pages/home.py", {"prompt": "你好，世界。" * 300}))
    assert_clean(at)
    assert any("too long for a QR code" in w.value for w in at.warning)


def test_the_qr_code_encodes_the_link():
    assert links.qr_image("http://localhost:8501/attention?layer=2").startswith("data:image/svg+xml")
    assert links.qr_image("x" * 8000) is None


@pytest.mark.parametrize(("raw", "value"), [("0.7", 0.7), ("0.33", 0.35), ("3", 3.0), (" 1 ", 1.0)])
def test_sampling_numbers_land_on_the_sliders_steps(raw, value):
    assert links.parse_float(raw, 0.0, 3.0, 0.05) == value
