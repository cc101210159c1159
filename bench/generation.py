"""Generation speed: tokens per second with and without the KV cache, the Generation page's step,
and Hugging Face transformers' ``generate`` on the same GPT-2-small-shaped weights.

    python bench/generation.py [--model assets/models/default] [--tokens 50] [--threads 2] [--no-gpt2]

Prints figures only (tests never time anything). The default model is used when it exists;
otherwise a randomly initialised model of the same shape stands in (speed depends on the shape,
not on the values). GPT-2 small is random too, so nothing is downloaded; transformers is an
optional bench dependency (requirements-dev.txt): without it, our own figures are still printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpt_core import GPT, GPTConfig, generate, load_hf_folder, load_model  # noqa: E402
from gpt_core.timeline import Limits, Settings, Timeline  # noqa: E402

DEFAULT_SHAPE = GPTConfig(n_layer=4, n_head=8, n_embd=256, block_size=256, vocab_size=1024)
PROMPT_LEN = 16


def best_seconds(fn, repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def prompt_ids(vocab: int) -> list[int]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, vocab - 1, (PROMPT_LEN,), generator=g).tolist()


def ours(model: GPT, n: int, repeat: int) -> dict[str, float]:
    """Tokens per second of greedy generation with the cache, without it, and through the page's Timeline."""
    ids = prompt_ids(model.config.vocab_size)
    cached = best_seconds(lambda: generate(model, ids, n, temperature=0, use_kv_cache=True), repeat)
    uncached = best_seconds(lambda: generate(model, ids, n, temperature=0, use_kv_cache=False), repeat)

    def page_path() -> None:
        tl = Timeline(ids, model.config.block_size)
        for _ in tl.generate(model, Settings(temperature=0), Limits(n), n):
            pass
        tl.look(model)  # the page also reads the next choice's logits, attention row and residual

    timeline = best_seconds(page_path, repeat)
    return {"cached": n / cached, "uncached": n / uncached, "timeline": n / timeline}


def report(name: str, r: dict[str, float], n: int) -> None:
    print(f"{name}: greedy, {PROMPT_LEN}-token prompt, {n} new tokens")
    print(f"  with KV cache     {r['cached']:8.1f} tokens/s  ({1000 / r['cached']:6.1f} ms/token)")
    print(f"  without KV cache  {r['uncached']:8.1f} tokens/s  ({1000 / r['uncached']:6.1f} ms/token)"
          f"   cache speed-up x{r['cached'] / r['uncached']:.2f}")
    print(f"  page's Timeline   {r['timeline']:8.1f} tokens/s  ({1000 / r['timeline']:6.1f} ms/token, captures the"
          " newest position's attention and residual at every step)")


def hf_comparison(n: int, repeat: int) -> None:
    """GPT-2 small shape, random weights: ours vs transformers' generate on exactly the same weights."""
    try:
        import transformers
    except ImportError:
        print("transformers is not installed (pip install -r requirements-dev.txt): no comparison with "
              "Hugging Face's generate; our GPT-2-small figures follow.")
        transformers = None
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        if transformers is not None:
            hf = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
            hf.save_pretrained(tmp, safe_serialization=True)
            model = load_hf_folder(tmp).eval()  # the same weights, converted by gpt_core.weights
        else:
            hf, model = None, GPT(GPTConfig()).eval()
    r = ours(model, n, repeat)
    report("GPT-2 small shape (124M, random weights)", r, n)
    if hf is None:
        return
    ids = prompt_ids(model.config.vocab_size)
    idx = torch.tensor([ids])
    mask = torch.ones_like(idx)

    def hf_generate(use_cache: bool) -> list[int]:
        with torch.no_grad():
            out = hf.generate(idx, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                              use_cache=use_cache, pad_token_id=hf.config.eos_token_id)
        return out[0, len(ids):].tolist()

    same = hf_generate(True) == generate(model, ids, n, temperature=0)
    hf_cached = n / best_seconds(lambda: hf_generate(True), repeat)
    hf_uncached = n / best_seconds(lambda: hf_generate(False), repeat)
    print(f"  transformers {transformers.__version__} generate, with cache    {hf_cached:8.1f} tokens/s   "
          f"ours / theirs = {r['cached'] / hf_cached:.2f}")
    print(f"  transformers {transformers.__version__} generate, without cache {hf_uncached:8.1f} tokens/s   "
          f"ours / theirs = {r['uncached'] / hf_uncached:.2f}")
    print(f"  same greedy tokens from both on the same weights: {'yes' if same else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "assets/models/default"))
    ap.add_argument("--tokens", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-gpt2", action="store_true", help="skip the GPT-2-small-shaped comparison")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    if Path(args.model).is_dir():
        bundle = load_model(args.model, device="cpu")
        model, name = bundle.model, bundle.info.name
    else:
        torch.manual_seed(0)
        model, name = GPT(DEFAULT_SHAPE).eval(), "default model shape (no checkpoint found; random weights)"
    cfg = model.config
    report(f"{name} ({cfg.n_layer} layers, d_model {cfg.n_embd}, vocab {cfg.vocab_size:,})",
           ours(model, args.tokens, args.repeat), args.tokens)
    if not args.no_gpt2:
        print()
        hf_comparison(args.tokens, args.repeat)


if __name__ == "__main__":
    main()
