"""Choosing the next token: the sampling distribution, seeded draws, and step-by-step generation.

Every setting that shapes the distribution is an argument here (temperature, top-k, top-p);
there is no hidden repetition penalty. Probabilities are always over the full vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .model import GPT


@dataclass(frozen=True)
class Distribution:
    """Every stage from logits to the probabilities a token is drawn from (all over the vocabulary)."""

    logits: torch.Tensor  # (V,) raw scores from the model
    probs: torch.Tensor  # (V,) softmax(logits): the model's own distribution, temperature 1
    tempered: torch.Tensor  # (V,) softmax(logits / T); equals probs when T == 1
    kept: torch.Tensor  # (V,) bool: survived top-k and top-p (one True when greedy)
    final: torch.Tensor  # (V,) tempered renormalised over kept tokens; what is sampled from
    temperature: float
    top_k: int | None
    top_p: float | None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def entropy(self, which: str = "probs") -> float:
        """Entropy in nats of one stage ("probs", "tempered" or "final")."""
        p = getattr(self, which)
        nz = p[p > 0]
        return float(-(nz * nz.log()).sum())

    def rank_of(self, token: int) -> int:
        """1-based rank of ``token`` under the model's own distribution."""
        return int((self.probs > self.probs[token]).sum()) + 1


def next_token_distribution(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Distribution:
    """Apply temperature, then top-k, then top-p to one position's logits.

    temperature 0 means greedy (all mass on the arg-max). top_k None or 0 keeps every token;
    top_p None or 1 keeps every token. top-p keeps the smallest set of most likely tokens
    whose tempered probabilities add up to at least p (always at least one token).
    """
    if logits.dim() != 1:
        raise ValueError(f"expected logits of one position, shape (V,), got {tuple(logits.shape)}")
    if temperature < 0:
        raise ValueError("temperature must be 0 (greedy) or positive")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError("top_p must be in (0, 1]")
    logits = logits.detach().float().cpu()
    probs = torch.softmax(logits, dim=-1)
    V = logits.numel()
    if temperature == 0:
        kept = torch.zeros(V, dtype=torch.bool)
        kept[int(torch.argmax(logits))] = True
        return Distribution(logits, probs, probs, kept, kept.float(), 0.0, top_k, top_p)

    tempered = torch.softmax(logits / temperature, dim=-1)
    kept = torch.ones(V, dtype=torch.bool)
    order = torch.argsort(tempered, descending=True, stable=True)
    if top_k:
        kept[order[top_k:]] = False
    if top_p is not None and top_p < 1:
        sorted_p = tempered[order] * kept[order]
        before = torch.cumsum(sorted_p, 0) - sorted_p  # mass strictly before each token
        drop = before >= top_p  # the first token is never dropped (before == 0)
        kept[order[drop]] = False
    final = tempered * kept
    final = final / final.sum()
    return Distribution(logits, probs, tempered, kept, final, float(temperature), top_k, top_p)


@dataclass(frozen=True)
class Draw:
    token: int
    u: float  # the uniform random number drawn in [0, 1)
    order: torch.Tensor  # token ids by decreasing final probability
    cumulative: torch.Tensor  # cumulative final probability along ``order``


def draw(dist: Distribution, generator: torch.Generator | None = None) -> Draw:
    """Pick a token by inverse-CDF sampling: draw u ~ U[0,1) and walk the sorted cumulative sum.

    Greedy distributions return the arg-max and u = 0. The same generator state gives the same token.
    """
    if dist.greedy:
        # All the mass on one token: the order a stable sort gives is that token, then every other id
        # ascending; built directly, as sorting the whole vocabulary at every step costs milliseconds.
        token = int(torch.argmax(dist.final))
        ids = torch.arange(dist.final.numel())
        order = torch.cat([ids[token : token + 1], ids[:token], ids[token + 1 :]])
        return Draw(token, 0.0, order, torch.ones(dist.final.numel()))
    order = torch.argsort(dist.final, descending=True, stable=True)
    cumulative = torch.cumsum(dist.final[order], 0)
    u = 0.0 if dist.greedy else float(torch.rand((), generator=generator))
    i = int(torch.searchsorted(cumulative, torch.tensor(u), right=True))
    i = min(i, int(dist.kept.sum()) - 1)  # guard against float round-off at the very end
    return Draw(int(order[i]), u, order, cumulative)


@dataclass(frozen=True)
class Step:
    """One generated token and the choice it came from."""

    index: int  # 0 for the first generated token
    token: int
    rank: int  # 1-based rank under the model's own distribution
    prob: float  # probability of the token under the model's own distribution
    u: float
    distribution: Distribution
    cropped: bool  # True when the context was full and the oldest tokens slid out


def generate_steps(
    model: GPT,
    ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = 0,
    eot_token: int | None = None,
    use_kv_cache: bool = True,
) -> Iterator[Step]:
    """Yield one Step per new token; stops at ``eot_token`` (after yielding it) or after max_new_tokens.

    With the KV cache each step feeds only the newest token. When the context is full the
    oldest tokens slide out and the next step recomputes from scratch (positions changed).
    """
    if not ids:
        raise ValueError("generation needs at least one token to start from")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    block = model.config.block_size
    seq = list(ids)
    past = None
    with torch.no_grad():
        for index in range(max_new_tokens):
            cropped = len(seq) > block
            if past is None or not use_kv_cache or cropped:
                context = seq[-block:]
                logits, past = model(torch.tensor([context], device=model.device), logits_for="last")
            else:
                logits, past = model(torch.tensor([seq[-1:]], device=model.device), past_kv=past)
            dist = next_token_distribution(logits[0, -1], temperature, top_k, top_p)
            d = draw(dist, generator)
            yield Step(index, d.token, dist.rank_of(d.token), float(dist.probs[d.token]), d.u, dist, cropped)
            seq.append(d.token)
            if past is not None and past[0][0].shape[2] >= block:
                past = None  # the next token would not fit: recompute on the cropped window
            if eot_token is not None and d.token == eot_token:
                return


def generate(model: GPT, ids: list[int], max_new_tokens: int, **kwargs) -> list[int]:
    """The new token ids (see generate_steps for the arguments)."""
    return [s.token for s in generate_steps(model, ids, max_new_tokens, **kwargs)]
