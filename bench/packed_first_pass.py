"""Pre-packed weights (gpt_core.model.Linear) in the app's own situation: a prompt of a length not seen before.

    python bench/packed_first_pass.py [--threads 2] [--lengths 10] [--shortest 64] [--step 11]

In the app almost every prompt is new: its forward pass runs once (then the prompt cache answers), often
at a length not seen before. A pre-packed multiply sets itself up for each new number of rows the first
time it meets it (oneDNN creates and compiles a kernel for the shape), which repeated timings of one
length, as in bench/hf_compare.py, never show. For the shipped model and for GPT-2 small's shape (random
weights: speed depends on the shape only), this times ``run_with_cache`` at ``--lengths`` prompt lengths
from ``--shortest`` on, each first at a length new to the process and then again, packed and plain, the
two taking turns on lengths of their own. Prints medians; tests never time anything.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpt_core import GPT, load_model  # noqa: E402
from gpt_core.config import PRESETS  # noqa: E402
from gpt_core.model import Linear  # noqa: E402


def set_packed(model: GPT, packs: dict | None) -> dict:
    """Put ``packs`` (or none) on the model's linear layers; the packs it had before."""
    layers = [m for m in model.modules() if isinstance(m, Linear)]
    before = {m: m._packed for m in layers}
    for m in layers:
        m._packed = packs.get(m) if packs else None
    return before


def timed(model: GPT, T: int, vocab: int) -> tuple[float, float]:
    """Seconds of the first and of a second run_with_cache over T random tokens."""
    idx = torch.randint(0, vocab, (1, T), generator=torch.Generator().manual_seed(T))
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        model.run_with_cache(idx)
        times.append(time.perf_counter() - t0)
    return times[0], times[1]


def compare(name: str, model: GPT, lengths: list[int]) -> None:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    n = model.pack_for_inference()
    if n == 0:
        print(f"{name}: this build of torch cannot pack (no oneDNN); nothing to compare")
        return
    packs = set_packed(model, None)
    vocab = model.config.vocab_size
    rows = {"packed": [], "plain": []}
    with torch.inference_mode():
        timed(model, lengths[0] - 1, vocab)  # warm-up of everything but the new-length set-up
        for T in lengths:
            set_packed(model, packs)
            rows["packed"].append(timed(model, T, vocab))
            set_packed(model, None)
            rows["plain"].append(timed(model, T + 1, vocab))  # a length of its own, equally new
    first = {k: statistics.median(a for a, _ in v) for k, v in rows.items()}
    again = {k: statistics.median(b for _, b in v) for k, v in rows.items()}
    print(f"\n{name}: {model.num_parameters():,} parameters, {n} linear layers; prompts of {lengths[0]} to "
          f"{lengths[-1] + 1} tokens, median of {len(lengths)}")
    print("   " + "".join(h.rjust(w) for h, w in zip(("", "first pass ms", "again ms"), (8, 16, 12), strict=True)))
    for k in ("plain", "packed"):
        print("   " + f"{k:>8}{first[k] * 1e3:16.1f}{again[k] * 1e3:12.1f}")
    print(f"   packed / plain: first pass {first['packed'] / first['plain']:.2f}, "
          f"again {again['packed'] / again['plain']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", type=int, default=10, help="how many prompt lengths")
    ap.add_argument("--shortest", type=int, default=64)
    ap.add_argument("--step", type=int, default=11, help="tokens between one length and the next")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    lengths = [args.shortest + i * args.step for i in range(args.lengths)]
    shipped = load_model("default", device="cpu").model
    compare("shipped model", shipped, [t for t in lengths if t + 1 <= shipped.config.block_size])
    torch.manual_seed(0)
    compare("GPT-2 small shape, random weights", GPT(PRESETS["gpt2"].config), lengths)
    print(f"\n(load average at the end: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
