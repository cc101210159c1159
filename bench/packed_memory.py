"""Memory a pre-packed model gathers as a server meets prompts of every length.

    python bench/packed_memory.py [--threads 1] [--shortest 4] [--longest 256] [--sweeps 2]
    ONEDNN_PRIMITIVE_CACHE_CAPACITY=1024 python bench/packed_memory.py   # oneDNN's own default

oneDNN compiles a kernel for every shape a pre-packed multiply meets (gpt_core.model.Linear) and keeps the
most recent ones with their buffers. The app keeps 64 (ui.state.configure_torch sets
ONEDNN_PRIMITIVE_CACHE_CAPACITY unless it is set already); this script does the same, so that the variable
given to it decides. On GPT-2 small's shape with random weights it runs a prompt's pass (as the app's
run_prompt: every activation, the last position's logits) at every length from --shortest to --longest,
--sweeps times, and prints the process's memory after each sweep and after glibc's malloc_trim (what is
still held, rather than freed but kept by the allocator for reuse). Prints figures; tests never time or
weigh anything.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ui.state import ONEDNN_CACHE_ENV, ONEDNN_CACHE_SHAPES  # noqa: E402

os.environ.setdefault(ONEDNN_CACHE_ENV, ONEDNN_CACHE_SHAPES)  # before oneDNN first runs, as the app does

import torch  # noqa: E402

from gpt_core import GPT  # noqa: E402
from gpt_core.config import PRESETS  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the app runs 1 per session)")
    ap.add_argument("--shortest", type=int, default=4)
    ap.add_argument("--longest", type=int, default=256)
    ap.add_argument("--sweeps", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT(PRESETS["gpt2"].config).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    packed = model.pack_for_inference()
    ids = torch.randint(0, model.config.vocab_size, (1, args.longest), generator=torch.Generator().manual_seed(0))
    model.run_with_cache(ids[:, : args.shortest], logits_for="last")
    start = rss_mb()
    print(f"torch {torch.__version__}, {args.threads} thread(s), {packed} packed layers, "
          f"{ONEDNN_CACHE_ENV}={os.environ[ONEDNN_CACHE_ENV]}; {start:.0f} MB after the first pass")
    for sweep in range(1, args.sweeps + 1):
        for T in range(args.shortest, args.longest + 1):
            model.run_with_cache(ids[:, :T], logits_for="last")
        print(f"   after sweep {sweep} over {args.shortest}-{args.longest} tokens: {rss_mb():.0f} MB "
              f"({rss_mb() - start:+.0f})")
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(f"   after malloc_trim: {rss_mb():.0f} MB ({rss_mb() - start:+.0f}: still held)")
    except OSError:
        print("   (no glibc here: malloc_trim not tried)")


if __name__ == "__main__":
    main()
