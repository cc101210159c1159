"""The Generation page through Streamlit's AppTest, on the tiny seeded model (context 64, 1,024 tokens)."""

from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import open_app
from streamlit.testing.v1 import AppTest

import gpt_core
from gpt_core.timeline import Settings, Timeline

ROOT = Path(__file__).resolve().parent.parent
PAGE = "app_pages/generation.py"
TL = "generation.timeline"
LONG = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. " * 30)[:2000]
INJECTION = "<b>bold</b><script>alert(1)</script>"


def k(name: str) -> str:
    return f"generation.{name}"


def open_page(prompt: str | None = None) -> AppTest:
    return open_app(PAGE, prompt)


def timeline(at: AppTest) -> Timeline:
    return at.session_state[TL][1]


def click(at: AppTest, name: str, times: int = 1) -> AppTest:
    for _ in range(times):
        at.button(key=k(name)).click().run()
        assert not at.exception
    return at


def generate(at: AppTest, n: int) -> AppTest:
    at.slider(key=k("n")).set_value(n).run()
    return click(at, "go")


class Spans(HTMLParser):
    """Class names of the spans in the page's text view, and the visible text."""

    def __init__(self, body: str):
        super().__init__()
        self.classes, self.tags, self.text = [], set(), ""
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "span":
            self.classes.append(dict(attrs).get("class", ""))

    def handle_data(self, data):
        self.text += data


def text_view(at: AppTest) -> Spans:
    return next(Spans(h.value) for h in at.html if "gen-text" in h.value)


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_opens_on_the_prompt_and_shows_the_first_choice(tiny_model_dir):
    at = open_page()
    assert not at.exception and not at.error
    view = text_view(at)
    assert "ROMEO." in view.text and "next" in view.classes and not any("gen" in c for c in view.classes)
    assert "will pick" in markdown(at)
    assert len(at.get("plotly_chart")) == 5  # candidates, cut, draw, attention, lens
    assert metric(at, "Tokens kept") == "1,024 / 1,024"  # temperature 1, no cut: every token can be drawn
    assert at.button(key=k("back")).disabled and at.button(key=k("stop")).disabled


def test_next_token_adds_the_token_the_panel_announced(tiny_model_dir):
    at = open_page()
    announced = metric(at, "Next token")
    click(at, "next")
    tl = timeline(at)
    assert len(tl.steps) == tl.cursor == 1
    assert gpt_core.get_tokenizer("shakespeare_bpe").token_strs([tl.steps[0].token])[0].replace(" ", "⋅") == announced
    click(at, "next", 2)
    view = text_view(at)
    assert sum("gen" in c.split() for c in view.classes) == 3 and sum("latest" in c for c in view.classes) == 1
    assert "Showing **3** of the **3** tokens generated in branch **1**" in markdown(at)
    assert "reused the keys and values" in " ".join(c.value for c in at.caption)


def test_generate_n_adds_n_tokens(tiny_model_dir):
    at = generate(open_page(), 7)
    assert at.button(key=k("go")).label == "Generate 7"
    assert len(timeline(at).steps) == 7 and timeline(at).cursor == 7


def test_same_seed_and_settings_give_the_same_text(tiny_model_dir):
    at = open_page()
    at.slider(key=k("temperature")).set_value(1.4).run()
    at.slider(key=k("top_k")).set_value(50).run()
    at.slider(key=k("top_p")).set_value(0.9).run()
    at.number_input(key=k("seed")).set_value(5).run()
    first = timeline(generate(at, 8)).tokens()
    again = timeline(generate(click(at, "reset"), 8)).tokens()
    assert first == again and len(first) == 8
    for s in timeline(at).steps:
        assert (s.settings.temperature, s.settings.top_k, s.settings.top_p, s.settings.seed) == (1.4, 50, 0.9, 5)
        assert s.distribution.kept.sum() <= 50
    at.number_input(key=k("seed")).set_value(6).run()
    other = timeline(generate(click(at, "reset"), 8)).tokens()
    assert other != first

    fresh = open_page()  # another session with the same settings writes the same text
    fresh.slider(key=k("temperature")).set_value(1.4).run()
    fresh.slider(key=k("top_k")).set_value(50).run()
    fresh.slider(key=k("top_p")).set_value(0.9).run()
    fresh.number_input(key=k("seed")).set_value(5).run()
    assert timeline(generate(fresh, 8)).tokens() == first


