"""The Uses page: each prompting pattern runs live on the loaded model, and the answer's attention is one click away."""

import html
import json
from html.parser import HTMLParser

import pytest
import torch
from streamlit.testing.v1 import AppTest

import gpt_core
from gpt_core import GPT, Step, prompting
from gpt_core.prompting import TimedSteps, answer_attention, answer_steps, fit_prompt
from gpt_core.tokenizer import whole_characters
from tests.conftest import TINY
from ui import uses as u
from viz.tokens import visible_in_prose

PATTERNS = ["continue", "translate", "qa", "summarise"]


class Answer(HTMLParser):
    """The answer tokens (spans of class "ans", without the ↵ markers drawn for line breaks) and every tag."""

    def __init__(self, body: str):
        super().__init__(convert_charrefs=True)
        self.tokens, self.tags, self._stack = [], set(), []
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        cls = dict(attrs).get("class", "")
        self._stack.append(cls)
        if cls == "ans":
            self.tokens.append("")

    def handle_endtag(self, tag):
        self._stack.pop()

    def handle_data(self, data):
        if "ans" in self._stack and self._stack[-1] != "nl":
            self.tokens[-1] += data


def expected_ids(folder, prompt: str, pattern: str, max_new: int = u.DEFAULT_NEW) -> tuple[list[int], list[str]]:
    """What the model writes for ``prompt`` with the page's defaults, computed here without the page: the
    token ids, and the pieces the page shows (one per token, a character split between tokens as one, a control
    character drawn as its code point)."""
    b = gpt_core.load_model(str(folder), device="cpu")
    kept, _ = fit_prompt(b.tokenizer.encode(prompt), b.model.config.block_size, max_new)
    stop = "\n" if u.STOP_AT_LINE[pattern] else None
    ids = [s.token for s in answer_steps(b.model, b.tokenizer, kept, max_new, u.DEFAULT_TEMPERATURE, 0, stop)]
    return ids, [visible_in_prose(text) for _, _, text in whole_characters([b.tokenizer.token_bytes(i) for i in ids])]


def expected_answer(folder, prompt: str, pattern: str, max_new: int = u.DEFAULT_NEW) -> list[str]:
    return expected_ids(folder, prompt, pattern, max_new)[1]


def open_uses() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    return at.switch_page("app_pages/uses.py").run()


def answer_html(at: AppTest) -> str:
    return next(h.value for h in at.html if "uses-answer" in h.value)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GPT_EXPLAINER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_shows_the_models_own_answer(tiny_model_dir, cache_dir, pattern):
    at = open_uses()
    at.segmented_control(key="uses.pattern").set_value(pattern).run()
    shots = "zero" if pattern == "continue" else "few"
    prompt = at.text_area(key=u.template_key(pattern, shots)).value
    assert prompt == u.template(pattern, shots)
    at.button(key="uses.go").click().run()
    assert not at.exception and not at.error
    ids, pieces = expected_ids(tiny_model_dir, prompt, pattern)
    assert Answer(answer_html(at)).tokens == pieces  # generated now, never canned
    assert any(f"{len(ids)} tokens" in c.value for c in at.caption)


def test_zero_shot_template_is_a_different_prompt(tiny_model_dir, cache_dir):
    at = open_uses()
    at.segmented_control(key="uses.pattern").set_value("translate").run()
    at.segmented_control(key="uses.shots.translate").set_value("zero").run()
    prompt = at.text_area(key=u.template_key("translate", "zero")).value
    assert prompt.startswith("Translate English to French.") and prompt != u.template("translate", "few")
    at.button(key="uses.go").click().run()
    assert Answer(answer_html(at)).tokens == expected_answer(tiny_model_dir, prompt, "translate")


def test_edited_prompt_is_what_the_model_continues_and_is_shown_as_text(tiny_model_dir, cache_dir):
    at = open_uses()
    typed = "KING:\n<b>Hark</b> & <script>alert(1)</script>"
    at.text_area(key=u.template_key("continue", "zero")).set_value(typed).run()
    at.button(key="uses.go").click().run()
    body = answer_html(at)
    parsed = Answer(body)
    assert not {"b", "script"} & parsed.tags
    assert html.escape("<b>Hark</b> &") in body
    assert parsed.tokens == expected_answer(tiny_model_dir, typed, "continue")


def test_the_answer_attention_is_one_click_away(tiny_model_dir, cache_dir):
    at = open_uses()
    at.button(key="uses.go").click().run()
    n_answer = len(at.session_state["uses.result"]["answer"])
    assert n_answer and not at.get("plotly_chart")
    at.toggle(key="uses.look").set_value(True).run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"][0]["y"]) == n_answer  # one row per answer token
    at.selectbox(key="uses.head").set_value(1).run()
    assert not at.exception and any("In this layer and head" in c.value for c in at.main.caption)


