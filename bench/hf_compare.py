"""Our GPT against Hugging Face transformers' GPT2LMHeadModel on the same weights, side by side in one run.

    python bench/hf_compare.py [--threads N [N ...]] [--repeat 11] [--warmup 2] [--lengths 64 128 256]
                               [--new-tokens 64] [--memory-lengths 64 128 256 1024]

Both models hold the same random weights at GPT-2 small's shape (124M parameters; speed depends on
the shape, not on the values, so nothing is downloaded): transformers builds a seeded model, saves it,
and gpt_core.weights imports that folder exactly as it imports real GPT-2 weights. Prints figures
only (tests never time anything):

1. the machine's float32 matrix-multiply rate (a large torch.matmul at the same thread count);
2. a forward pass with every activation captured, ours (``run_with_cache``, the path the app's
   PromptRun takes) against transformers' eager attention with ``output_attentions`` and
   ``output_hidden_states``, and both against the time the pass's matrix-multiply FLOPs need at
   that rate (targets: ours at most 1.0x transformers, at most 1.5x the FLOP time);
3. greedy generation with the KV cache, ours (``gpt_core.generate``) against ``generate``
   (target: ours at least as fast; both must produce the same tokens);
4. the memory the captured activations hold per prompt token.

Timings are wall-clock medians of ``--repeat`` runs after ``--warmup`` runs, ours and theirs taking
turns, under ``torch.inference_mode``; sections 1 to 3 run once per ``--threads`` value. Run it on an
otherwise idle machine (the load average is printed). Needs transformers (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpt_core import GPT, GPTConfig, generate, load_hf_folder  # noqa: E402
from gpt_core.cache import RECOMPUTED  # noqa: E402
from gpt_core.model import PACKED_MIN_ROWS, Linear  # noqa: E402

SEED = 0
MATMUL_N = 2048  # large enough that the rate no longer grows with the size
TARGET_VS_HF = 1.0
TARGET_VS_FLOPS = 1.5
PROMPT_LEN = 16  # generation starts from this many tokens


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def medians(fns: list, repeat: int, warmup: int) -> list[float]:
    """Median seconds of each function, timed in turn (a b c, b c a, c a b, ...) so that any load on the
    machine falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeat):
        for j in range(len(fns)):
            which = (r + j) % len(fns)
            gc.collect()
            t0 = time.perf_counter()
            fns[which]()
            times[which].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def matmul(n: int):
    """A float32 (n, n) @ (n, n) torch.matmul to time, and its FLOPs (2 n³)."""
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    return (lambda: torch.matmul(a, b, out=out)), 2 * n**3


def read_bandwidth() -> float:
    """GB/s of reading a 500 MB float32 tensor (torch.sum), best of 5."""
    x = torch.ones(125_000_000)
    x.sum()
    best = min(timed(x.sum) for _ in range(5))
    del x
    return 0.5 / best


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def forward_flops(cfg: GPTConfig, T: int) -> dict[str, int]:
    """Matrix-multiply FLOPs (2 per multiply-add) of one forward pass over T tokens, batch 1.

    Attention is counted as computed: every (query, key) pair, the masked ones too.
    """
    C, L, V, M = cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.d_mlp
    return {
        "QKV": L * 2 * T * C * 3 * C,
        "scores QKᵀ": L * 2 * T * T * C,  # n_head × T × T × d_head multiply-adds
        "pattern·V": L * 2 * T * T * C,
        "projection": L * 2 * T * C * C,
        "MLP": L * 2 * (2 * T * C * M),
        "unembedding": 2 * T * C * V,
    }


def build_models() -> tuple[object, GPT]:
    """(transformers GPT2LMHeadModel, our GPT) with the same seeded random weights at GPT-2 small's shape."""
    import transformers

    torch.manual_seed(SEED)
    config = transformers.GPT2Config(attn_implementation="eager")  # GPT-2 small: 12 layers, 768 wide
    hf = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # move every parameter (biases and LayerNorms too) off its initial value
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    with tempfile.TemporaryDirectory() as folder:
        hf.save_pretrained(folder)
        ours = load_hf_folder(folder).eval()  # the import real GPT-2 weights go through
    for p in ours.parameters():
        p.requires_grad_(False)
    ours.pack_for_inference()  # as load_model does for a CPU model of this size (GPT_EXPLAINER_PACK_MB)
    return hf, ours


def multiplies_in_order(model: GPT) -> list[Linear]:
    """Every weight matrix a forward pass multiplies by, in the order it does: per block Q/K/V, the attention
    output projection, the MLP's two layers; then the unembedding."""
    layers = []
    for block in model.transformer.h:
        layers += [block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj]
    return layers + [model.lm_head]


