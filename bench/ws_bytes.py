"""Websocket bytes per page: what one page run sends a browser, for a 128-token prompt.

    python bench/ws_bytes.py [--model gpt2-small-random|default|tiny|FOLDER] [--tokens 128] [--pages a,b]

Starts the app server (headless, a free loopback port), opens one websocket session as
bench/stclient.py speaks it, types a prompt of exactly --tokens tokens (a passage of the corpus,
counted with the model's tokenizer) and visits every page of the app (or --pages), each once. For
each page run it prints the sum of the ForwardMsg sizes (the bytes the websocket carries before
compression; target: at most 2 MB), the same messages deflated one by one (roughly the wire size with
the compression browsers negotiate), the number of messages, and the element types that weigh most.
By default the model is GPT-2-small-shaped with random weights (12 layers × 12 heads, d_model 768,
GPT-2's tokenizer), saved under /tmp with gpt_core; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: `python bench/ws_bytes.py`

from bench.load_test import model_folder  # noqa: E402
from bench.stclient import AppServer, PageRun, Session  # noqa: E402

LIMIT = 2_000_000


def prompt_of(tokenizer, n: int) -> str:
    """Corpus text that encodes to exactly ``n`` tokens (or as near as the tokenizer allows, never more)."""
    corpus = (ROOT / "assets/corpus/shakespeare.txt").read_text(encoding="utf-8")
    start = corpus.index("ACT I.")  # past the title page and the list of persons
    text = tokenizer.decode(tokenizer.encode(corpus[start:start + 40 * n])[:n])
    while len(tokenizer.encode(text)) > n:
        text = text[:-1]
    return text


async def visit(ws_url: str, prompt: str, pages: list[str] | None, timeout: float) -> list[PageRun]:
    tab = Session(ws_url, measure_deflate=True)
    try:
        opened = await tab.run_page("", timeout, label="home (default prompt)")
        if tab.prompt_id is None:
            raise RuntimeError(f"the sidebar prompt was not drawn: {opened.errors}")
        tab.type_prompt(prompt)
        runs = [opened]
        for page in pages if pages is not None else tab.page_paths:
            runs.append(await tab.run_page(page, timeout))
        return runs
    finally:
        await tab.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gpt2-small-random",
                    help="gpt2-small-random (default), default (the shipped model), tiny, or a checkpoint folder")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--pages", help="URL paths of the pages, comma-separated (default: every page of the app)")
    ap.add_argument("--page-timeout", type=float, default=300.0)
    ap.add_argument("--log", type=Path, help="write the server's output here")
    args = ap.parse_args()

    import gpt_core

    folder = model_folder(args.model)
    tokenizer = gpt_core.load_model(folder or "default", device="cpu").tokenizer
    prompt = prompt_of(tokenizer, args.tokens)
    n_tokens = len(tokenizer.encode(prompt))
    pages = [p.strip() for p in args.pages.split(",")] if args.pages else None
    env = {"GPT_EXPLAINER_DEFAULT_MODEL": folder} if folder else {}
    try:
        with AppServer(env, log=args.log) as server:
            runs = asyncio.run(visit(server.ws_url, prompt, pages, args.page_timeout))
    except RuntimeError as e:  # the server did not start, or the app did not open
        sys.exit(f"stopped: {e}")

    print(f"\nmodel: {args.model}; prompt: {n_tokens} tokens, {len(prompt)} characters")
    print(f"  {'page':<22}{'MB sent':>9}{'MB deflated':>13}{'messages':>10}{'seconds':>9}  heaviest elements")
    for r in runs:
        heavy = sorted(r.element_bytes.items(), key=lambda kv: -kv[1])[:3]
        flag = "" if r.bytes <= LIMIT else "  OVER 2 MB"
        print(f"  {r.label:<22}{r.bytes / 1e6:>9.3f}{r.deflated / 1e6:>13.3f}{r.messages:>10}{r.seconds:>9.1f}  "
              + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in heavy) + flag)
        for e in r.errors:
            print(f"    error: {e}")
    ok = all(r.ok and r.got_page and r.bytes <= LIMIT for r in runs)
    print(f"every page at most {LIMIT / 1e6:.0f} MB, without errors: {'yes' if ok else 'NO'}")
    print(json.dumps({"model": args.model, "tokens": n_tokens, "within_limit": ok,
                      "pages": {r.label: {"bytes": r.bytes, "deflated": r.deflated, "errors": r.errors}
                                for r in runs}}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