def test_back_shows_the_kept_step_and_next_replays_it(tiny_model_dir):
    at = click(open_page(), "next", 3)
    tokens = timeline(at).tokens()
    click(at, "back")
    tl = timeline(at)
    assert tl.cursor == 2 and len(tl.steps) == 3
    view = text_view(at)
    assert sum(c == "ahead" for c in view.classes) == 1  # the kept third token, faded
    assert "This branch chose" in markdown(at) and metric(at, "These settings pick")
    click(at, "next")
    assert timeline(at).tokens() == tokens and len(timeline(at).branches) == 1
    click(at, "back", 3)
    assert timeline(at).cursor == 0 and at.button(key=k("back")).disabled


def test_step_slider_scrubs_to_any_step(tiny_model_dir):
    at = generate(open_page(), 5)
    at.slider(key=k("step")).set_value(2).run()
    assert timeline(at).cursor == 2 and not at.exception
    assert at.slider(key=k("step")).value == 2
    click(at, "back")
    assert at.slider(key=k("step")).value == 1  # the slider follows the buttons


def test_picking_another_candidate_branches_and_keeps_the_old_branch(tiny_model_dir):
    at = click(open_page(), "next", 4)
    original = timeline(at).tokens()
    click(at, "back", 3)  # at the choice of the 2nd generated token
    ranked = timeline(at).steps[1].logits.argsort(descending=True).tolist()
    second = next(t for t in ranked if t != original[1])  # the best candidate it did not choose
    at.pills(key=k("pick")).set_value(second).run()
    assert not at.exception
    tl = timeline(at)
    assert len(tl.branches) == 2 and tl.current == 1 and tl.tokens() == [original[0], second]
    assert tl.steps[1].how == "picked"
    assert "picked" in " ".join(text_view(at).classes)
    rows = next(d.value for d in at.dataframe if "branch" in d.value.columns)  # not a chart's "Show as table"
    assert len(rows) == 2 and "split from branch 1 at token 2" in rows.iloc[1].tolist()
    click(at, "next", 2)  # continue the new branch
    assert timeline(at).tokens()[:2] == [original[0], second] and len(timeline(at).tokens()) == 4

    at.radio(key=k("branch")).set_value(0).run()  # back to the first branch: nothing was lost
    assert timeline(at).branch.tokens == original and not at.exception


def test_settings_that_would_choose_differently_on_a_kept_step_say_so_and_branch(tiny_model_dir):
    at = click(open_page(), "next", 2)
    chosen = timeline(at).steps[1].token
    click(at, "back")
    at.slider(key=k("temperature")).set_value(3.0).run()
    for seed in range(1, 60):
        at.number_input(key=k("seed")).set_value(seed).run()
        if any("instead" in i.value for i in at.info):
            break
    else:
        pytest.fail("no seed changed the choice")
    click(at, "next")
    tl = timeline(at)
    assert len(tl.branches) == 2 and tl.tokens()[1] != chosen


def test_temperature_zero_is_greedy(tiny_model_dir):
    at = open_page()
    at.slider(key=k("temperature")).set_value(0.0).run()
    assert metric(at, "Tokens kept") == "1 / 1,024"
    assert any("nothing is random" in c.value for c in at.caption)
    generate(at, 5)
    model = gpt_core.load_model(str(tiny_model_dir)).model
    tl = timeline(at)
    assert tl.tokens() == gpt_core.generate(model, tl.prompt, 5, temperature=0)
    assert all(s.how == "greedy" for s in tl.steps)


def test_top_k_and_top_p_cut_the_candidates(tiny_model_dir):
    at = open_page()
    at.slider(key=k("top_k")).set_value(5).run()
    assert metric(at, "Tokens kept") == "5 / 1,024"
    at.slider(key=k("top_k")).set_value(0).run()
    at.slider(key=k("top_p")).set_value(0.01).run()
    model = gpt_core.load_model(str(tiny_model_dir)).model
    expected = int(Settings(top_p=0.01).distribution(timeline(at).logits_at(model)).kept.sum())
    assert 1 <= expected < 50 and metric(at, "Tokens kept") == f"{expected} / 1,024"
    at.slider(key=k("bars")).set_value(20).run()
    assert "These\n20 bars" in markdown(at) or any("20 bars" in c.value for c in at.caption)


def test_the_length_limit_stops_generation(tiny_model_dir):
    at = open_page()
    at.number_input(key=k("max_new")).set_value(3).run()
    generate(at, 10)
    assert len(timeline(at).steps) == 3
    assert any("length limit of 3" in w.value for w in at.warning)
    assert "Generation has stopped here" in markdown(at) and metric(at, "These settings pick")
    assert at.button(key=k("next")).disabled and at.button(key=k("go")).disabled