def random_ids(T: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, (1, T), generator=torch.Generator().manual_seed(T))


def forward_section(hf, ours: GPT, lengths: list[int], repeat: int, warmup: int, rate_alone: float,
                    read: float) -> list[dict]:
    """Per length: ours, transformers, the matmul of the rate and our plain forward, timed in turn.

    The ideal uses the higher of the matmul's rate timed alone and timed between the passes: the
    strictest of the two. ``read``: seconds to read every weight once at the measured bandwidth."""
    cfg = ours.config
    mm, mm_flops = matmul(MATMUL_N)
    rows = []
    for T in lengths:
        idx = random_ids(T, cfg.vocab_size)

        def theirs(idx=idx):
            return hf(idx, output_attentions=True, output_hidden_states=True, use_cache=False)

        def mine(idx=idx):
            return ours.run_with_cache(idx)

        def plain(idx=idx):
            return ours(idx)

        layers = multiplies_in_order(ours)
        inputs = [torch.randn(1, T, lin.in_features, generator=torch.Generator().manual_seed(i))
                  for i, lin in enumerate(layers)]

        def multiplies(layers=layers, inputs=inputs):  # the pass's weight multiplies alone, in its order
            for lin, x in zip(layers, inputs, strict=True):
                lin(x)

        with torch.inference_mode():
            t_ours, t_hf, t_mm, t_plain, t_lin = medians([mine, theirs, mm, plain, multiplies], repeat, warmup)
            out, (logits, cache) = theirs(), mine()
        d_logits = (logits - out.logits).abs().max().item()
        d_pattern = max((cache.pattern(i) - a[0]).abs().max().item() for i, a in enumerate(out.attentions))
        flops = forward_flops(cfg, T)
        rate = max(rate_alone, mm_flops / t_mm / 1e9)
        ideal = sum(flops.values()) / (rate * 1e9)
        lin_flops = sum(2 * T * lin.in_features * lin.out_features for lin in layers)
        rows.append(dict(T=T, flops=flops, rate=rate, ideal=ideal, ours=t_ours, hf=t_hf, plain=t_plain,
                         d_logits=d_logits, d_pattern=d_pattern, read=read, lin=t_lin,
                         lin_ideal=lin_flops / (rate * 1e9)))
    return rows


