"""The live training run behind the Training page, and its figures: tiny preset, a few steps."""

import gc
import math
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt_core import get_tokenizer
from gpt_core import live_training as lt
from viz import training as vt

TOK = get_tokenizer(lt.TOKENIZER)
CORPUS = Path(__file__).resolve().parent.parent / "assets" / "corpus" / "tiny_shakespeare_excerpt.txt"
TEXT = CORPUS.read_text(encoding="utf-8")
TINY = lt.PRESETS["tiny"]


@pytest.fixture(scope="module")
def finished():
    """A 10-step run of the tiny preset, trained to the end."""
    run = lt.LiveRun(TEXT, TINY, 10, TOK, "HELENA.")
    model = weakref.ref(run.model)
    while run.advance(0.2):
        pass
    return run, model


def test_presets_state_which_can_form_an_induction_head_and_fit_the_budget():
    assert not TINY.can_form_induction_head  # one layer
    assert all(p.can_form_induction_head for name, p in lt.PRESETS.items() if name != "tiny")
    for p in lt.PRESETS.values():
        assert p.memory_mb <= lt.MAX_RUN_MB
        assert p.seq_len >= 2 * lt.PROBE_N  # the probe sequence fits every context
        assert 0 < p.default_steps <= lt.MAX_STEPS
    assert [p.n_params for p in lt.PRESETS.values()] == sorted(p.n_params for p in lt.PRESETS.values())


@pytest.mark.parametrize("text,kind", [("", "empty"), (" \n\t ", "empty"), ("x" * (lt.MAX_TEXT_CHARS + 1), "too_long"),
                                       ("To be, or not to be. " * 10, "too_short")])
def test_bad_texts_get_a_reason(text, kind):
    problem = lt.check_text(text, TOK, TINY)
    assert problem is not None and problem.kind == kind
    if kind == "too_short":
        assert problem.limit == lt.min_tokens(TINY) and 0 < problem.tokens < problem.limit
    with pytest.raises(lt.TextError):
        lt.LiveRun(text, TINY, 10, TOK)


@pytest.mark.parametrize("text", ["你好，世界 🌍 " * 400, "<b>bold</b><script>alert(1)</script> " * 200,
                                  "lone \ud800 surrogate " * 300])
def test_any_unicode_text_long_enough_can_be_trained_on(text):
    assert lt.check_text(text, TOK, TINY) is None


def test_shipped_excerpt_is_long_enough_for_every_preset():
    assert all(lt.check_text(TEXT, TOK, p) is None for p in lt.PRESETS.values())


def test_a_run_records_the_untrained_model_at_step_zero(finished):
    h = finished[0].history
    step0, train0, val0 = h.evals[0]
    assert step0 == 0 and abs(train0 - math.log(1024)) < 0.1 and abs(val0 - math.log(1024)) < 0.1
    assert h.samples[0][0] == 0 and h.snapshots[0].step == 0 and h.probe_steps[0] == 0


def test_a_finished_run_has_every_step_a_final_eval_sample_and_snapshot(finished):
    run, _ = finished
    h = run.history
    assert h.end_reason == "max_steps" and not run.running
    assert h.steps == list(range(1, 11)) and len(h.losses) == 10
    assert h.evals[-1][0] == 10 and h.evals[-1][2] < h.evals[0][2]  # validation loss went down
    assert h.samples[-1][0] == 10 and h.snapshots[-1].step == 10 and h.probe_steps[-1] == 10
    assert len(h.probe_steps) == len(h.previous_token) == len(h.induction)
    assert sorted(set(h.probe_steps)) == h.probe_steps
    assert h.tokens_per_s > 0 and h.seconds_left == 0


def test_snapshots_are_real_attention_patterns_of_the_probe_sequence(finished):
    h = finished[0].history
    assert h.probe_tokens[: lt.PROBE_N] == h.probe_tokens[lt.PROBE_N :]
    assert TOK.eot_token not in h.probe_tokens
    p = h.snapshots[-1].patterns.astype(np.float32)
    assert p.shape == (1, 2, 2 * lt.PROBE_N, 2 * lt.PROBE_N)
    np.testing.assert_allclose(p.sum(-1), 1, atol=5e-3)  # each row is a softmax (stored as float16)
    assert np.all(np.triu(p[0, 0], k=1) == 0)  # the causal mask
    layer, head = h.most_specialised_head()
    chance_prev, chance_ind = lt.chance_scores()
    ratio = np.maximum(h.previous_token[-1] / chance_prev, h.induction[-1] / chance_ind)
    assert ratio[layer, head] == ratio.max()


def test_a_finished_run_frees_its_model(finished):
    run, model = finished
    gc.collect()
    assert run.model is None and model() is None


def test_stop_ends_the_run_measures_the_last_state_and_frees_the_model():
    run = lt.LiveRun(TEXT, TINY, 1000, TOK)
    model = weakref.ref(run.model)
    assert run.advance(0.05)  # at least one step, far from the end
    run.stop()
    h = run.history
    gc.collect()
    assert h.end_reason == "stopped" and 1 <= h.step < 1000 and model() is None
    assert h.snapshots[-1].step == h.step and h.samples[-1][0] == h.step and h.evals[-1][0] == h.step
    run.stop()  # stopping twice is harmless
    assert not run.advance()


def test_the_time_budget_ends_a_run():
    run = lt.LiveRun(TEXT, TINY, 1000, TOK, time_limit_s=0.0)
    assert not run.advance(5.0)
    assert run.history.end_reason == "time_limit" and run.history.step <= 1