def test_the_context_limit_stops_or_slides(tiny_model_dir):
    at = open_page(LONG)
    assert any("reads at most 64" in w.value for w in at.warning)  # the prompt already fills the context
    click(at, "next")
    assert any("context limit" in w.value for w in at.warning) and at.button(key=k("next")).disabled
    at.toggle(key=k("slide")).set_value(True).run()
    click(at, "next", 2)
    tl = timeline(at)
    assert len(tl.steps) == 3 and [s.dropped for s in tl.steps] == [0, 1, 2]
    assert tl.dropped() == 3  # 67 tokens: the next choice reads the last 64
    assert any("the oldest 3\nhave slid out" in i.value or "oldest 3 have slid out" in i.value for i in at.info)
    assert sum("slid" in c for c in text_view(at).classes) == 3


def test_the_end_of_text_token_stops_generation(tiny_model_dir):
    at = open_page()
    tok = gpt_core.get_tokenizer("shakespeare_bpe")
    model = gpt_core.load_model(str(tiny_model_dir)).model
    timeline(at).choose(model, tok.eot_token, Settings())  # as if picked among the candidates
    at.run()
    assert any("end-of-text" in w.value for w in at.warning) and at.button(key=k("next")).disabled


def test_reset_forgets_every_step(tiny_model_dir):
    at = click(generate(open_page(), 4), "reset")
    assert timeline(at).steps == [] and timeline(at).cursor == 0


def test_a_new_prompt_starts_a_new_timeline(tiny_model_dir):
    at = click(open_page(), "next", 2)
    at.text_area(key="prompt").set_value("JULIET:\nO Romeo").run()
    assert timeline(at).steps == [] and "JULIET" in text_view(at).text


def test_large_controls_for_presenters(tiny_model_dir):
    at = open_page()
    at.toggle(key="present").set_value(True).run()
    assert any("min-height:3.6rem" in h.value for h in at.html)
    assert "font-size:1.50rem" in next(h.value for h in at.html if "gen-text" in h.value)


def test_attention_and_lens_follow_the_step_shown(tiny_model_dir):
    at = click(open_page(), "next", 2)
    specs = at.get("plotly_chart")
    assert len(specs) == 5
    tl = timeline(at)
    assert tl.look(gpt_core.load_model(str(tiny_model_dir)).model).attention.shape[-1] == len(tl.context())
    assert "model's favourite after the last layer" in markdown(at)
    click(at, "back")
    assert "the token this branch chose" in markdown(at)


def test_open_a_head_on_the_attention_page(tiny_model_dir):
    at = open_page()
    at.selectbox(key=k("att_layer")).set_value(1).run()
    at.selectbox(key=k("att_head")).set_value(1).run()
    at.button(key=k("att_open")).click().run()
    assert not at.exception
    assert at.session_state["attention.layer"] == 1 and at.session_state["attention.head"] == 1
    assert any(t.value == "Attention" for t in at.title)


@pytest.mark.parametrize("prompt", ["", "   \n ", "你好，世界 🌍 Hello", INJECTION])
def test_any_prompt_renders_without_error(tiny_model_dir, prompt):
    at = open_page(prompt)
    assert not at.exception and not at.error
    if not prompt.strip():
        assert any("Type some text" in i.value for i in at.info)
        return
    click(at, "next", 2)
    view = text_view(at)
    assert not {"b", "script"} & view.tags
    if prompt == INJECTION:
        assert INJECTION in view.text
    else:  # the tiny model's tokenizer splits these characters into bytes: still shown whole
        assert "你好，世界 🌍 Hello" in view.text


def test_torch_math_stays_out_of_the_page():
    page = (ROOT / PAGE).read_text()
    assert not any(word in page for word in ("torch.matmul", "einsum", "softmax(", "@ x.T", "import torch"))


def test_a_generation_cut_short_by_stop_says_so_and_keeps_its_tokens(tiny_model_dir):
    at = click(open_page(), "next", 2)
    at.session_state[k("running")] = 0  # what a Generate run leaves behind when Stop interrupts it
    at.run()
    assert [i.value for i in at.info] == ["Stopped after 2 new token(s)."]
    assert len(timeline(at).steps) == 2 and k("running") not in at.session_state
    at.run()
    assert "Stopped after 2 new token(s)." not in [i.value for i in at.info]


def test_tokens_shown_in_page_text_keep_markdown_and_latex_signs_literal():
    from ui.generation import token_md

    tok = gpt_core.get_tokenizer("shakespeare_bpe")
    for typed, shown in (("*", r"\*"), ("$", r"\$"), ("_", r"\_"), ("[", r"\["), ("<", r"\<")):
        (token,) = tok.encode(typed)
        assert token_md(tok, token) == shown
