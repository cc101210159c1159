"""Time what the Tokens page computes for a long text, and print the figures.

    python bench/tokens_page.py [--chars 100000] [--runs 5]

Target: the page's data (four encodings, bytes and split characters, three pre-tokenizations) and
its chip HTML for a 100,000-character text in well under a second on a 2-core CPU, so the page
renders within a second or two. The text mixes Shakespeare with Chinese and emoji. The CSV is
built only when the user clicks Download; its time is printed separately. Tokenizer loading
(once per process) is printed apart from the runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpt_core import tokenlab  # noqa: E402
from gpt_core.tokenizer import get_tokenizer  # noqa: E402
from viz import tokenlab as vt  # noqa: E402


def timed(fn, runs: int) -> tuple[float, object]:
    """Median seconds of ``runs`` calls of ``fn``, and its last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    corpus = (ROOT / "assets/corpus/shakespeare.txt").read_text(encoding="utf-8")
    mixed = "你好，世界！语言模型把文字切成词元。🙂👍🏽 Café naïve\n"
    text = ""
    while len(text) < args.chars:
        text += corpus[len(text) % len(corpus):][:5_000] + mixed
    text = text[: args.chars]

    start = time.perf_counter()
    model_tok = get_tokenizer("shakespeare_bpe")
    toks = tokenlab.lab_tokenizers(model_tok)
    print(f"load tokenizers (once per process): {time.perf_counter() - start:.2f} s")

    seconds, data = timed(lambda: tokenlab.build_lab(text, model_tok), args.runs)
    print(f"page data for {len(text):,} characters: {seconds * 1000:.0f} ms (median of {args.runs})")
    for e in data.comparison.encodings:
        print(f"  {e.name:16s} {e.n_tokens:>8,} tokens, {e.n_partial:>6,} partial, {len(e.tokens):,} shown")

    headers = [e.name for e in data.comparison.encodings]
    seconds, body = timed(lambda: vt.comparison_html(data.comparison.encodings, headers, True, True), args.runs)
    chunks = vt.chunks_html(data.chunkings, [c.pattern[:10] for c in data.chunkings])
    print(f"chip HTML (ids and bytes on): {seconds * 1000:.0f} ms, {len(body) + len(chunks):,} characters")

    seconds, _ = timed(lambda: tokenlab.replay_bpe(toks[-1], "antidisestablishmentarianism, 你好🙂"), args.runs)
    print(f"BPE replay of one span: {seconds * 1000:.1f} ms")
    seconds, table = timed(lambda: tokenlab.token_table_csv(data.clean.text, toks), max(1, args.runs // 2))
    print(f"CSV on Download: {seconds * 1000:.0f} ms, {len(table) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