def test_two_runs_train_their_own_models():
    a, b = lt.LiveRun(TEXT, TINY, 10, TOK), lt.LiveRun(TEXT, TINY, 10, TOK, seed=7)
    assert a.model is not b.model
    before = b.model.transformer.wte.weight.detach().clone()
    a.advance(0.05)
    assert (b.model.transformer.wte.weight == before).all() and b.history.step == 0 < a.history.step
    a.release(), b.release()


def test_the_exercise_goes_into_the_training_windows_only_when_asked():
    plain = lt.LiveRun(TEXT, TINY, 3, TOK)
    drilled = lt.LiveRun(TEXT, TINY, 3, TOK, exercise=True)
    assert plain._cfg.previous_fraction == 0 and not plain.history.exercise
    assert drilled._cfg.previous_fraction == lt.EXERCISE_FRACTION and drilled._cfg.previous_anywhere
    assert drilled.history.exercise
    while drilled.advance(0.2):
        pass
    assert drilled.history.step == 3 and drilled.model is None
    plain.stop()


def test_chance_scores_are_those_of_even_attention():
    prev, ind = lt.chance_scores(4)  # 8 positions
    assert prev == pytest.approx(np.mean([1 / (i + 1) for i in range(1, 8)]))
    assert ind == pytest.approx(np.mean([1 / (q + 1) for q in range(4, 8)]))


# --- figures -------------------------------------------------------------------------------------
LABELS = {"batch": "batch", "train": "train", "val": "val", "uniform": "uniform: ln {vocab} = {loss:.2f}", "x": "step",
          "y": "loss", "previous": "prev", "induction": "ind", "best_previous": "best prev",
          "best_induction": "best ind", "chance_previous": "even {score:.2f}", "chance_induction": "even {score:.2f}"}


def test_loss_figure_spans_the_whole_run_and_marks_the_uniform_guess(finished):
    h = finished[0].history
    fig = vt.loss_figure(h.steps, h.losses, h.evals, 1000, 1024, LABELS)
    assert list(fig.layout.xaxis.range) == [0, 1000]
    assert [t.name for t in fig.data] == ["batch", "train", "val"]
    assert list(fig.data[2].y) == [round(e[2], 4) for e in h.evals]
    assert "6.93" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="same length"):
        vt.loss_figure([1, 2], [3.0], [], 10, 1024, LABELS)


def test_snapshots_figure_is_one_panel_per_snapshot_on_one_colour_scale(finished):
    h = finished[0].history
    pats = [s.patterns[0, 1] for s in h.snapshots]
    fig = vt.snapshots_figure(pats, [f"step {s.step}" for s in h.snapshots], lt.PROBE_N)
    assert len(fig.data) == len(h.snapshots) and fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == 1
    z = np.array(fig.data[-1].z, dtype=float)
    assert np.isnan(z[0, 1]) and not np.isnan(z[1, 0])  # masked cells are blank
    with pytest.raises(ValueError, match="repeated twice"):
        vt.snapshots_figure([np.eye(5)], ["x"], lt.PROBE_N)


def test_scores_figure_shows_the_head_the_best_head_and_chance(finished):
    h = finished[0].history
    steps, prev, ind = h.score_series(0, 1)
    fig = vt.scores_figure(steps, prev, ind, [float(s.max()) for s in h.previous_token],
                           [float(s.max()) for s in h.induction], lt.chance_scores(), [s.step for s in h.snapshots],
                           h.max_steps, LABELS)
    chance = lt.chance_scores()
    assert [t.name for t in fig.data] == ["prev", "ind", "best prev", "best ind", f"even {chance[0]:.2f}",
                                          f"even {chance[1]:.2f}"]
    assert list(fig.data[0].y) == [round(v, 4) for v in prev]
    assert len(fig.layout.shapes) == len(h.snapshots)  # a faint line at each snapshot


def test_samples_are_escaped_text_oldest_first():
    out = vt.samples_html([(0, "<b>x</b>\nnext"), (5, "words")], "<i>P</i>")
    assert "<b>" not in out and "&lt;b&gt;x&lt;/b&gt;↵ next" in out and "&lt;i&gt;P&lt;/i&gt;" in out
    assert out.index("step 0") < out.index("step 5") and out.count('class="row latest"') == 1
    odd = vt.samples_html([(0, "a\x0cb\u200bc\rd\r\ne")], "")  # what an untrained model may well write
    assert "a⟨U+000C⟩b⟨U+200B⟩c←d↵ e" in odd  # drawn, not boxes or nothing; a line break is still ↵


def test_the_worker_trains_on_one_thread_and_leaves_the_rest_of_the_process_alone():
    before = torch.get_num_threads()
    worker = lt.TrainingWorker()
    try:
        assert worker.threads() == lt.TRAIN_THREADS
        assert torch.get_num_threads() == before  # this thread
        seen = []
        t = threading.Thread(target=lambda: (torch.ones(1 << 16).add_(1), seen.append(torch.get_num_threads())))
        t.start(), t.join()
        assert seen == [before]  # a new thread, such as Streamlit's next rerun, takes the process value
        run = worker.call(lt.LiveRun, TEXT, TINY, 10, TOK)
        assert worker.call(run.advance, 0.01) and run.history.step >= 1
        worker.call(run.stop)
        assert run.history.end_reason == "stopped"
    finally:
        worker.shutdown()


@pytest.mark.parametrize("prompt,seen", [("a\ud800b", "a\ufffdb"), ("", "\n"), ("HELENA.", "HELENA.")])
def test_the_sample_prompt_is_kept_as_the_text_the_model_sees(prompt, seen):
    run = lt.LiveRun(TEXT, TINY, 10, TOK, prompt)
    assert run.history.sample_prompt == seen
    run.release()