def test_a_stopped_answer_keeps_its_tokens_and_says_so(tiny_model_dir, cache_dir):
    at = open_uses()
    at.button(key="uses.go").click().run()
    result = at.session_state["uses.result"]
    result["answer"], result["finished"] = result["answer"][:3], False  # as if Stop came after 3 tokens
    at.run()
    pieces = whole_characters([gpt_core.get_tokenizer("shakespeare_bpe").token_bytes(t) for t in result["answer"]])
    assert [visible_in_prose(t) for _, _, t in pieces] == Answer(answer_html(at)).tokens  # split characters whole
    assert any("stopped by you after 3 tokens" in c.value for c in at.caption)


def test_empty_prompt_asks_for_one(tiny_model_dir, cache_dir):
    at = open_uses()
    at.text_area(key=u.template_key("continue", "zero")).set_value("   \n ").run()
    assert not at.exception and not at.error
    assert any("needs at least one token" in i.value for i in at.info)


def test_long_prompt_is_cropped_with_a_warning(tiny_model_dir, cache_dir):
    at = open_uses()
    at.text_area(key=u.template_key("continue", "zero")).set_value("To be or not to be. " * 100).run()
    assert any("left out" in w.value for w in at.warning)
    at.button(key="uses.go").click().run()
    assert not at.exception


def test_the_page_says_what_the_shipped_model_cannot_do(tiny_model_dir, cache_dir):
    at = open_uses()
    note = at.info[0].value
    assert "will not translate" in note and "tiny test model" in note


def test_generating_records_a_timing_for_the_evolution_page(tiny_model_dir, cache_dir):
    at = open_uses()
    at.button(key="uses.go").click().run()
    stored = json.loads((cache_dir / "measurements.json").read_text())
    assert stored["default@cpu"]["new_tokens"] >= 1


# --- gpt_core.prompting --------------------------------------------------------------------------------------


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPT(TINY).eval()


def test_fit_prompt_leaves_room_for_the_answer():
    assert fit_prompt(list(range(10)), 64, 8) == (list(range(10)), 0)
    kept, dropped = fit_prompt(list(range(100)), 64, 8)
    assert kept == list(range(44, 100)) and dropped == 44


def test_answer_rows_are_the_positions_that_chose_each_token(model):
    prompt, answer = [5, 6, 7, 8, 9], [10, 11, 12]
    look = answer_attention(model, prompt, answer)
    assert look.pattern.shape == (TINY.n_layer, TINY.n_head, 3, 7)
    assert torch.allclose(look.pattern.sum(-1), torch.ones(TINY.n_layer, TINY.n_head, 3), atol=1e-5)
    _, alone = model.run_with_cache(torch.tensor([prompt]))
    # the first answer token was chosen at the last prompt position, which cannot see the answer (causal mask)
    assert torch.allclose(look.pattern[:, :, 0, :5], torch.stack([alone.pattern(i)[:, -1] for i in range(2)]),
                          atol=1e-6)
    assert look.pattern[:, :, 0, 5:].abs().max() == 0
    assert 0 < look.share_on_prompt(1) <= 1 and look.rows(0, 1).shape == (3, 7)


def test_answer_steps_end_at_the_first_line_break_after_some_text(model, monkeypatch):
    tok = gpt_core.get_tokenizer("shakespeare_bpe")
    nl, rome, more = tok.encode("\n"), tok.encode("Rome"), tok.encode("more text")
    fake = [Step(i, t, 1, 1.0, 0.0, None, False) for i, t in enumerate(nl + rome + nl + more)]
    monkeypatch.setattr(prompting, "generate_steps", lambda *a, **k: iter(fake))
    got = [s.token for s in answer_steps(model, tok, [1, 2, 3], 20, stop="\n")]
    assert got == nl + rome + nl  # the leading line break does not end an empty answer
    assert [s.token for s in answer_steps(model, tok, [1, 2, 3], 20)] == nl + rome + nl + more


def test_answer_steps_stop_at_the_token_limit(model):
    tok = gpt_core.get_tokenizer("shakespeare_bpe")
    assert len(list(answer_steps(model, tok, [1, 2, 3], 10))) == 10


def test_timed_steps_time_the_model_only(model):
    tok = gpt_core.get_tokenizer("shakespeare_bpe")
    one = TimedSteps(answer_steps(model, tok, [1, 2, 3], 1), 3)
    list(one)
    assert one.timing() is None
    five = TimedSteps(answer_steps(model, tok, [1, 2, 3], 5), 3)
    list(five)
    t = five.timing()
    assert t.prompt_tokens == 3 and t.new_tokens == 4 and t.seconds_per_token > 0
