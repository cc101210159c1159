"""Prompting patterns: fit a prompt in the context, generate an answer, and see where the answer looked.

A "task" given to GPT is only text to continue (a zero-shot instruction, or a few worked examples
first). These helpers run that continuation on any loaded model and return its real output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .costs import Timing
from .generation import Step, generate_steps
from .model import GPT
from .tokenizer import Tokenizer


def fit_prompt(ids: list[int], block_size: int, max_new_tokens: int) -> tuple[list[int], int]:
    """The last tokens of ``ids`` that leave room for ``max_new_tokens`` in the context, and how many were dropped."""
    room = max(1, block_size - max_new_tokens)
    kept = ids[-room:]
    return kept, len(ids) - len(kept)


def answer_steps(model: GPT, tokenizer: Tokenizer, prompt_ids: list[int], max_new_tokens: int,
                 temperature: float = 0.0, seed: int | None = 0, stop: str | None = None) -> Iterator[Step]:
    """One Step per generated token; ends after ``<|endoftext|>``, after ``max_new_tokens``, or after the
    first token whose text contains ``stop`` once the answer holds some text (for example a line break, to
    end a one-line answer: line breaks before the first word do not end it)."""
    answer: list[int] = []
    for step in generate_steps(model, prompt_ids, max_new_tokens, temperature=temperature, seed=seed,
                               eot_token=tokenizer.eot_token):
        yield step
        answer.append(step.token)
        if stop and stop in tokenizer.decode([step.token]) and tokenizer.decode(answer).replace(stop, "").strip():
            return


class TimedSteps:
    """Wraps a step iterator and times only the model's work (not the page drawing between steps)."""

    def __init__(self, steps: Iterator[Step], prompt_tokens: int):
        self._steps = iter(steps)
        self.prompt_tokens = prompt_tokens
        self.first = 0.0  # the first step: a forward pass over the whole prompt
        self.later = 0.0  # every later step: one token with the key/value cache
        self.count = 0

    def __iter__(self) -> TimedSteps:
        return self

    def __next__(self) -> Step:
        t0 = time.perf_counter()
        step = next(self._steps)
        seconds = time.perf_counter() - t0
        if self.count == 0:
            self.first = seconds
        else:
            self.later += seconds
        self.count += 1
        return step

    def timing(self) -> Timing | None:
        """The timing, once at least two tokens were generated (the second is the first cached step)."""
        if self.count < 2:
            return None
        return Timing(self.prompt_tokens, self.first, self.count - 1, self.later / (self.count - 1))


@dataclass(frozen=True)
class AnswerLook:
    """Where each answer token's choice looked: attention rows of the positions that produced the answer."""

    ids: list[int]  # prompt (as kept) + answer
    n_prompt: int
    dropped: int  # prompt tokens left out to fit the context
    pattern: torch.Tensor  # (layer, head, answer, key): key runs over ids[:-1]

    @property
    def n_answer(self) -> int:
        return len(self.ids) - self.n_prompt

    def rows(self, layer: int, head: int | None = None) -> torch.Tensor:
        """(answer, key) attention of one head, or the mean over the layer's heads when ``head`` is None."""
        p = self.pattern[layer]
        return p.mean(dim=0) if head is None else p[head]

    def share_on_prompt(self, layer: int, head: int | None = None) -> float:
        """Mean share of the answer rows' attention that lands on the prompt (the rest is on the answer so far)."""
        return float(self.rows(layer, head)[:, : self.n_prompt].sum(dim=-1).mean())


def answer_attention(model: GPT, prompt_ids: list[int], answer_ids: list[int]) -> AnswerLook:
    """One forward pass over prompt + answer; row i is the position that chose answer token i.

    The first answer token was chosen at the last prompt position, so row i is position
    n_prompt - 1 + i, and its columns are every key up to it (the causal mask hides the rest).
    """
    if not prompt_ids or not answer_ids:
        raise ValueError("Both the prompt and the answer need at least one token.")
    block = model.config.block_size
    if len(answer_ids) >= block:
        raise ValueError(f"An answer of {len(answer_ids)} tokens leaves no room for the prompt in {block}.")
    full = prompt_ids + answer_ids
    ids = full[-block:]
    dropped = len(full) - len(ids)
    n_prompt = len(prompt_ids) - dropped
    _, cache = model.run_with_cache(torch.tensor([ids], device=model.device), logits_for="none")
    rows = slice(n_prompt - 1, len(ids) - 1)
    pattern = torch.stack([cache.pattern(layer)[:, rows, : len(ids) - 1] for layer in range(model.config.n_layer)])
    return AnswerLook(ids, n_prompt, dropped, pattern)  # (layer, head, answer, key)
