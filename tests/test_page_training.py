"""The Training page through AppTest: a few steps of the tiny preset, Stop, bad text, leaving the page."""

import base64
import json

import numpy as np
import torch
from streamlit.testing.v1 import AppTest

from ui import state

PAGE = "app_pages/training.py"
RUN, HISTORY = "training.run", "training.history"


def open_training() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=120).run()
    return at.switch_page(PAGE).run()


def start(at: AppTest, steps: int, preset: str = "tiny", corpus: str | None = "shipped") -> AppTest:
    """Choose a corpus (None: leave it), a preset and a number of steps, and press Start."""
    if corpus is not None:
        at.radio(key="training.corpus").set_value(corpus).run()
    at.selectbox(key="training.preset").set_value(preset).run()
    at.number_input(key="training.steps").set_value(steps).run()
    return at.button(key="training.start_button").click().run()


def run_to_the_end(at: AppTest, reruns: int = 60) -> AppTest:
    """Rerun the page (each rerun trains one chunk, as the fragment's timer would) until the run ends."""
    for _ in range(reruns):
        if RUN not in at.session_state:
            return at
        at.run()
    raise AssertionError("the run did not end")


def test_page_starts_idle_and_states_tokenizer_and_limits(tiny_model_dir):
    at = open_training()
    assert not at.exception and not at.error
    assert at.title[0].value == "Training"
    assert "press **Start**" in at.info[0].value
    captions = " ".join(c.value for c in at.caption)
    assert "shakespeare_bpe" in captions and "3 minutes" in captions and "one run per browser tab" in captions
    assert at.button(key="training.stop_button").disabled and not at.button(key="training.start_button").disabled
    at.selectbox(key="training.preset").set_value("tiny").run()
    assert "cannot" in " ".join(c.value for c in at.caption)  # one layer: no induction head


def test_a_few_steps_of_the_tiny_preset_draw_loss_samples_and_attention(tiny_model_dir):
    shared = state.load_bundle(state.source("default")).model
    before = {n: p.detach().clone() for n, p in shared.state_dict().items()}
    at = run_to_the_end(start(open_training(), 10))
    assert not at.exception and not at.error
    assert at.success[0].value.startswith("Done: 10 steps")
    h = at.session_state[HISTORY]
    assert h.end_reason == "max_steps" and h.step == 10
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 3  # loss, snapshots, scores
    val = next(t for t in charts[0]["data"] if t["name"].startswith("validation"))
    assert val["x"][0] == 0 and val["x"][-1] == 10 and val["y"][-1] < val["y"][0]
    assert len(charts[1]["data"]) == len(h.snapshots)
    samples = next(el.value for el in at.html if "tr-samples" in el.value)
    assert "step 0" in samples and "step 10" in samples and "HELENA." in samples
    assert at.button(key="training.start_button").disabled is False  # ready for another run
    assert all(torch.equal(before[n], p) for n, p in shared.state_dict().items())  # the shared model untouched


def test_the_look_back_exercise_is_mixed_in_when_asked_and_said_so(tiny_model_dir):
    at = open_training()
    assert at.toggle(key="training.exercise").value is False  # off unless asked for
    at = run_to_the_end(start(at, 10))
    assert not at.session_state[HISTORY].exercise and not any("look-back" in i.value for i in at.info)
    at.toggle(key="training.exercise").set_value(True).run()
    at = start(at, 5000)  # long enough to be still training when the page is drawn
    assert at.toggle(key="training.exercise").disabled  # not changed during a run
    assert at.session_state[RUN]._cfg.previous_fraction == 0.9
    at = at.button(key="training.stop_button").click().run()
    assert not at.exception and not at.error and at.session_state[HISTORY].exercise
    assert any("look-back exercise" in i.value for i in at.info)


def test_stop_ends_the_run_and_keeps_its_charts(tiny_model_dir):
    at = start(open_training(), 1000)
    assert RUN in at.session_state and at.button(key="training.stop_button").disabled is False
    assert at.selectbox(key="training.preset").disabled  # settings are locked while training
    at = at.button(key="training.stop_button").click().run()
    assert RUN not in at.session_state
    h = at.session_state[HISTORY]
    assert h.end_reason == "stopped" and 0 < h.step < 1000
    assert at.success[0].value.startswith(f"Stopped at step {h.step:,} of 1,000")
    assert len(at.get("plotly_chart")) == 3


def test_leaving_the_page_ends_the_run(tiny_model_dir):
    at = start(open_training(), 1000)
    run = at.session_state[RUN]
    at = at.switch_page("app_pages/home.py").run()
    assert RUN not in at.session_state and not run.running and run.model is None
    assert at.session_state[HISTORY].end_reason == "stopped"


def test_own_text_too_short_or_empty_gets_a_clear_message(tiny_model_dir):
    at = open_training()
    at.radio(key="training.corpus").set_value("own").run()
    at.button(key="training.start_button").click().run()
    assert "Paste some text first" in at.error[0].value
    at.text_area(key="training.own").set_value("<b>To be</b>, or not to be.").run()
    at.button(key="training.start_button").click().run()
    assert "too short" in at.error[0].value and RUN not in at.session_state
    assert not at.exception


def test_own_text_and_an_html_prompt_are_shown_as_text(tiny_model_dir):
    at = open_training()
    at.radio(key="training.corpus").set_value("own").run()
    at.text_area(key="training.own").set_value("<i>Sing</i> 你好 🌍, sing a song of sixpence.\n" * 120).run()
    at.text_input(key="training.prompt").set_value("<b>x</b>").run()
    at = run_to_the_end(start(at, 10, corpus=None))
    assert not at.exception and not at.error
    samples = next(el.value for el in at.html if "tr-samples" in el.value)
    assert "&lt;b&gt;x&lt;/b&gt;" in samples and "<b>" not in samples


def z_values(trace: dict) -> np.ndarray:
    """A heatmap's z (plotly sends numpy arrays base64-encoded)."""
    z = trace["z"]
    if isinstance(z, dict):
        shape = [int(n) for n in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array([[np.nan if v is None else v for v in row] for row in z], dtype=float)


def test_choosing_a_head_redraws_its_snapshots(tiny_model_dir):
    at = run_to_the_end(start(open_training(), 10))
    at.selectbox(key="training.head").set_value("0.1").run()
    assert "Layer 1, head 2" in " ".join(c.value for c in at.caption)
    h = at.session_state[HISTORY]
    panels = json.loads(at.get("plotly_chart")[1].proto.spec)["data"]
    assert len(panels) == len(h.snapshots)
    expected = h.snapshots[-1].patterns[0, 1].astype(float).round(3)
    lower = np.tril_indices_from(expected)
    np.testing.assert_allclose(z_values(panels[-1])[lower], expected[lower], atol=1e-6)


def test_all_the_plays_train_from_splits_made_once(tiny_model_dir):
    from ui import training as tr

    at = open_training()
    assert at.radio(key="training.corpus").value == "plays"  # the default
    assert "All 37 plays" in " ".join(c.value for c in at.caption)
    at = run_to_the_end(start(at, 10, corpus=None))
    assert not at.exception and not at.error
    train_split, _ = tr.shipped_splits("plays")
    assert at.session_state[HISTORY].n_train_tokens == train_split.ids.numel() > 1_000_000
