"""Presenter mode and Predict first, through Streamlit's AppTest on the tiny seeded model, and their pure parts."""

import json

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from ui import presenter
from ui import text as ui_text
from viz import catalog
from viz import presenter as vp

STORY = ["tokens", "embeddings", "attention", "overview", "generation"]
PROMPT = "JULIET.\nO Romeo, Romeo"


def start(prompt: str = PROMPT, present: bool = True) -> AppTest:
    """The app on Home with ``prompt`` in the sidebar, presenter mode on (or off)."""
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert at.session_state["lang"] == "en"
    at.text_area(key="prompt").set_value(prompt).run()
    if present:
        at.toggle(key="present").set_value(True).run()
    assert not at.exception, at.exception
    return at


def open_page(page: str, present: bool = True) -> AppTest:
    return start(present=present).switch_page(f"app_pages/{page}.py").run()


def step_bar(at: AppTest) -> str:
    """The stepper of the presenter bar ("" when there is none)."""
    return next((h.value for h in at.html if 'class="pr-steps"' in h.value), "")


def step_text(step: str, lang: str = "en") -> str:
    """A step's two sentences, as the bar shows them (Markdown)."""
    return catalog.sections("presenter", lang)[f"step_{step}"]


def shown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def keys(widgets) -> set[str]:
    return {w.key for w in widgets}


# --- the step bar ------------------------------------------------------------------------------------------------


def test_next_walks_the_whole_story_in_order_and_previous_walks_back(tiny_model_dir):
    at = start()
    assert "Presenter mode." in shown(at)  # Home: the story's start
    at.button(key="presenter.start").click().run()
    for k, (page, (step, _)) in enumerate(zip(STORY, presenter.STEPS, strict=True), 1):
        assert not at.exception, at.exception
        assert at.title[0].value == catalog.labels("common", "pages")[page]
        assert f"Step {k} of 5" in step_bar(at) and 'aria-current="step"' in step_bar(at)
        assert step_text(step) in shown(at)
        assert at.text_area(key="prompt").value == PROMPT  # the page switch keeps the class's text
        assert at.button(key="presenter.previous").disabled == (k == 1)
        assert at.button(key="presenter.next").disabled == (k == 5)
        if k < 5:
            at.button(key="presenter.next").click().run()
    assert at.title[0].value == "Generation"
    for k in (4, 3, 2, 1):
        at.button(key="presenter.previous").click().run()
        assert f"Step {k} of 5" in step_bar(at)
    assert at.title[0].value == "Tokens"


def test_every_story_page_is_its_step_and_other_pages_have_no_bar(tiny_model_dir):
    at = start()
    for k, page in enumerate(STORY, 1):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, at.exception
        assert f"Step {k} of 5" in step_bar(at)
    at.switch_page("app_pages/model.py").run()
    assert not at.exception and not step_bar(at) and "presenter.next" not in keys(at.button)


def test_the_bar_speaks_chinese(tiny_model_dir, monkeypatch):
    # AppTest formats the model picker's options outside the session, where the language would read as English
    monkeypatch.setattr(ui_text, "lang", lambda: "zh")
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["lang"] = "zh"  # as a Chinese browser or ?lang=zh leaves it
    at.run().toggle(key="present").set_value(True).run()
    at.switch_page("app_pages/attention.py").run()
    assert "第 3 步，共 5 步" in step_bar(at) and "注意力" in step_bar(at)
    assert step_text("attention", "zh") in shown(at)
    at.button(key="presenter.next").click().run()
    assert "第 4 步，共 5 步" in step_bar(at) and at.session_state["lang"] == "zh"  # Next keeps the language


def test_exit_turns_presenter_mode_off(tiny_model_dir):
    at = open_page("embeddings")
    at.button(key="presenter.exit").click().run()
    assert not at.session_state["present"] and not at.toggle(key="present").value
    assert not step_bar(at) and not any("pr-step" in h.value or "font-size:20px" in h.value for h in at.html)


# --- what a projector does not need ------------------------------------------------------------------------------


def test_presenter_mode_enlarges_the_page_and_its_charts(tiny_model_dir):
    at = open_page("overview")
    assert any(h.value == vp.CSS for h in at.html)  # larger text and chips, captions hidden
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["font"]["size"] == 18 and spec["layout"]["xaxis"]["tickfont"]["size"] == 18
    off = open_page("overview", present=False)
    assert "size" not in json.loads(off.get("plotly_chart")[1].proto.spec)["layout"].get("font", {})


def test_secondary_controls_are_hidden_in_presenter_mode_and_back_when_it_is_off(tiny_model_dir):
    for present in (True, False):
        gen = open_page("generation", present)
        assert ({"generation.max_new"} <= keys(gen.number_input)) != present  # length limit
        assert ({"generation.slide"} <= keys(gen.toggle)) != present  # sliding past the context
        assert ("What do these settings do?" in [e.label for e in gen.expander]) != present
        assert "generation.predict" in keys(gen.toggle)  # Predict first: in both
        overview = open_page("overview", present)
        assert bool(overview.metric) != present
        assert ("Where one attention head looks (the previous step)" in [e.label for e in overview.expander]) == present
        assert ("Show as table" in [e.label for e in overview.expander]) != present
        tokens = open_page("tokens", present)
        assert bool(tokens.get("download_button")) != present  # the token table's export
        assert any(e.label == "The patterns (regular expressions)" for e in tokens.expander) != present


