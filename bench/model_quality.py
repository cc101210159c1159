"""Measure the shipped default model against its targets and print the figures.

    python bench/model_quality.py [--model assets/models/default]

Targets: held-out loss at most 1.6 nats/char; a previous-token head scoring 0.9 or more and an
induction head scoring 0.5 or more; samples that read as play text; checkpoint at most 25 MB;
loading in under 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpt_core import generate, load_model  # noqa: E402
from gpt_core.analysis import head_scores  # noqa: E402
from gpt_core.training import heldout_loss, make_splits  # noqa: E402

LOAD = "import time; t=time.perf_counter(); import gpt_core; gpt_core.load_model({!r}, device='cpu'); " \
       "print(time.perf_counter()-t)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "assets/models/default"))
    ap.add_argument("--samples", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    bundle = load_model(args.model, device="cpu")
    meta, tok, model = bundle.info.meta, bundle.tokenizer, bundle.model
    print(f"model: {bundle.info.name}, {bundle.info.n_params:,} parameters, tokenizer {tok.name}")

    corpus = ROOT / "assets/corpus" / meta.get("corpus", "shakespeare.txt")
    text = corpus.read_text(encoding="utf-8")
    _, val = make_splits(text, tok, float(meta.get("val_fraction", 0.1)))
    loss = heldout_loss(model, val)
    npc = loss / val.chars_per_token
    print(f"held-out: {val.n_chars:,} characters, {val.ids.numel():,} tokens, {val.chars_per_token:.3f} chars/token")
    print(f"held-out loss: {loss:.4f} nats/token = {npc:.4f} nats/char (target <= 1.6) "
          f"{'OK' if npc <= 1.6 else 'MISSED'}")

    scores = head_scores(model, n=100, seed=0)
    for name, s in (("previous-token", scores.previous_token), ("induction", scores.induction)):
        layer, head = divmod(int(s.argmax()), s.shape[1])
        target = 0.9 if name == "previous-token" else 0.5
        print(f"best {name} head: L{layer}H{head} = {float(s.max()):.3f} (target >= {target}) "
              f"{'OK' if float(s.max()) >= target else 'MISSED'}")

    size = sum(f.stat().st_size for f in Path(bundle.info.source).iterdir() if f.is_file())
    print(f"checkpoint size: {size / 1e6:.1f} MB (target <= 25 MB) {'OK' if size <= 25e6 else 'MISSED'}")
    times = [float(subprocess.check_output([sys.executable, "-c", LOAD.format(args.model)], cwd=ROOT, text=True))
             for _ in range(5)]
    med = statistics.median(times)
    print(f"load time (fresh process, import included), median of 5: {med:.2f} s (target < 2 s) "
          f"{'OK' if med < 2 else 'MISSED'}")

    for i, prompt in enumerate(["KING.\n", "ROMEO.\nBut soft, what light", "HAMLET.\n"][: args.samples]):
        ids = tok.encode(prompt)
        out = generate(model, ids, 120, temperature=0.8, top_k=40, seed=i, eot_token=tok.eot_token)
        print(f"\n--- sample {i + 1} (temperature 0.8, top-k 40, seed {i}) ---\n{tok.decode(ids + out)}")


if __name__ == "__main__":
    main()
