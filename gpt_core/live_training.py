"""Train a tiny GPT live, a few steps at a time: the engine of the Training page.

A ``LiveRun`` owns its own freshly initialised model (never a shared one), drives
``training.train()`` one chunk of steps at a time (``advance``) so a caller can redraw between
chunks, and records what a class should see: the loss curve, samples from a fixed prompt, and
attention "probes" on a fixed repeated random sequence (the previous-token and induction score of
every head, and at a few points the full patterns). When the run ends (its steps are done, its
time budget is spent, or ``stop()``), the model and optimizer are dropped and only the small
``History`` is kept.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from .analysis import induction_score, previous_token_score, repeated_random_tokens, stack_patterns
from .config import GPTConfig, n_params
from .model import GPT
from .tokenizer import Tokenizer
from .training import Split, TrainConfig, estimate_loss, make_splits, sample_text, train

TOKENIZER = "shakespeare_bpe"  # the shipped 1,024-token byte-level BPE: any text encodes
MAX_TEXT_CHARS = 200_000  # pasted text
MAX_TRAIN_S = 180.0  # wall-clock budget of one run
MAX_STEPS = 10_000  # the time budget usually ends a run first
MAX_RUN_MB = 200  # memory budget of one run, checked on LivePreset.memory_mb (estimated from shapes)
VAL_FRACTION = 0.1
PROBE_N = 32  # the probe sequence is 32 random tokens, then the same 32 again (64 positions)
PROBE_SEED = 0
N_SNAPSHOTS = 6  # full attention patterns kept at about this many points, plus step 0 and the end
N_PROBES = 30  # head scores measured at about this many points
N_EVALS = 20
N_SAMPLES = 8
EVAL_BATCHES = 4
SAMPLE_TOKENS = 48
TRAIN_THREADS = 1  # torch threads for training: one core, whatever the number of runs (see TrainingWorker)
# The look-back exercise: in this share of the training windows a stretch of random tokens where, at about
# a third of the positions, the token after repeats the token before (training.previous_token_windows).
# Only a head that looks one token back can predict those: on the small preset one forms in about
# 1,500 steps with it, and not within 2,500 without (bench/exercise_head.py).
EXERCISE_FRACTION = 0.9


@dataclass(frozen=True)
class LivePreset:
    """A model size the page offers, with the training settings that suit it."""

    name: str
    config: GPTConfig
    batch_size: int
    lr: float
    default_steps: int  # about a minute on one core (bench/training_page.py)

    @property
    def seq_len(self) -> int:
        return self.config.block_size

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def n_params(self) -> int:
        return n_params(self.config)

    @property
    def can_form_induction_head(self) -> bool:
        """An induction head needs a head in an earlier layer to copy the previous token first."""
        return self.config.n_layer >= 2

    @property
    def memory_mb(self) -> float:
        """Estimated peak memory of a training step, from shapes (float32): weights, gradients and
        AdamW's two moments (4 copies of the parameters), plus the activations kept for backward."""
        c, tokens = self.config, self.batch_size * self.seq_len
        # per token and layer: 2 LayerNorms (in, out), q k v, attention out, projection, MLP 4d + 4d, MLP out
        per_layer = 18 * c.n_embd
        ends = 4 * c.n_embd + 3 * c.vocab_size  # embeddings, final LayerNorm; logits, log-softmax, gradient
        return 4 * (4 * self.n_params + tokens * (c.n_layer * per_layer + ends)) / 2**20


def _preset(name: str, n_layer: int, n_head: int, n_embd: int, block: int, batch: int, lr: float,
            steps: int) -> LivePreset:
    return LivePreset(name, GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block,
                                      vocab_size=1024), batch, lr, steps)


PRESETS: dict[str, LivePreset] = {
    p.name: p
    for p in [
        _preset("tiny", 1, 2, 32, 64, 16, 1e-2, 6000),
        _preset("small", 2, 4, 64, 64, 16, 5e-3, 2500),
        _preset("medium", 3, 4, 128, 128, 16, 3e-3, 400),
    ]
}


@dataclass(frozen=True)
class TextProblem:
    """Why a text cannot be trained on: ``kind`` is "empty", "too_long" or "too_short"."""

    kind: str
    chars: int = 0
    tokens: int = 0
    limit: int = 0  # MAX_TEXT_CHARS for "too_long"; tokens needed for "too_short"