def print_forward(rows: list[dict]) -> None:
    print("\n2. Forward pass with every activation captured (batch 1, float32)")
    print("   ours: GPT.run_with_cache (every named activation, as the app's PromptRun);")
    print("   transformers: eager attention, output_attentions=True, output_hidden_states=True, use_cache=False")
    print(f"   ideal: the pass's matrix-multiply FLOPs at the rate (GFLOP/s) of a {MATMUL_N}×{MATMUL_N} float32"
          " torch.matmul, the higher of its rate")
    print("   timed alone (section 1) and timed in turn with these passes\n")
    print("   matrix-multiply GFLOP per pass:")
    names = list(rows[0]["flops"])
    print("   " + "tokens".rjust(6) + "".join(n.rjust(13) for n in names) + "total".rjust(10))
    for r in rows:
        f = r["flops"]
        print("   " + f"{r['T']:6d}" + "".join(f"{f[n] / 1e9:13.3f}" for n in names)
              + f"{sum(f.values()) / 1e9:10.2f}")
    print()
    head = ("tokens", "GFLOP/s", "ideal ms", "ours ms", "HF ms", "ours/HF", "ours/ideal", "HF/ideal",
            "no-capture ms", "max|Δlogit|", "max|Δpattern|")
    widths = (6, 9, 10, 9, 9, 9, 12, 10, 15, 13, 15)
    print("   " + "".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("   " + f"{r['T']:6d}{r['rate']:9.1f}{r['ideal'] * 1e3:10.1f}{r['ours'] * 1e3:9.1f}{r['hf'] * 1e3:9.1f}"
              f"{r['ours'] / r['hf']:9.2f}{r['ours'] / r['ideal']:12.2f}{r['hf'] / r['ideal']:10.2f}"
              f"{r['plain'] * 1e3:15.1f}{r['d_logits']:13.1e}{r['d_pattern']:15.1e}")
    print("   (no-capture: our plain forward, fused attention, nothing kept; Δ: ours minus transformers' outputs)")
    print("\n   the same against the FLOP time plus one read of every weight at the measured bandwidth")
    print("   (the time a pass needs if reading the weights from memory does not overlap the arithmetic), and the")
    print("   pass's weight multiplies alone (our 49 linear layers, one after another as in a pass, on inputs of the")
    print("   pass's shapes, no other operation; their share of the ideal is the ideal less QKᵀ and pattern·V):")
    head = ("tokens", "ideal + read ms", "ours / that", "HF / that", "multiplies ms", "÷ their ideal",
            "ours less them ms", "1.5×ideal less them ms")
    widths = (6, 17, 13, 11, 15, 15, 19, 24)
    print("   " + "".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        floor = r["ideal"] + r["read"]
        print("   " + f"{r['T']:6d}{floor * 1e3:17.1f}{r['ours'] / floor:13.2f}{r['hf'] / floor:11.2f}"
              f"{r['lin'] * 1e3:15.1f}{r['lin'] / r['lin_ideal']:15.2f}{(r['ours'] - r['lin']) * 1e3:19.1f}"
              f"{(TARGET_VS_FLOPS * r['ideal'] - r['lin']) * 1e3:24.1f}")
    print(f"   (ours less them: the time our pass spends outside those multiplies; {TARGET_VS_FLOPS}×ideal less them:")
    print("   what the target leaves for it)")


def generation_section(hf, ours: GPT, n: int, repeat: int, warmup: int) -> dict:
    ids = random_ids(PROMPT_LEN, ours.config.vocab_size)[0].tolist()
    idx = torch.tensor([ids])
    mask = torch.ones_like(idx)

    def theirs() -> list[int]:
        # eos_token_id=None: run all n steps without touching the logits (min_new_tokens would mask EOS)
        out = hf.generate(idx, attention_mask=mask, max_new_tokens=n, do_sample=False, use_cache=True,
                          eos_token_id=None, pad_token_id=0)
        return out[0, len(ids):].tolist()

    def mine() -> list[int]:
        return generate(ours, ids, n, temperature=0, use_kv_cache=True)

    with torch.inference_mode():
        t_ours, t_hf = medians([mine, theirs], repeat, warmup)
        a, b = mine(), theirs()
    return dict(n=n, ours=t_ours, hf=t_hf, same=a == b, n_ours=len(a), n_hf=len(b))


def print_generation(g: dict) -> None:
    n = g["n"]
    print(f"\n3. Greedy generation, {PROMPT_LEN}-token prompt, {n} new tokens, KV cache")
    print("   ours: gpt_core.generate(temperature=0) (each step also builds the full distribution the"
          " Generation page shows)")
    print("   transformers: generate(do_sample=False, use_cache=True)\n")
    print(f"   ours          {g['ours'] * 1e3:8.1f} ms   {n / g['ours']:6.1f} tokens/s")
    print(f"   transformers  {g['hf'] * 1e3:8.1f} ms   {n / g['hf']:6.1f} tokens/s")
    print(f"   ours / transformers time: {g['ours'] / g['hf']:.2f}")
    same = "yes" if g["same"] else f"NO ({g['n_ours']} vs {g['n_hf']} tokens)"
    print(f"   same {n} tokens from both: {same}")


def memory_rows(ours: GPT, lengths: list[int]) -> list[dict]:
    rows = []
    for T in lengths:
        if T > ours.config.block_size:
            continue
        _, cache = ours.run_with_cache(random_ids(T, ours.config.vocab_size))
        recomputed = [n for n in cache if n not in set(cache.stored())]
        t0 = time.perf_counter()
        extra = sum(cache[n].numel() * cache[n].element_size() for n in recomputed)
        t_recompute = (time.perf_counter() - t0) / max(1, cache.n_layer)
        held = cache.nbytes()
        pattern = sum(cache.pattern(i).numel() * 4 for i in range(cache.n_layer))
        rows.append(dict(T=T, held=held, before=held + extra, pattern=pattern, recompute=t_recompute))
        del cache
        gc.collect()
    return rows


def print_memory(rows: list[dict], cfg: GPTConfig) -> None:
    print("\n4. Memory of the captured activations (an ActivationCache as the app's PromptRun holds it)")
    print("   held: each kept tensor's storage counted once (q, k and v share one). Recomputed exactly when read,")
    print("   from kept tensors (and each LayerNorm's γ, β, ε), not kept: " + ", ".join(RECOMPUTED) + ".")
    print("   'all kept': the bytes if those were kept too, as before (every named activation stored).\n")
    head = ("tokens", "held MB", "KB/token", "patterns MB", "all kept MB", "KB/token", "saved", "recompute ms/layer")
    print("   " + "".join(h.rjust(w) for h, w in zip(head, (6, 10, 10, 13, 13, 10, 8, 20), strict=True)))
    for r in rows:
        print("   " + f"{r['T']:6d}{r['held'] / 1e6:10.1f}{r['held'] / r['T'] / 1e3:10.1f}{r['pattern'] / 1e6:13.1f}"
              f"{r['before'] / 1e6:13.1f}{r['before'] / r['T'] / 1e3:10.1f}{1 - r['held'] / r['before']:8.0%}"
              f"{r['recompute'] * 1e3:20.1f}")
    print("   (recompute: reading all the recomputed activations of one layer once, on this machine)")
    print(f"   (patterns: {cfg.n_layer} layers × {cfg.n_head} heads × tokens² × 4 bytes, kept in float32 so the"
          " numbers on screen are the model's own to 7 digits)")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(results: dict[int, tuple[list[dict], dict | None]]) -> None:
    print("\nTargets: ours/HF ≤ 1.0 and ours/ideal ≤ 1.5 (forward with capture); ours/HF ≤ 1.0 (generation)")
    for threads, (rows, g) in results.items():
        for r in rows:
            vs_hf, vs_ideal = r["ours"] / r["hf"], r["ours"] / r["ideal"]
            print(f"   {threads} thread(s), {r['T']:4d} tokens: ours/HF {vs_hf:.2f} {verdict(vs_hf <= TARGET_VS_HF)}, "
                  f"ours/ideal {vs_ideal:.2f} {verdict(vs_ideal <= TARGET_VS_FLOPS)}")
        if g is not None:
            ratio = g["ours"] / g["hf"]
            print(f"   {threads} thread(s), generation: ours/HF {ratio:.2f} {verdict(ratio <= 1.0)}, "
                  f"same tokens: {'yes' if g['same'] else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="torch CPU threads for both models; several values run everything once per value "
                         "(default: torch's choice)")
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--memory-lengths", type=int, nargs="+", default=[64, 128, 256, 1024])
    ap.add_argument("--skip", nargs="*", default=[], choices=["forward", "generation", "memory"])
    args = ap.parse_args()
    try:
        import transformers
    except ImportError:
        sys.exit("transformers is needed for this comparison: pip install -r requirements-dev.txt")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}")
    print(f"{cpu_name()}, {os.cpu_count()} cores; float32; batch 1; load average {os.getloadavg()[0]:.2f}")
    hf, ours = build_models()
    cfg = ours.config
    print(f"GPT-2 small shape, random weights (seed {SEED}): {cfg.n_layer} layers, {cfg.n_head} heads, "
          f"d_model {cfg.n_embd}, vocab {cfg.vocab_size:,}, {ours.num_parameters():,} parameters; "
          f"transformers attention: {hf.config._attn_implementation}")
    packed = sum(m._packed is not None for m in ours.modules() if isinstance(m, Linear))
    print(f"ours: {packed} linear layers use pre-packed weights from {PACKED_MIN_ROWS} tokens on, as the app's "
          "load_model sets them up (gpt_core.model.Linear)")
    weights = sum(p.numel() * p.element_size() for p in ours.parameters())

    results = {}
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        print(f"\n======== {torch.get_num_threads()} torch thread(s), the same for both models ========")
        mm, mm_flops = matmul(MATMUL_N)
        (t_mm,) = medians([mm], max(5, args.repeat), 2)
        rate_alone = mm_flops / t_mm / 1e9
        print(f"\n1. Matrix-multiply rate: torch.matmul ({MATMUL_N}×{MATMUL_N}) @ ({MATMUL_N}×{MATMUL_N}), float32: "
              f"{rate_alone:.1f} GFLOP/s (timed alone; section 2 times it again between the passes)")
        bandwidth = read_bandwidth()
        print(f"   Memory read bandwidth (sum of a 500 MB tensor): {bandwidth:.1f} GB/s; a forward pass reads all "
              f"{weights / 1e6:.0f} MB of weights at least once: {weights / bandwidth / 1e6:.1f} ms at any length")
        rows, g = [], None
        if "forward" not in args.skip:
            read = weights / bandwidth / 1e9
            rows = forward_section(hf, ours, args.lengths, args.repeat, args.warmup, rate_alone, read)
            print_forward(rows)
        if "generation" not in args.skip:
            g = generation_section(hf, ours, args.new_tokens, max(5, args.repeat // 2), 1)
            print_generation(g)
        results[threads] = (rows, g)
    if "memory" not in args.skip:
        print_memory(memory_rows(ours, args.memory_lengths), cfg)
    summary(results)
    print(f"(load average at the end: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
