"""Pure functions over activations: what each head does, and the model's top predictions.

Head scores take patterns shaped (layer, head, query, key) for one sequence, so they can be
tested on hand-built patterns as well as on a real cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .cache import ActivationCache
from .model import GPT
from .tokenizer import Tokenizer


def stack_patterns(cache: ActivationCache, batch: int = 0) -> torch.Tensor:
    """All attention patterns of one sequence: (layer, head, query, key)."""
    return torch.stack([cache.pattern(layer, batch) for layer in range(cache.n_layer)])


def previous_token_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention from position i to i-1 (over i >= 1), per head: (layer, head)."""
    T = patterns.shape[-1]
    if T < 2:
        return torch.zeros(patterns.shape[:-2])
    return patterns.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)


def first_token_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention to position 0 from positions i >= 1 (the "attention sink"), per head."""
    if patterns.shape[-1] < 2:
        return torch.zeros(patterns.shape[:-2])
    return patterns[..., 1:, 0].mean(-1)


def duplicate_token_score(patterns: torch.Tensor, tokens: list[int]) -> torch.Tensor:
    """Mean attention from a repeated token to its earlier occurrences, over positions that repeat."""
    t = torch.tensor(tokens)
    same = (t[:, None] == t[None, :]).tril(diagonal=-1).float()  # (q, k): earlier copies of the same token
    rows = same.sum(-1) > 0
    if not rows.any():
        return torch.zeros(patterns.shape[:-2])
    return (patterns * same)[..., rows, :].sum(-1).mean(-1)


def induction_score(patterns: torch.Tensor, n: int, offset: int = 0) -> torch.Tensor:
    """On a random sequence of n tokens repeated twice (after ``offset`` prefix tokens), the mean
    attention from each token of the second copy to the token just after its first occurrence."""
    q = torch.arange(offset + n, offset + 2 * n)  # queries in the second copy
    k = q - n + 1  # the token after the earlier occurrence
    return patterns[..., q, k].mean(-1)


def repeated_random_tokens(vocab_size: int, n: int = 50, seed: int = 0, prefix: list[int] | None = None,
                           exclude: set[int] | None = None) -> list[int]:
    """Prefix + r + r, with r n tokens drawn uniformly (seeded) from the vocabulary minus ``exclude``."""
    allowed = torch.tensor([i for i in range(vocab_size) if not exclude or i not in exclude])
    g = torch.Generator().manual_seed(seed)
    r = allowed[torch.randint(0, allowed.numel(), (n,), generator=g)].tolist()
    return list(prefix or []) + r + r


@dataclass(frozen=True)
class HeadScores:
    previous_token: torch.Tensor  # (layer, head)
    first_token: torch.Tensor
    duplicate_token: torch.Tensor
    induction: torch.Tensor
    tokens: list[int]  # the test sequence the scores were measured on
    patterns: torch.Tensor | None = None  # (layer, head, query, key) on that sequence
    offset: int = 0  # prefix tokens before the first copy (1 with a bos token)


def head_scores(model: GPT, n: int = 50, seed: int = 0, bos: int | None = None) -> HeadScores:
    """Measure the standard head scores on a seeded repeated random sequence.

    The sequence is [bos] + r + r when ``bos`` is given (GPT-2 was trained with <|endoftext|> as a
    separator), else r + r. n is reduced so the sequence fits the model's context.
    """
    prefix = [] if bos is None else [bos]
    n = min(n, (model.config.block_size - len(prefix)) // 2)
    exclude = None if bos is None else {bos}
    tokens = repeated_random_tokens(model.config.vocab_size, n, seed, prefix, exclude)
    _, cache = model.run_with_cache(torch.tensor([tokens], device=model.device), logits_for="none")
    p = stack_patterns(cache)
    return HeadScores(
        previous_token=previous_token_score(p),
        first_token=first_token_score(p),
        duplicate_token=duplicate_token_score(p, tokens),
        induction=induction_score(p, n, offset=len(prefix)),
        tokens=tokens,
        patterns=p,
        offset=len(prefix),
    )


@dataclass(frozen=True)
class Candidate:
    token: int
    text: str
    prob: float
    logit: float


def top_next_tokens(logits: torch.Tensor, tokenizer: Tokenizer, k: int = 10) -> list[Candidate]:
    """The k most likely next tokens for one position's logits (V,), softmax over the whole vocabulary."""
    probs = torch.softmax(logits.float(), dim=-1)
    top = torch.topk(probs, min(k, probs.numel()))
    return [
        Candidate(int(i), tokenizer.token_strs([int(i)])[0], float(p), float(logits[i]))
        for p, i in zip(top.values, top.indices, strict=True)
    ]