def min_tokens(preset: LivePreset) -> int:
    """Tokens a text needs so that its held-out tenth still holds one training window."""
    return math.ceil((preset.seq_len + 2) / VAL_FRACTION) + 1


def check_text(text: str, tokenizer: Tokenizer, preset: LivePreset) -> TextProblem | None:
    """None if ``text`` can be trained on with ``preset``, else what is wrong with it."""
    if not text.strip():
        return TextProblem("empty")
    if len(text) > MAX_TEXT_CHARS:
        return TextProblem("too_long", chars=len(text), limit=MAX_TEXT_CHARS)
    train_split, val_split = make_splits(text, tokenizer, VAL_FRACTION)
    tokens = train_split.ids.numel() + val_split.ids.numel()
    if min(train_split.ids.numel(), val_split.ids.numel()) < preset.seq_len + 2:
        return TextProblem("too_short", chars=len(text), tokens=tokens, limit=min_tokens(preset))
    return None


class TextError(ValueError):
    def __init__(self, problem: TextProblem):
        super().__init__(f"cannot train on this text: {problem}")
        self.problem = problem


@dataclass
class Snapshot:
    step: int
    patterns: np.ndarray  # (layer, head, query, key) on the probe sequence, float16


@dataclass
class History:
    """Everything a run shows, small enough to keep after the model is gone."""

    preset: str
    max_steps: int
    n_train_tokens: int
    n_val_tokens: int
    tokens_per_step: int
    sample_prompt: str
    probe_tokens: list[int]
    exercise: bool = False  # the look-back exercise was mixed into the training windows
    steps: list[int] = field(default_factory=list)  # every training step and its batch loss
    losses: list[float] = field(default_factory=list)
    evals: list[tuple[int, float, float]] = field(default_factory=list)  # (step, train loss, val loss)
    samples: list[tuple[int, str]] = field(default_factory=list)  # (step, text after the prompt)
    probe_steps: list[int] = field(default_factory=list)
    previous_token: list[np.ndarray] = field(default_factory=list)  # (layer, head) per probe
    induction: list[np.ndarray] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    step: int = 0
    elapsed_s: float = 0.0  # wall clock since the start
    compute_s: float = 0.0  # time spent training and measuring
    end_reason: str | None = None  # "max_steps", "time_limit" or "stopped"; None while running

    @property
    def tokens_per_s(self) -> float:
        return self.step * self.tokens_per_step / self.compute_s if self.compute_s > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Wall-clock time to the last step at the pace so far, within the time budget."""
        if self.end_reason is not None:
            return 0.0
        if self.step == 0:
            return None
        pace = self.elapsed_s / self.step
        return min((self.max_steps - self.step) * pace, max(0.0, MAX_TRAIN_S - self.elapsed_s))

    def most_specialised_head(self) -> tuple[int, int]:
        """(layer, head) furthest above even attention at the latest measurement: the largest of its
        previous-token and induction scores, each divided by what even attention scores."""
        chance_prev, chance_ind = chance_scores(PROBE_N)
        ratio = np.maximum(self.previous_token[-1] / chance_prev, self.induction[-1] / chance_ind)
        layer, head = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        return int(layer), int(head)

    def score_series(self, layer: int, head: int) -> tuple[list[int], list[float], list[float]]:
        """Probe steps and one head's previous-token and induction scores at each."""
        return (self.probe_steps, [float(s[layer, head]) for s in self.previous_token],
                [float(s[layer, head]) for s in self.induction])


def chance_scores(n: int = PROBE_N) -> tuple[float, float]:
    """Previous-token and induction scores of a head that spreads its attention evenly over the
    positions it can see (the causal pattern with equal weights), on the 2n-token probe sequence."""
    uniform = torch.ones(2 * n, 2 * n).tril()
    uniform = uniform / uniform.sum(-1, keepdim=True)  # (query, key): each row adds up to 1
    return float(previous_token_score(uniform)), float(induction_score(uniform, n))


def _every(steps: int, times: int, least: int = 1) -> int:
    """An interval that comes about ``times`` times in ``steps`` steps. Rounded up, so the last regular
    eval, sample or snapshot never falls just before the one taken at the end."""
    return max(least, math.ceil(steps / times))


