"""When does a previous-token head form on the Training page, with and without the look-back exercise?

    python bench/exercise_head.py [--presets small] [--corpus plays|excerpt] [--steps N]

Runs the page's own LiveRun (one torch thread, as the page trains) for each preset, once with the
exercise (live_training.EXERCISE_FRACTION of the windows) and once without, to the preset's default
number of steps (or --steps), and prints at every measurement the best previous-token score of any
head on the page's probe sequence, then the first step at which it passed 0.5 and 0.9, the final
validation loss and the time. Runs take turns in one process; each is about a minute on an idle core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpt_core import get_tokenizer  # noqa: E402
from gpt_core import live_training as lt  # noqa: E402
from gpt_core.training import make_splits  # noqa: E402

CORPORA = {"plays": "shakespeare.txt", "excerpt": "tiny_shakespeare_excerpt.txt"}


def first_step(steps: list[int], scores: list[float], level: float) -> str:
    return next((f"{s:,}" for s, v in zip(steps, scores, strict=True) if v >= level), "never")


def one_run(splits, preset: lt.LivePreset, steps: int, exercise: bool) -> None:
    t0 = time.perf_counter()
    run = lt.LiveRun(splits, preset, steps, get_tokenizer(lt.TOKENIZER), "HELENA.", time_limit_s=3600,
                     exercise=exercise)
    while run.advance(5.0):
        pass
    h = run.history
    best = [float(s.max()) for s in h.previous_token]
    label = "with the exercise" if exercise else "without"
    print(f"\n{preset.name}, {label}: {h.step:,} steps in {time.perf_counter() - t0:.0f} s, "
          f"final validation loss {h.evals[-1][2]:.3f} nats/token")
    print("   best previous-token score: " + "  ".join(f"{s:,}: {v:.2f}" for s, v in zip(h.probe_steps, best,
                                                                                             strict=True)))
    print(f"   first at 0.5: step {first_step(h.probe_steps, best, 0.5)}; "
          f"at 0.9: step {first_step(h.probe_steps, best, 0.9)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["small"], choices=list(lt.PRESETS))
    ap.add_argument("--corpus", choices=list(CORPORA), default="plays")
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default: the preset's default)")
    args = ap.parse_args()
    torch.set_num_threads(lt.TRAIN_THREADS)
    print(f"torch {torch.__version__}, {lt.TRAIN_THREADS} thread, load average {os.getloadavg()[0]:.2f}; "
          f"exercise in {lt.EXERCISE_FRACTION:.0%} of the windows; even attention scores "
          f"{lt.chance_scores()[0]:.2f}")
    text = (ROOT / "assets" / "corpus" / CORPORA[args.corpus]).read_text(encoding="utf-8")
    splits = make_splits(text, get_tokenizer(lt.TOKENIZER), lt.VAL_FRACTION)
    for name in args.presets:
        preset = lt.PRESETS[name]
        for exercise in (True, False):
            one_run(splits, preset, args.steps or preset.default_steps, exercise)


if __name__ == "__main__":
    main()
