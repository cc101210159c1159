"""How long each interaction on the Embeddings page takes to redraw; prints medians in milliseconds.

    python bench/embeddings_page.py [--model assets/models/default] [--repeat 7] [--no-apptest] [--no-gpt2]

Three measurements:
1. Per control: the gpt_core + viz calls the page makes when that control changes, including the figure's
   JSON encoding (what Streamlit sends to the browser), on the default model.
2. Per control: a whole rerun of the page through Streamlit's AppTest (the script, every section, every
   figure), on the default model. The real app reruns only the section (st.fragment) the control is in,
   so this is an upper bound.
3. A model of GPT-2 small's shape (random weights: only the shapes matter for speed): nearest neighbours over
   50,257 tokens, the lookup heatmap, position similarity and position PCA.

When the default model folder is missing, a randomly initialised model of the default shape (4 layers,
8 heads, d_model 256, context 256, the 1,024-token Shakespeare BPE) stands in, and the output says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gpt_core import GPT, GPTConfig, get_tokenizer, load_model, save_checkpoint  # noqa: E402
from gpt_core import embeddings as emb  # noqa: E402
from gpt_core.loading import ModelBundle  # noqa: E402
from gpt_core.prompt import run_prompt  # noqa: E402
from viz import embeddings as ev  # noqa: E402

PROMPT = "ROMEO.\nBut soft, what light through yonder window breaks?"
DEFAULT_SHAPE = GPTConfig(n_layer=4, n_head=8, n_embd=256, block_size=256, vocab_size=1024)
BUDGET_MS = 1000


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (first-call allocations, lazy imports)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def report(name: str, ms: float) -> None:
    print(f"  {name:<58} {ms:8.1f} ms  {'ok' if ms < BUDGET_MS else 'OVER 1 s'}")


def default_folder(path: str) -> tuple[str, str]:
    """The model folder to measure, and how to describe it."""
    if Path(path).is_dir():
        return path, f"{path}"
    torch.manual_seed(0)
    folder = save_checkpoint(GPT(DEFAULT_SHAPE), Path(tempfile.mkdtemp()) / "default_shape", "shakespeare_bpe",
                             {"name": "random model of the default shape"})
    return str(folder), f"{path} is missing: a random model of the default shape stands in"


def functions(bundle: ModelBundle, prompt: str, repeat: int) -> None:
    """Time the calls each control triggers, figure encoding included."""
    model, tok, cfg = bundle.model, bundle.tokenizer, bundle.model.config
    run = run_prompt(bundle, prompt)
    labels = [emb.token_label(tok, i) for i in run.ids]
    T = len(run.ids)
    index = emb.EmbeddingIndex.for_model(model, tok)
    components = emb.position_components(model, 3)

    def lookup(n: int, first: int = 0) -> None:
        look = emb.embedding_lookup(model, run.ids, 0, min(T, 64))
        ev.lookup_heatmap(look.token_rows, look.pos_rows, labels[: min(T, 64)], 0, first, first + n).to_json()
        look.max_error(run.cache)
        ev.matrix_csv(look.total[:, first:first + n], labels[: min(T, 64)], list(range(first, first + n)))

    def neighbours(token: int, k: int = 10) -> None:
        found = emb.nearest_neighbours(index, tok, token, k)
        ev.neighbour_bars([n.label for n in found], [n.cosine for n in found], emb.token_label(tok, token)).to_json()

    def token_map(words: str) -> None:
        tm = emb.token_map(model, tok, run.ids, words.split(","))
        ev.pca_scatter(tm.projection.coords, tm.labels, tm.groups, tm.projection.explained, tm.words).to_json()

    def positions(lo: int, hi: int) -> None:
        pos = emb.sampled_positions(lo, hi + 1, 128)
        sim = emb.position_similarity(model, pos)
        ev.similarity_heatmap(sim, pos).to_json()
        ev.components_plot(components.coords, components.explained).to_json()

    def layernorm(where: str, pos: int) -> None:
        s = emb.layernorm_steps(model, run.cache, where, pos)
        ev.layernorm_figure(s.x, s.normalized, s.y, s.mean, s.std, 0, 32).to_json()
        ev.layernorm_rows(s.x, s.centered, s.normalized, s.gamma, s.beta, s.y, s.reference, 0, 32)

    def residual(log: bool, who: int | None) -> None:
        r = emb.residual_norms(run.cache)
        ev.residual_heatmap(r.resid[:, :64], labels[:64], 0, log).to_json()
        ev.contribution_bars(*r.of_token(who)).to_json()

    words = ", ".join(emb.default_reference_words(tok))
    d = cfg.n_embd
    report("prompt run (forward pass with cache, cached per prompt)", median_ms(lambda: run_prompt(bundle, prompt),
                                                                                repeat))
    report("vocabulary index (built once per model)", median_ms(lambda: emb.EmbeddingIndex.for_model(model, tok),
                                                                repeat))
    report("position PCA (computed once per model)", median_ms(lambda: emb.position_components(model, 3), repeat))
    for n in (8, 32, min(128, d)):
        report(f"lookup: show {n} dimensions", median_ms(lambda n=n: lookup(n), repeat))
    report(f"lookup: start at dimension {d - 32}", median_ms(lambda: lookup(32, d - 32), repeat))
    report("neighbours: pick another token (k = 10)", median_ms(lambda: neighbours(run.ids[3]), repeat))
    report("neighbours: k = 30", median_ms(lambda: neighbours(run.ids[3], 30), repeat))
    report("neighbours: type a word", median_ms(lambda: neighbours(tok.encode(" king")[0]), repeat))
    report("map: change the reference words", median_ms(lambda: token_map(words + ", Juliet"), repeat))
    report("positions: whole range", median_ms(lambda: positions(0, cfg.block_size - 1), repeat))
    report("positions: narrow range", median_ms(lambda: positions(10, 40), repeat))
    report("layernorm: another LayerNorm / token", median_ms(lambda: layernorm(f"blocks.{cfg.n_layer - 1}.ln2",
                                                                              T - 1), repeat))
    report("residual: log toggle", median_ms(lambda: residual(True, None), repeat))
    report("residual: pick a token", median_ms(lambda: residual(False, T - 1), repeat))


def apptest(folder: str, repeat: int) -> None:
    """Whole-page reruns through AppTest, one per control change."""
    os.environ["GPT_EXPLAINER_DEFAULT_MODEL"] = folder
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/embeddings.py").run()
    tok = get_tokenizer("shakespeare_bpe")
    king, light = tok.encode(" king")[0], tok.encode(" light")[0]
    changes: list[tuple[str, Callable[[int], None]]] = [
        ("whole page, no change (rerun)", lambda i: None),
        ("lookup: dimensions shown", lambda i: at.select_slider(key="embeddings.lookup.dims.n").set_value(
            (8, 32)[i % 2])),
        ("neighbours: pick a token", lambda i: at.selectbox(key="embeddings.nn.token").set_value(
            (king, light)[i % 2] if (king, light)[i % 2] in tok.encode(PROMPT) else tok.encode(PROMPT)[i % 5])),
        ("neighbours: how many", lambda i: at.slider(key="embeddings.nn.k").set_value(5 + i % 20)),
        ("map: reference words", lambda i: at.text_input(key="embeddings.map.words.shakespeare_bpe").set_value(
            ("king, lord, love, death", "sweet, fair, good, night, day")[i % 2])),
        ("positions: range", lambda i: at.slider(key="embeddings.pos.range").set_value((i, 100 + i))),
        ("layernorm: which", lambda i: at.selectbox(key="embeddings.ln.where").set_value(
            ("blocks.0.ln1", "ln_final")[i % 2])),
        ("layernorm: token", lambda i: at.selectbox(key="embeddings.ln.pos").set_value(i % 10)),
        ("residual: log toggle", lambda i: at.toggle(key="embeddings.res.log").set_value(bool(i % 2))),
        ("residual: token", lambda i: at.selectbox(key="embeddings.res.token").set_value(i % 10 - 1)),
    ]
    for name, change in changes:
        times = []
        for i in range(repeat + 1):
            change(i)
            t = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - t) * 1000)
            if at.exception:
                raise SystemExit(f"{name}: the page raised {at.exception[0].value}")
        report(name, statistics.median(times[1:]))


def gpt2_shape(repeat: int) -> None:
    """Speed on GPT-2 small's shape (random weights): 50,257 × 768 tokens, 1,024 × 768 positions."""
    torch.manual_seed(0)
    model = GPT(GPTConfig()).eval()
    tok = get_tokenizer("r50k_base")
    bundle = ModelBundle(model, tok, None)  # type: ignore[arg-type]
    ids = tok.encode(PROMPT * 20)[:1024]
    run = run_prompt(bundle, tok.decode(ids))
    labels = [emb.token_label(tok, i) for i in run.ids]
    t = time.perf_counter()
    index = emb.EmbeddingIndex.for_model(model, tok)
    report("vocabulary index over 50,257 tokens (once per model)", (time.perf_counter() - t) * 1000)
    report("position PCA of 1,024 × 768 (once per model)", median_ms(lambda: emb.position_components(model, 3), 3))

    def neighbours(k: int) -> None:
        found = emb.nearest_neighbours(index, tok, run.ids[5], k)
        ev.neighbour_bars([n.label for n in found], [n.cosine for n in found], labels[5]).to_json()

    def lookup() -> None:
        look = emb.embedding_lookup(model, run.ids, len(run.ids) - 64, len(run.ids))
        ev.lookup_heatmap(look.token_rows, look.pos_rows, labels[-64:], len(run.ids) - 64, 0, 128).to_json()

    def positions() -> None:
        pos = emb.sampled_positions(0, 1024, 128)
        ev.similarity_heatmap(emb.position_similarity(model, pos), pos).to_json()

    def residual() -> None:
        r = emb.residual_norms(run.cache)
        ev.residual_heatmap(r.resid[:, -64:], labels[-64:], len(labels) - 64, True).to_json()
        ev.contribution_bars(*r.of_token(None)).to_json()

    report("neighbours of one token over 50,257 (k = 10)", median_ms(lambda: neighbours(10), repeat))
    report("neighbours of one token over 50,257 (k = 30)", median_ms(lambda: neighbours(30), repeat))
    report("lookup heatmap: 64 tokens × 128 dimensions × 3 panels", median_ms(lookup, repeat))
    report("position similarity: 128 of 1,024 positions", median_ms(positions, repeat))
    report(f"residual norms: {len(run.ids)} tokens × 13 stages", median_ms(residual, repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "assets/models/default"))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is a 2-core laptop)")
    ap.add_argument("--no-apptest", action="store_true")
    ap.add_argument("--no-gpt2", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folder, described = default_folder(args.model)
    bundle = load_model(folder, device="cpu")
    print(f"default model: {described}")
    print(f"  {bundle.info.n_params:,} parameters; prompt of {len(bundle.tokenizer.encode(PROMPT))} tokens; "
          f"torch threads {torch.get_num_threads()}; medians of {args.repeat}; budget {BUDGET_MS} ms\n")
    print("1. data + figure per control change (default model)")
    functions(bundle, PROMPT, args.repeat)
    if not args.no_apptest:
        print("\n2. whole-page rerun through AppTest per control change (default model; the app reruns one section)")
        apptest(folder, args.repeat)
    if not args.no_gpt2:
        print("\n3. GPT-2 small's shape (random weights)")
        gpt2_shape(args.repeat)


if __name__ == "__main__":
    main()
