"""How fast the Training page's presets train here, so default step counts give about a minute.

    python bench/training_page.py               # steps/s with 1 and 2 torch threads, per preset
    python bench/training_page.py --full small  # also time one whole default run (as the page runs it)
    python bench/training_page.py --corpus plays --full tiny small medium

Each preset is measured in a fresh subprocess (so torch's thread count and peak memory are its own).
Prints wall and CPU milliseconds per step: on a busy machine wall time counts waiting for a core,
CPU time does not, so the CPU figure is what an idle core would give. Also prints the run's peak memory
(resident set high-water mark over the process after torch's own start-up) next to the page's
estimate from shapes.
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


def current_rss_kb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def warm_up_libraries() -> None:
    """One training step of a minute model, so torch's one-time allocations are not counted as the run's."""
    import torch

    from gpt_core import GPT, GPTConfig

    model = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=16))
    x = torch.randint(0, 16, (2, 8))
    model.loss(x, x).backward()
    torch.optim.AdamW(model.parameters()).step()


CORPORA = {"excerpt": "tiny_shakespeare_excerpt.txt", "plays": "shakespeare.txt"}


def measure(preset_name: str, threads: int, steps: int, full: bool, corpus: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    from gpt_core import get_tokenizer
    from gpt_core import live_training as lt
    from gpt_core.training import make_splits

    text = (ROOT / "assets" / "corpus" / CORPORA[corpus]).read_text(encoding="utf-8")
    preset = lt.PRESETS[preset_name]
    tok = get_tokenizer(lt.TOKENIZER)
    splits = make_splits(text, tok, lt.VAL_FRACTION)  # made once per corpus on the page, not per run
    warm_up_libraries()
    base_kb = current_rss_kb()
    t0 = time.perf_counter()
    run = lt.LiveRun(splits, preset, preset.default_steps, tok, time_limit_s=1e9)  # evals, probes as the page has them
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
    p.add_argument("--steps", type=int, default=60, help="steps timed per preset and thread count (0: no table)")
    p.add_argument("--full", nargs="*", default=None, help="presets to time one whole default run of")
    p.add_argument("--corpus", choices=CORPORA, default="excerpt", help="text to train on")
    p.add_argument("--one", nargs=3, metavar=("PRESET", "THREADS", "FULL"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        name, threads, full = args.one
        print(json.dumps(measure(name, int(threads), args.steps, full == "1", args.corpus)))
        return

    from gpt_core import live_training as lt

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"corpus: {args.corpus}; cores: {os.cpu_count()}, load average: {load}")
    if args.steps:
        print(f"{'preset':8} {'params':>8} {'thr':>3} {'ms/step wall':>12} {'ms/step cpu':>11} {'tokens/s cpu':>12} "
              f"{'default steps':>13} {'≈ s (cpu)':>9} {'peak MB':>8} {'est. MB':>8}")
        for name, preset in lt.PRESETS.items():
            for threads in (1, 2):
                r = json.loads(subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--corpus",
                                               args.corpus, "--one", name, str(threads), "0"],
                                              capture_output=True, text=True, check=True).stdout)
                print(f"{name:8} {preset.n_params:>8,} {threads:>3} {r['ms_step_wall']:>12} {r['ms_step_cpu']:>11} "
                      f"{r['tokens_s_cpu']:>12,} {preset.default_steps:>13} "
                      f"{preset.default_steps * r['ms_step_cpu'] / 1000 + r['setup_s']:>9.0f} {r['peak_mb']:>8} "
                      f"{r['estimate_mb']:>8}")
    for name in args.full or []:
        r = json.loads(subprocess.run([sys.executable, __file__, "--corpus", args.corpus, "--one", name,
                                       str(lt.TRAIN_THREADS), "1"], capture_output=True, text=True, check=True).stdout)
        print(f"full default run of {name} on the {args.corpus}: {r['full_steps']} steps in {r['full_wall_s']} s wall "
              f"({r['full_cpu_s']} s cpu), validation loss {r['val_loss']:.3f}, best previous-token score "
              f"{r['best_previous']}, best induction score {r['best_induction']}")


if __name__ == "__main__":
    main()
