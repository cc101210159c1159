"""Bench the Attention page: bytes of its first render, time of each later interaction, forward passes run.

    python bench/attention_page.py [--tokens 128] [--skip-default] [--skip-gpt2]

For the default model (when it is on this machine) and for a GPT-2-small-shaped model with random
weights (12 layers × 12 heads, d_model 768, GPT-2's tokenizer), on a prompt of exactly --tokens tokens,
it drives the page through Streamlit's AppTest and prints:

- first-render bytes: the summed protobuf size of every element the page sends (plotly specs, HTML,
  text, widgets) plus the plotly JSON alone. This is an estimate of the websocket payload: the
  ForwardMsg envelope around each element adds a few bytes more. Target: at most 2 MB.
- each interaction (head, toggles, view, query/key cell, formula step, score picker): wall time of a
  *full* script rerun in AppTest, an upper bound, since in the browser only the page's fragment reruns.
  Target: under 1 s.
- forward passes over the prompt and head-score measurements during all of it. Target: 1 and 1. (The app also
  runs its default prompt once when a model loads, so that pages opened before anyone types come at once;
  that pass is not over this prompt and is not counted.)

Run it on the target machine (2 CPU cores); it sets torch to 2 threads. Figures vary with load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gpt_core  # noqa: E402
import gpt_core.analysis  # noqa: E402
import ui.state  # noqa: E402
from gpt_core import GPT, GPTConfig, save_checkpoint  # noqa: E402

FIRST_RENDER_LIMIT = 2_000_000
INTERACTION_LIMIT = 1.0
COUNTS = {"forward": 0, "head_scores": 0}
PROMPT = {"text": None}  # the prompt being benched: the app's warm-up pass over its default prompt is not counted


def counting(module, name: str, counter: str, text_arg: int | None = None) -> None:
    """Wrap module.name so each call is counted (the page reaches both through these modules); with ``text_arg``,
    only calls whose argument at that position is the benched prompt."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        if text_arg is None or args[text_arg] == PROMPT["text"]:
            COUNTS[counter] += 1
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


def prompt_of(tokenizer, n: int) -> str:
    """Corpus text that encodes to exactly n tokens."""
    corpus = (ROOT / "assets/corpus/shakespeare.txt").read_text(encoding="utf-8")[: 40 * n]
    text = tokenizer.decode(tokenizer.encode(corpus)[:n])
    while len(tokenizer.encode(text)) > n:
        text = text[:-1]
    return text


def leaves(node):
    children = getattr(node, "children", None)
    if isinstance(children, dict) and children:
        for child in children.values():
            yield from leaves(child)
    else:
        yield node


def render_bytes(at) -> tuple[int, int, int]:
    """(all element bytes, plotly JSON bytes, number of charts) of what the last run drew."""
    total = plotly = charts = 0
    for node in leaves(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        total += proto.ByteSize()
        if getattr(node, "type", "") == "plotly_chart":
            plotly += len(proto.spec.encode("utf-8"))
            charts += 1
    return total, plotly, charts


def timed(at, label: str, action) -> float:
    action(at)
    t = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(f"{label}: {at.exception[0].value}")
    total, _, _ = render_bytes(at)
    verdict = "ok" if seconds < INTERACTION_LIMIT else "OVER"
    print(f"  {label:<38} {seconds * 1000:7.0f} ms  ({total / 1e6:.2f} MB drawn)  {verdict}")
    return seconds


def key(name: str) -> str:
    return f"attention.{name}"


INTERACTIONS = [
    ("change head (picker)", lambda at: at.selectbox(key=key("head")).set_value(1)),
    ("change layer (picker)", lambda at: at.selectbox(key=key("layer")).set_value(1)),
    ("hide position 0, renormalise", lambda at: at.toggle(key=key("hide_first")).set_value(True)),
    ("lines, all heads of the layer", lambda at: at.segmented_control(key=key("view")).set_value("view_lines_all")),
    ("only the chosen query", lambda at: at.toggle(key=key("only_query")).set_value(True)),
    ("back to the heatmap", lambda at: at.segmented_control(key=key("view")).set_value("view_heatmap")),
    ("cell: query", lambda at: at.selectbox(key=key("query")).set_value(40)),
    ("cell: key", lambda at: at.selectbox(key=key("key")).set_value(3)),
    ("formula step: softmax", lambda at: at.radio(key=key("step")).set_value("step_softmax")),
    ("formula step: concat and W_O", lambda at: at.radio(key=key("step")).set_value("step_project")),
    ("head score: induction", lambda at: at.segmented_control(key=key("score")).set_value("induction")),
    ("grid window", lambda at: at.slider(key=key("grid_start")).set_value(64)),
]


def bench(label: str, folder: str, n_tokens: int) -> bool:
    from streamlit.testing.v1 import AppTest

    os.environ[ui.state.DEFAULT_ENV] = folder
    bundle = gpt_core.load_model(folder, device="cpu")
    cfg = bundle.model.config
    prompt = prompt_of(bundle.tokenizer, n_tokens)
    print(f"\n{label}: {cfg.n_layer} layers × {cfg.n_head} heads, d_model {cfg.n_embd}, "
          f"{len(bundle.tokenizer.encode(prompt))}-token prompt")
    del bundle
    COUNTS.update(forward=0, head_scores=0)
    PROMPT["text"] = prompt
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.text_area(key="prompt").set_value(prompt)
    at.switch_page("app_pages/attention.py")
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    total, plotly, charts = render_bytes(at)
    ok_bytes = total <= FIRST_RENDER_LIMIT
    print(f"  first render: {total / 1e6:.2f} MB of elements ({plotly / 1e6:.2f} MB plotly JSON in {charts} charts), "
          f"limit {FIRST_RENDER_LIMIT / 1e6:.0f} MB: {'ok' if ok_bytes else 'OVER'}; "
          f"{first:.1f} s including the forward pass and the head scores")
    times = [timed(at, name, action) for name, action in INTERACTIONS]
    ok_times = max(times) < INTERACTION_LIMIT
    ok_counts = COUNTS["forward"] == 1 and COUNTS["head_scores"] == 1
    print(f"  slowest interaction {max(times) * 1000:.0f} ms (limit {INTERACTION_LIMIT * 1000:.0f} ms): "
          f"{'ok' if ok_times else 'OVER'}")
    print(f"  forward passes over the prompt: {COUNTS['forward']}, head-score measurements: {COUNTS['head_scores']} "
          f"(expected 1 and 1): {'ok' if ok_counts else 'UNEXPECTED'}")
    return ok_bytes and ok_times and ok_counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--skip-gpt2", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    counting(ui.state, "run_prompt", "forward", text_arg=1)  # run_prompt(bundle, text)
    counting(gpt_core.analysis, "head_scores", "head_scores")
    results = []
    if not args.skip_default:
        try:
            folder = str(gpt_core.find_weights(os.environ.get(ui.state.DEFAULT_ENV) or "default"))
            results.append(bench("default model", folder, args.tokens))
        except gpt_core.ModelNotAvailable as e:
            print(f"\ndefault model: not on this machine, skipped ({e})")
    if not args.skip_gpt2:
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(0)
            cfg = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257)
            folder = save_checkpoint(GPT(cfg), Path(tmp) / "gpt2_shaped", "r50k_base",
                                     {"name": "GPT-2-small-shaped, random weights"})
            results.append(bench("GPT-2-small-shaped model, random weights", str(folder), args.tokens))
    print("\n" + json.dumps({"all_within_bounds": all(results)}))


if __name__ == "__main__":
    main()