def test_off_the_pages_are_as_before(tiny_model_dir):
    at = open_page("generation", present=False)
    assert not step_bar(at) and not any(h.value == vp.CSS for h in at.html)
    assert [w.key for w in at.toggle if w.key.startswith("generation.")] == ["generation.slide", "generation.predict"]
    assert "will pick" in shown(at) and len(at.get("plotly_chart")) == 5
    overview = open_page("overview", present=False)
    assert [m.label for m in overview.metric] == ["Characters", "Tokens", "Tokens the model reads"]


# --- predict first -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("present", [True, False])
def test_predict_first_hides_the_choice_until_revealed_and_again_after_the_next_token(tiny_model_dir, present):
    at = open_page("generation", present)
    chosen = [m.value for m in at.metric][:2]
    at.toggle(key="generation.predict").set_value(True).run()
    metrics = [m.value for m in at.metric]
    assert metrics[:2] == ["?", "?"] and metrics[2:] and "?" not in metrics[2:]  # entropy, tokens kept: no clue
    assert "will pick" not in shown(at) and "The model has made its choice" in shown(at)
    assert len(at.get("plotly_chart")) == 1  # only what the newest token looked at: no candidates, draw, lens
    assert "generation.pick" not in keys(at.get("button_group"))  # the candidates to pick from wait too

    at.button(key="presenter.reveal").click().run()
    assert [m.value for m in at.metric][:2] == chosen and "will pick" in shown(at)
    assert len(at.get("plotly_chart")) == 5 and "presenter.reveal" not in keys(at.button)
    at.slider(key="generation.temperature").set_value(0.5).run()  # a setting changes the choice, not the step
    assert "presenter.reveal" not in keys(at.button)

    at.button(key="generation.next").click().run()  # a new token: its successor is hidden again
    assert [m.value for m in at.metric][:2] == ["?", "?"] and "presenter.reveal" in keys(at.button)
    at.button(key="generation.back").click().run()  # so is a step seen before
    assert [m.value for m in at.metric][:2] == ["?", "?"]


def test_predict_first_does_not_show_the_token_a_back_stepped_over(tiny_model_dir):
    """After Back, the tokens ahead of the cursor are the model's earlier choices: drawn faded, they would give
    the hidden answer away, so they wait for Reveal too."""
    at = open_page("generation", False)
    at.button(key="generation.next").click().run()
    at.button(key="generation.next").click().run()
    at.toggle(key="generation.predict").set_value(True).run()
    at.button(key="generation.back").click().run()

    def text_html() -> str:
        return next(h.value for h in at.html if "gen-text" in h.value)

    assert [m.value for m in at.metric][:2] == ["?", "?"]
    assert 'class="ahead"' not in text_html()
    at.button(key="presenter.reveal").click().run()
    assert text_html().count('class="ahead"') == 1  # revealed: the step already taken is shown again


def test_predict_first_outlives_a_visit_to_another_page(tiny_model_dir):
    at = open_page("generation")
    at.toggle(key="generation.predict").set_value(True).run()
    at.button(key="presenter.previous").click().run()
    at.button(key="presenter.next").click().run()
    assert at.toggle(key="generation.predict").value and [m.value for m in at.metric][:2] == ["?", "?"]


# --- the pure parts ----------------------------------------------------------------------------------------------


def test_stepper_marks_the_steps_done_now_and_ahead_and_escapes_its_words():
    out = vp.stepper_html(["<b>a</b>", "b", "c"], 1, "Step 2 of 3 & more")
    assert out.count('class="pr-step done"') == 1 and out.count('class="pr-step now"') == 1
    assert out.count('class="pr-step todo"') == 1 and "&lt;b&gt;a&lt;/b&gt;" in out and "&amp; more" in out
    with pytest.raises(ValueError, match="not one of the 3 steps"):
        vp.stepper_html(["a", "b", "c"], 3, "")


def test_enlarge_scales_every_font_and_leaves_the_figure_alone():
    fig = go.Figure(go.Heatmap(z=[[0, 1], [1, 0]], colorbar=dict(title="w")))
    fig.update_layout(height=300, title="t", xaxis=dict(tickfont=dict(size=10)), yaxis=dict(title="y"),
                      annotations=[dict(text="note", font=dict(size=14))])
    big = vp.enlarge(fig)
    assert fig.layout.font.size is None and fig.layout.height == 300  # the original is unchanged
    assert big.layout.font.size == 18 and big.layout.title.font.size == 24
    assert big.layout.yaxis.tickfont.size == 18 and big.layout.yaxis.title.font.size == 21
    assert big.layout.xaxis.tickfont.size == 12  # a dense figure's small labels grow less
    assert big.layout.annotations[0].font.size == 21 and big.data[0].colorbar.tickfont.size == 18
    assert big.layout.height == 375 and big.data[0].z == fig.data[0].z
