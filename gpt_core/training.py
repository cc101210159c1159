"""A small training loop with callbacks, shared by the command line and the Training page.

The loop is a generator of events so a caller can draw progress live and stop at any moment
(stop iterating, or return True from ``should_stop``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

import torch

from .generation import generate
from .model import GPT
from .tokenizer import Tokenizer


@dataclass
class TrainConfig:
    max_steps: int = 2000
    batch_size: int = 16
    seq_len: int = 128  # tokens per training example (at most the model's block_size)
    lr: float = 3e-3
    min_lr: float = 3e-4  # cosine decay ends here
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 100
    eval_batches: int = 20
    sample_interval: int = 0  # 0: no samples
    sample_prompt: str = "\n"
    sample_tokens: int = 64
    seed: int = 1337
    # Share of training windows whose opening stretch is repeated right after itself. Text that
    # repeats rewards copying from earlier in the context, which is what induction heads do.
    repeat_fraction: float = 0.0
    # Share of training windows that open with a synthetic copy task: a run of random tokens, then
    # the same run again (loss only on the second copy). Copying random tokens is only possible by
    # looking back, so induction heads form in far fewer steps than on plain text.
    copy_fraction: float = 0.0
    # Share of training windows that open with a previous-token task: random tokens in which, at about a
    # third of the positions i, the token after i repeats the token before i (loss only there). Only a
    # head that looks one token back can predict those, which is the first half of an induction circuit.
    previous_fraction: float = 0.0
    # Where that task's random stretch goes: at the window's opening (False), or anywhere in it (True),
    # so the previous-token head is trained at late positions as well as early ones.
    previous_anywhere: bool = False
    time_limit_s: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Split:
    """Token ids of one split plus its character count, so losses convert to nats per character."""

    ids: torch.Tensor  # (N,) int64
    n_chars: int

    @property
    def chars_per_token(self) -> float:
        return self.n_chars / max(1, self.ids.numel())


# How make_splits chooses the held-out text, in the words every checkpoint records (the Model page shows them in the
# reader's language).
VAL_SPLIT = "the last part of the corpus by characters, cut at a line boundary; never trained on"


def make_splits(text: str, tokenizer: Tokenizer, val_fraction: float = 0.1) -> tuple[Split, Split]:
    """Split text by characters (the last ``val_fraction`` is held out), then tokenize each part."""
    cut = int(len(text) * (1 - val_fraction))
    cut = text.rfind("\n", 0, cut) + 1 or cut  # cut at a line boundary
    parts = text[:cut], text[cut:]
    return tuple(Split(torch.tensor(tokenizer.encode(p), dtype=torch.long), len(p)) for p in parts)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from lr to min_lr over max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def get_batch(ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator):
    """Random windows of seq_len tokens and the same windows shifted by one (the targets)."""
    if ids.numel() < seq_len + 2:
        raise ValueError(f"the text has {ids.numel()} tokens; training needs more than {seq_len + 1}")
    starts = torch.randint(0, ids.numel() - seq_len - 1, (batch_size,), generator=generator)
    x = torch.stack([ids[s : s + seq_len] for s in starts.tolist()])  # (B, T)
    y = torch.stack([ids[s + 1 : s + 1 + seq_len] for s in starts.tolist()])  # (B, T)
    return x, y


def _chosen_windows(x: torch.Tensor, fraction: float, generator: torch.Generator,
                    skip: torch.Tensor | None = None) -> list[tuple[int, int]]:
    """(window, L) for a ``fraction`` of the windows, L drawn from [8, T/2]; none for short windows.

    Windows marked in ``skip`` (bool, (B,)) are left out after the draw, so the random stream is the
    same with or without it.
    """
    B, T = x.shape
    if fraction <= 0 or T < 16:
        return []
    pick = torch.rand(B, generator=generator) < fraction
    lengths = torch.randint(8, T // 2 + 1, (B,), generator=generator)
    if skip is not None:
        pick &= ~skip
    return [(b, int(lengths[b])) for b in torch.nonzero(pick).flatten().tolist()]


def previous_token_windows(x: torch.Tensor, y: torch.Tensor, fraction: float, vocab_size: int,
                           generator: torch.Generator, taken: torch.Tensor | None = None, anywhere: bool = False):
    """For a ``fraction`` of the windows, open with L random tokens (L in [8, T/2]) in which, at about a
    third of the positions i, the token after i is set to the token before i; then the window's text.
    Only those repeats are scored (every other target in the opening is -100), so the one thing that
    lowers the loss there is attention from i to i-1 that copies what it finds. The chosen windows are
    marked in ``taken`` (bool, (B,)) so the other tasks leave them alone. With ``anywhere`` the random
    stretch replaces L tokens at a random place in the window instead of opening it (and the target just
    before it, the stretch's unpredictable first token, is ignored too)."""
    chosen = _chosen_windows(x, fraction, generator)
    if not chosen:
        return x, y
    x, y = x.clone(), y.clone()
    for b, L in chosen:
        if taken is not None:
            taken[b] = True
        r = torch.randint(0, vocab_size, (L,), generator=generator)
        hits = torch.nonzero(torch.rand(L, generator=generator)[1 : L - 1] < 1 / 3).flatten() + 1
        for i in hits.tolist():  # in order, so a run of hits keeps every repeat true
            r[i + 1] = r[i - 1]
        text = torch.cat([x[b], y[b, -1:]])  # the window's T + 1 tokens
        if anywhere:  # in place of L tokens somewhere in the window
            at = int(torch.randint(0, x.shape[1] - L + 1, (1,), generator=generator))
            w = torch.cat([text[:at], r, text[at + L :]])
        else:  # before the text, which is cut to fit
            at = 0
            w = torch.cat([r, text])[: x.shape[1] + 1]
        x[b], y[b] = w[:-1], w[1:]
        y[b, max(at - 1, 0) : at + L] = -100
        y[b, at + hits] = r[hits + 1]
    return x, y


def repeat_windows(x: torch.Tensor, y: torch.Tensor, fraction: float, generator: torch.Generator,
                   skip: torch.Tensor | None = None):
    """For a ``fraction`` of the windows, rebuild window w as w[:L] + w[:L] + w[L:] (cut to length),
    with L drawn from [8, T/2]: the second copy can be predicted by looking back at the first."""
    chosen = _chosen_windows(x, fraction, generator, skip)
    if not chosen:
        return x, y
    x, y = x.clone(), y.clone()
    for b, L in chosen:
        w = torch.cat([x[b], y[b, -1:]])  # the T + 1 tokens of this window
        r = torch.cat([w[:L], w[:L], w[L:]])[: w.numel()]
        x[b], y[b] = r[:-1], r[1:]
    return x, y


def copy_task_windows(x: torch.Tensor, y: torch.Tensor, fraction: float, vocab_size: int,
                      generator: torch.Generator, skip: torch.Tensor | None = None):
    """For a ``fraction`` of the windows, open with r + r (r: L random tokens, L in [8, T/2]) followed by
    the window's text. Targets inside the first copy cannot be predicted and are ignored (-100)."""
    chosen = _chosen_windows(x, fraction, generator, skip)
    if not chosen:
        return x, y
    x, y = x.clone(), y.clone()
    for b, L in chosen:
        r = torch.randint(0, vocab_size, (L,), generator=generator)
        w = torch.cat([r, r, x[b], y[b, -1:]])[: x.shape[1] + 1]
        x[b], y[b] = w[:-1], w[1:]
        y[b, :L] = -100  # next tokens inside the first random run: nothing to learn
    return x, y


def make_optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, LayerNorm or embeddings' norms)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


@torch.no_grad()
def estimate_loss(model: GPT, split: Split, cfg: TrainConfig, seed: int = 0) -> float:
    """Mean loss (nats per token) over ``eval_batches`` fixed random batches of a split."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(cfg.eval_batches):
        x, y = get_batch(split.ids, cfg.batch_size, cfg.seq_len, g)
        losses.append(float(model.loss(x.to(model.device), y.to(model.device))))
    model.train(was_training)
    return sum(losses) / len(losses)


@dataclass
class TrainEvent:
    kind: str  # "step", "eval", "sample" or "done"
    step: int
    loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    elapsed_s: float = 0.0
    train_loss: float | None = None
    val_loss: float | None = None
    val_nats_per_char: float | None = None
    sample: str | None = None
    reason: str | None = None  # why training ended ("max_steps", "time_limit", "stopped")


def train(
    model: GPT,
    train_split: Split,
    val_split: Split,
    cfg: TrainConfig,
    tokenizer: Tokenizer | None = None,
    should_stop: Callable[[], bool] | None = None,
    start_step: int = 0,
) -> Iterator[TrainEvent]:
    """Train ``model`` in place from ``start_step`` to ``cfg.max_steps``, yielding events.

    Evaluates every eval_interval steps and at the end. The learning-rate schedule (warm-up, then
    cosine decay) spans the steps this call adds, so a resumed run warms up and decays again.
    """
    if cfg.seq_len > model.config.block_size:
        raise ValueError(f"seq_len {cfg.seq_len} exceeds the model's context {model.config.block_size}")
    torch.manual_seed(cfg.seed + start_step)
    g = torch.Generator().manual_seed(cfg.seed + start_step)
    # A resumed run gets its own warm-up and decay over the steps it adds.
    schedule = replace(cfg, max_steps=cfg.max_steps - start_step)
    opt = make_optimizer(model, cfg)
    model.train()
    t0 = time.perf_counter()
    tokens = 0
    step = start_step
    reason = "max_steps"

    def eval_event() -> TrainEvent:
        tr = estimate_loss(model, train_split, cfg)
        va = estimate_loss(model, val_split, cfg)
        return TrainEvent("eval", step, elapsed_s=time.perf_counter() - t0, train_loss=tr, val_loss=va,
                          val_nats_per_char=va / val_split.chars_per_token)

    while step < cfg.max_steps:
        if should_stop is not None and should_stop():
            reason = "stopped"
            break
        if cfg.time_limit_s is not None and time.perf_counter() - t0 > cfg.time_limit_s:
            reason = "time_limit"
            break
        lr = lr_at(step - start_step, schedule)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_split.ids, cfg.batch_size, cfg.seq_len, g)
        taken = torch.zeros(x.shape[0], dtype=torch.bool)  # windows the previous-token task rewrote
        x, y = previous_token_windows(x, y, cfg.previous_fraction, model.config.vocab_size, g, taken,
                                      cfg.previous_anywhere)
        x, y = repeat_windows(x, y, cfg.repeat_fraction, g, taken)
        x, y = copy_task_windows(x, y, cfg.copy_fraction, model.config.vocab_size, g, taken)
        loss = model.loss(x.to(model.device), y.to(model.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        tokens += x.numel()
        elapsed = time.perf_counter() - t0
        yield TrainEvent("step", step, float(loss.detach()), lr, tokens / max(elapsed, 1e-9), elapsed)
        if cfg.eval_interval and step % cfg.eval_interval == 0:
            yield eval_event()
        if tokenizer is not None and cfg.sample_interval and step % cfg.sample_interval == 0:
            yield TrainEvent("sample", step, elapsed_s=elapsed, sample=sample_text(model, tokenizer, cfg))
    model.eval()
    if not (cfg.eval_interval and step % cfg.eval_interval == 0) and step > start_step:
        yield eval_event()
    yield TrainEvent("done", step, elapsed_s=time.perf_counter() - t0, reason=reason)


def sample_text(model: GPT, tokenizer: Tokenizer, cfg: TrainConfig, temperature: float = 0.8) -> str:
    """A short seeded sample from cfg.sample_prompt (the model is left in the mode it was in)."""
    was_training = model.training
    model.eval()
    ids = tokenizer.encode(cfg.sample_prompt) or [0]
    new = generate(model, ids, cfg.sample_tokens, temperature=temperature, top_k=40, seed=cfg.seed,
                   eot_token=tokenizer.eot_token)
    model.train(was_training)
    return tokenizer.decode(ids + new)


@torch.no_grad()
def heldout_loss(model: GPT, split: Split, batch_size: int = 16) -> float:
    """Mean loss (nats per token) over the whole split, in consecutive non-overlapping windows of the
    model's full context. Every token of the split is predicted exactly once (the first of each
    window has no context, so this slightly overstates the loss a sliding window would give)."""
    T = model.config.block_size
    ids = split.ids
    n_windows = (ids.numel() - 1) // T
    total, count = 0.0, 0
    for start in range(0, n_windows, batch_size):
        rows = range(start, min(start + batch_size, n_windows))
        x = torch.stack([ids[r * T : r * T + T] for r in rows]).to(model.device)
        y = torch.stack([ids[r * T + 1 : r * T + T + 1] for r in rows]).to(model.device)
        logits, _ = model(x)
        total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
        count += y.numel()
    return total / max(count, 1)
