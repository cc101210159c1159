"""How fast the Training page's presets train here, so default step counts give about a minute.

    python bench/training_page.py               # steps/s with 1 and 2 torch threads, per preset
    python bench/training_page.py --full small  # also time one whole default run (as the page runs it)

Each preset is measured in a fresh subprocess (so torch's thread count and peak memory are its own).
Prints wall and CPU milliseconds per step: on a busy machine wall time counts waiting for a core,
CPU time does not, so the CPU figure is what an idle core would give. Also prints the peak memory
(resident set growth) next to the page's estimate from shapes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(preset_name: str, threads: int, steps: int, full: bool) -> dict:
    import torch

    torch.set_num_threads(threads)
    from gpt_core import get_tokenizer
    from gpt_core import live_training as lt

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    text = (ROOT / "assets" / "corpus" / "tiny_shakespeare_excerpt.txt").read_text(encoding="utf-8")
    preset = lt.PRESETS[preset_name]
    tok = get_tokenizer(lt.TOKENIZER)
    t0 = time.perf_counter()
    run = lt.LiveRun(text, preset, preset.default_steps, tok, time_limit_s=1e9)  # evals, probes as the page has them
    setup_s = time.perf_counter() - t0
    run.advance(0.0)  # warm-up: first steps allocate
    run.advance(0.0)
    out = {"preset": preset_name, "threads": threads, "setup_s": round(setup_s, 2)}
    if full:
        t0, c0 = time.perf_counter(), time.process_time()
        while run.advance(0.3):
            pass
        out |= {"full_wall_s": round(time.perf_counter() - t0, 1), "full_cpu_s": round(time.process_time() - c0, 1),
                "full_steps": run.history.step, "val_loss": run.history.evals[-1][2],
                "best_induction": round(float(run.history.induction[-1].max()), 3),
                "best_previous": round(float(run.history.previous_token[-1].max()), 3)}
    else:
        start = run.history.step
        t0, c0 = time.perf_counter(), time.process_time()
        while run.running and run.history.step - start < steps:
            run.advance(0.0)  # one step (plus an eval, sample or probe when one falls due)
        n = run.history.step - start
        wall, cpu = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
        out |= {"ms_step_wall": round(1000 * wall, 1), "ms_step_cpu": round(1000 * cpu, 1),
                "tokens_s_cpu": round(preset.tokens_per_step / cpu)}
    out["peak_mb"] = round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kb) / 1024, 1)
    out["estimate_mb"] = round(preset.memory_mb, 1)
    run.release()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=60, help="steps timed per preset and thread count")
    p.add_argument("--full", nargs="*", default=None, help="presets to time one whole default run of")
    p.add_argument("--one", nargs=3, metavar=("PRESET", "THREADS", "FULL"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        name, threads, full = args.one
        print(json.dumps(measure(name, int(threads), args.steps, full == "1")))
        return

    from gpt_core import live_training as lt

    print(f"cores: {os.cpu_count()}, load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'preset':8} {'params':>8} {'thr':>3} {'ms/step wall':>12} {'ms/step cpu':>11} {'tokens/s cpu':>12} "
          f"{'default steps':>13} {'≈ s (cpu)':>9} {'peak MB':>8} {'est. MB':>8}")
    for name, preset in lt.PRESETS.items():
        for threads in (1, 2):
            r = json.loads(subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--one", name,
                                           str(threads), "0"], capture_output=True, text=True, check=True).stdout)
            print(f"{name:8} {preset.n_params:>8,} {threads:>3} {r['ms_step_wall']:>12} {r['ms_step_cpu']:>11} "
                  f"{r['tokens_s_cpu']:>12,} {preset.default_steps:>13} "
                  f"{preset.default_steps * r['ms_step_cpu'] / 1000 + r['setup_s']:>9.0f} {r['peak_mb']:>8} "
                  f"{r['estimate_mb']:>8}")
    for name in args.full or []:
        r = json.loads(subprocess.run([sys.executable, __file__, "--one", name, str(lt.TRAIN_THREADS), "1"],
                                      capture_output=True, text=True, check=True).stdout)
        print(f"full default run of {name}: {r['full_steps']} steps in {r['full_wall_s']} s wall "
              f"({r['full_cpu_s']} s cpu), validation loss {r['val_loss']:.3f}, best previous-token score "
              f"{r['best_previous']}, best induction score {r['best_induction']}")


if __name__ == "__main__":
    main()