class LiveRun:
    """One training run on its own model, advanced a chunk at a time. Not shared between sessions."""

    def __init__(self, text: str | tuple[Split, Split], preset: LivePreset, steps: int, tokenizer: Tokenizer,
                 sample_prompt: str = "\n", seed: int = 1337, time_limit_s: float = MAX_TRAIN_S,
                 exercise: bool = False):
        """``text``: the user's text (checked, then split and tokenized), or the (train, validation)
        splits of a shipped corpus, made once and shared read-only (batches only index them).
        ``exercise``: mix the look-back exercise into EXERCISE_FRACTION of the training windows."""
        if isinstance(text, str):
            problem = check_text(text, tokenizer, preset)
            if problem is not None:
                raise TextError(problem)
            train_split, val_split = make_splits(text, tokenizer, VAL_FRACTION)
        else:
            train_split, val_split = text
            if min(train_split.ids.numel(), val_split.ids.numel()) < preset.seq_len + 2:
                raise ValueError(f"each split needs more than {preset.seq_len + 1} tokens")
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
        if preset.memory_mb > MAX_RUN_MB:
            raise ValueError(f"preset {preset.name} needs about {preset.memory_mb:.0f} MB; the budget is {MAX_RUN_MB}")
        self.preset, self.time_limit_s = preset, time_limit_s
        self._lock = threading.RLock()
        self._stop_requested = False
        self._tokenizer = tokenizer
        prompt = tokenizer.decode(tokenizer.encode(sample_prompt)) or "\n"  # the text the model will see
        self._cfg = TrainConfig(
            max_steps=steps, batch_size=preset.batch_size, seq_len=preset.seq_len, lr=preset.lr,
            min_lr=preset.lr / 10, warmup_steps=max(1, min(50, steps // 10)), eval_interval=_every(steps, N_EVALS, 5),
            eval_batches=EVAL_BATCHES, sample_interval=_every(steps, N_SAMPLES, 5), sample_prompt=prompt,
            sample_tokens=SAMPLE_TOKENS, seed=seed,
            previous_fraction=EXERCISE_FRACTION if exercise else 0.0, previous_anywhere=True,
        )
        self._probe_every, self._snapshot_every = _every(steps, N_PROBES), _every(steps, N_SNAPSHOTS)
        exclude = {tokenizer.eot_token} if tokenizer.eot_token is not None else None
        probe = repeated_random_tokens(preset.config.vocab_size, PROBE_N, PROBE_SEED, exclude=exclude)
        self.history = History(preset.name, steps, train_split.ids.numel(), val_split.ids.numel(),
                               preset.tokens_per_step, self._cfg.sample_prompt, probe, exercise)
        torch.manual_seed(seed)
        self.model: GPT | None = GPT(preset.config)  # CPU; a fresh model, never the app's cached one
        self._started = time.perf_counter()
        t0 = time.perf_counter()
        self._record_start(train_split, val_split)
        self._events = train(self.model, train_split, val_split, self._cfg, tokenizer, self._should_stop)
        self.history.compute_s += time.perf_counter() - t0

    @property
    def running(self) -> bool:
        return self.history.end_reason is None

    @property
    def overdue(self) -> bool:
        """Past its time budget without having been advanced since (its session went quiet)."""
        return time.perf_counter() - self._started > self.time_limit_s + 30

    def _should_stop(self) -> bool:
        return self._stop_requested or time.perf_counter() - self._started > self.time_limit_s

    def _record_start(self, train_split: Split, val_split: Split) -> None:
        """Step 0: the untrained model's loss (about ln 1024 = 6.93), its sample and its attention."""
        h = self.history
        h.evals.append((0, estimate_loss(self.model, train_split, self._cfg),
                        estimate_loss(self.model, val_split, self._cfg)))
        h.samples.append((0, self._sample()))
        self._probe(0, keep_patterns=True)

    def _sample(self) -> str:
        text = sample_text(self.model, self._tokenizer, self._cfg)
        prompt = self._cfg.sample_prompt
        return text[len(prompt):] if text.startswith(prompt) else text

    @torch.no_grad()
    def _probe(self, step: int, keep_patterns: bool) -> None:
        """Attention on the probe sequence: every head's scores, and the full patterns if asked."""
        was_training = self.model.training
        self.model.eval()
        _, cache = self.model.run_with_cache(torch.tensor([self.history.probe_tokens]), logits_for="none")
        self.model.train(was_training)
        p = stack_patterns(cache)  # (layer, head, query, key)
        h = self.history
        h.probe_steps.append(step)
        h.previous_token.append(previous_token_score(p).numpy().round(4))
        h.induction.append(induction_score(p, PROBE_N).numpy().round(4))
        if keep_patterns:
            h.snapshots.append(Snapshot(step, p.numpy().astype(np.float16)))

    def advance(self, budget_s: float = 0.4) -> bool:
        """Train for about ``budget_s`` seconds (at least one step); True while the run goes on."""
        if not self._lock.acquire(blocking=False):  # another rerun of the same session is advancing it
            return self.running
        try:
            t0, stepped = time.perf_counter(), False
            while self.running and (not stepped or time.perf_counter() - t0 < budget_s):
                event = next(self._events)
                self._handle(event)
                stepped = stepped or event.kind == "step"
            self.history.compute_s += time.perf_counter() - t0
            self.history.elapsed_s = time.perf_counter() - self._started
        finally:
            self._lock.release()
        return self.running

    def _handle(self, ev) -> None:
        h = self.history
        if ev.kind == "step":
            h.step = ev.step
            h.steps.append(ev.step)
            h.losses.append(round(ev.loss, 4))
            if ev.step % self._probe_every == 0 or ev.step % self._snapshot_every == 0:
                self._probe(ev.step, keep_patterns=ev.step % self._snapshot_every == 0)
        elif ev.kind == "eval":
            h.evals.append((ev.step, round(ev.train_loss, 4), round(ev.val_loss, 4)))
        elif ev.kind == "sample":
            prompt = self._cfg.sample_prompt
            h.samples.append((ev.step, ev.sample[len(prompt):] if ev.sample.startswith(prompt) else ev.sample))
        elif ev.kind == "done":
            # train() says "stopped" whenever should_stop said so: tell a Stop press from the time budget
            self._finish(ev.reason if ev.reason != "stopped" or self._stop_requested else "time_limit")

    def _finish(self, reason: str) -> None:
        """Record the last state (scores, patterns and a sample where not just taken), then drop the model."""
        h = self.history
        if not h.snapshots or h.snapshots[-1].step != h.step:
            if h.probe_steps and h.probe_steps[-1] == h.step:  # scores already measured here
                h.probe_steps.pop(), h.previous_token.pop(), h.induction.pop()
            self._probe(h.step, keep_patterns=True)
        if h.samples[-1][0] != h.step:
            h.samples.append((h.step, self._sample()))
        h.end_reason = reason
        self.release()

    def stop(self) -> None:
        """End the run now: finish the step in progress, measure the last state, free the model."""
        with self._lock:
            if not self.running:
                return
            self._stop_requested = True
            t0 = time.perf_counter()
            for ev in self._events:
                self._handle(ev)
            self.history.compute_s += time.perf_counter() - t0
            self.history.elapsed_s = time.perf_counter() - self._started

    def release(self) -> None:
        """Drop the model, optimizer and data (the generator holds the optimizer); keep the history."""
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self._events is not None:
            self._events.close()
        self._events = None
        self.model = None
        if self.history.end_reason is None:
            self.history.end_reason = "stopped"


class TrainingWorker:
    """One thread that does the computing of every run in the process, with torch held to ``threads``
    threads on it, so all training together uses at most that many cores and the app's other work
    keeps the rest. (On a busy 2-core machine, two torch threads per run made steps several times
    slower than one: each parallel region waits for a thread that has no core; bench/training_page.py.)

    ``torch.set_num_threads`` is process-wide in effect: it sets the calling thread's count and the
    value every new thread takes (Streamlit runs each rerun on a new thread). So the worker sets it,
    fixes its own thread's count with a first parallel operation, and the process value is set back.
    """

    def __init__(self, threads: int = TRAIN_THREADS):
        before = torch.get_num_threads()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="live-training", initializer=self._init,
                                        initargs=(threads,))
        self._pool.submit(lambda: None).result()
        torch.set_num_threads(before)

    @staticmethod
    def _init(threads: int) -> None:
        torch.set_num_threads(threads)
        torch.ones(1 << 16).add_(1)  # a thread fixes its count at its first parallel op

    def call(self, fn: Callable, *args, **kwargs):
        """``fn(*args, **kwargs)`` on the worker thread (after the calls queued before it); its result."""
        return self._pool.submit(fn, *args, **kwargs).result()

    def threads(self) -> int:
        return self.call(torch.get_num_threads)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)
