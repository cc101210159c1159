"""Command line: train a GPT on a text file and write a checkpoint.

    python -m gpt_core.train --data assets/corpus/shakespeare.txt --tokenizer shakespeare_bpe \\
        --out assets/models/default --n-layer 4 --n-head 4 --n-embd 256 --block-size 256

The best checkpoint by held-out loss is written at every evaluation, so stopping (Ctrl-C or
--time-limit-min) always leaves a usable model. --resume continues from a checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shlex
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch
from tqdm import tqdm

from .config import GPTConfig
from .devices import choose_device
from .model import GPT
from .tokenizer import get_tokenizer
from .training import VAL_SPLIT, TrainConfig, make_splits, train
from .weights import load_checkpoint, save_checkpoint


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gpt_core.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="UTF-8 text file to train on")
    p.add_argument("--tokenizer", default="shakespeare_bpe", help="tokenizer name (see gpt_core.tokenizer)")
    p.add_argument("--out", required=True, help="folder to write the checkpoint to")
    p.add_argument("--resume", help="checkpoint folder to continue from (its shape wins)")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.0, help="dropout while training only")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--time-limit-min", type=float, default=None)
    p.add_argument("--stop-after-step", type=int, default=None,
                   help="end the run at this step while keeping the schedule of --max-steps (to replay a run that "
                        "was stopped early)")
    p.add_argument("--save", choices=("best", "last"), default="best",
                   help="write the checkpoint when the validation loss improves (best) or at every evaluation (last)")
    p.add_argument("--name", default=None, help="display name stored in the checkpoint")
    p.add_argument("--trained-on", default=None, help="one line on the corpus, stored in the checkpoint")
    p.add_argument("--description", default=None, help="what the model is, stored in the checkpoint")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "time_limit_s":
            continue
        kind = type(getattr(defaults, f.name))
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:  # --previous-anywhere / --no-previous-anywhere (type=bool would read "false" as True)
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=getattr(defaults, f.name))
        else:
            p.add_argument(flag, type=kind, default=getattr(defaults, f.name))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    data_path = Path(args.data)
    try:
        raw = data_path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        print(f"error: cannot read {data_path} as UTF-8 text ({e})", file=sys.stderr)
        return 2
    tokenizer = get_tokenizer(args.tokenizer)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "time_limit_s"})
    cfg.time_limit_s = args.time_limit_min * 60 if args.time_limit_min else None

    start_step, prior = 0, {}
    if args.resume:
        model, tok_name, prior = load_checkpoint(args.resume)
        if tok_name != tokenizer.name:
            print(f"error: {args.resume} uses tokenizer {tok_name}, not {tokenizer.name}", file=sys.stderr)
            return 2
        start_step = int(prior.get("steps", 0))
        cfg.max_steps += start_step
    else:
        torch.manual_seed(cfg.seed)
        model = GPT(GPTConfig(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                              block_size=args.block_size, vocab_size=tokenizer.n_vocab,
                              dropout=args.dropout))
    model.to(device)
    train_split, val_split = make_splits(text, tokenizer, args.val_fraction)
    print(f"{model.num_parameters():,} parameters on {device}; train {train_split.ids.numel():,} tokens, "
          f"val {val_split.ids.numel():,} tokens ({val_split.chars_per_token:.2f} chars/token)")

    best = float(prior.get("val_loss", float("inf")))
    history = list(prior.get("history", []))
    elapsed_before = float(prior.get("train_seconds", 0.0))
    tokens_before = int(prior.get("tokens_seen", 0))
    last_step, elapsed = start_step, 0.0
    bar = tqdm(total=cfg.max_steps, initial=start_step, unit="step", dynamic_ncols=True, mininterval=2.0)
    try:
        stop = (lambda: last_step >= args.stop_after_step) if args.stop_after_step else None
        for ev in train(model, train_split, val_split, cfg, tokenizer, should_stop=stop, start_step=start_step):
            last_step, elapsed = ev.step, ev.elapsed_s
            if ev.kind == "step":
                bar.update(1)
                bar.set_postfix(loss=f"{ev.loss:.3f}", tok_s=f"{ev.tokens_per_s:,.0f}")
            elif ev.kind == "eval":
                history.append({"step": ev.step, "train_loss": round(ev.train_loss, 4),
                                "val_loss": round(ev.val_loss, 4)})
                bar.write(f"step {ev.step}: train {ev.train_loss:.4f}, val {ev.val_loss:.4f} nats/token "
                          f"= {ev.val_nats_per_char:.4f} nats/char")
                if ev.val_loss < best or args.save == "last":
                    best = min(best, ev.val_loss)
                    meta = _meta(args, cfg, raw, data_path, tokenizer.name, train_split, val_split, ev,
                                 history, elapsed_before + ev.elapsed_s,
                                 tokens_before + (ev.step - start_step) * cfg.batch_size * cfg.seq_len,
                                 prior, argv)
                    save_checkpoint(model.cpu(), args.out, tokenizer.name, meta)
                    model.to(device)
            elif ev.kind == "sample":
                bar.write(f"--- sample at step {ev.step} ---\n{ev.sample}\n---")
    except KeyboardInterrupt:
        bar.write("stopped; the best checkpoint so far is kept")
    bar.close()
    print(f"done at step {last_step} after {elapsed:.0f} s; best val loss {best:.4f} nats/token; "
          f"checkpoint in {args.out}")
    return 0


def _meta(args, cfg, raw, data_path, tok_name, train_split, val_split, ev, history, seconds, tokens,
          prior: dict, argv: list[str]) -> dict:
    """What the checkpoint records; a resumed run keeps the name and descriptions it was given before."""
    return {
        "name": args.name or prior.get("name") or Path(args.out).name,
        "trained_on": args.trained_on or prior.get("trained_on") or data_path.name,
        "description": args.description or prior.get("description", ""),
        "corpus": data_path.name,
        "corpus_sha256": hashlib.sha256(raw).hexdigest(),
        "corpus_chars": train_split.n_chars + val_split.n_chars,
        "val_fraction": args.val_fraction,
        "val_split": VAL_SPLIT,
        "tokenizer": tok_name,
        "chars_per_token_val": round(val_split.chars_per_token, 4),
        "steps": ev.step,
        "tokens_seen": tokens,
        "train_seconds": round(seconds, 1),
        "train_loss": round(ev.train_loss, 4),
        "val_loss": round(ev.val_loss, 4),
        "val_nats_per_char": round(ev.val_nats_per_char, 4),
        "train_config": cfg.to_dict(),
        "history": history,
        "commands": [*prior.get("commands", []), "python -m gpt_core.train " + " ".join(shlex.quote(a) for a in argv)],
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "finished": time.strftime("%Y-%m-%d"),
    } | _kept_translations(prior, args)


def _kept_translations(prior: dict, args) -> dict:
    """The earlier checkpoint's translations of its name and descriptions ("i18n": {lang: {key: text}}), less those
    this run replaces with new English words."""
    kept = {lang: {k: v for k, v in texts.items() if not getattr(args, k, None)}
            for lang, texts in (prior.get("i18n") or {}).items() if isinstance(texts, dict)}
    kept = {lang: texts for lang, texts in kept.items() if texts}
    return {"i18n": kept} if kept else {}


if __name__ == "__main__":
    raise SystemExit(main())
