"""The attention formula worked with one head's real numbers, taken from a forward pass's cache.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V,   M = 0 on/below the diagonal, −∞ above.

Every function here starts from the cached activations (``hook_q``, ``hook_k``, ``hook_v``,
``hook_pattern``, ``hook_z``, ``hook_attn_out``) or the model's own weights, and returns each
intermediate step so a page can show it; nothing here draws. Also: the dot product behind one
score, term by term; a widely copied wrong formula computed next to the right one; patterns
with position 0 hidden and rows renormalised; and CSV rows for export.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import torch

from .cache import ActivationCache
from .model import GPT


def causal_mask(T: int) -> torch.Tensor:
    """M: (T, T), 0 where key j <= query i (allowed), −∞ above the diagonal (the future)."""
    return torch.full((T, T), float("-inf")).triu(diagonal=1)


@dataclass(frozen=True)
class HeadWork:
    """softmax(Q Kᵀ / √d_k + M) V for one head of one layer, every step kept. Shapes for T tokens."""

    layer: int
    head: int
    q: torch.Tensor  # (T, d_k) queries, from hook_q
    k: torch.Tensor  # (T, d_k) keys, from hook_k
    v: torch.Tensor  # (T, d_k) values, from hook_v
    scores: torch.Tensor  # (T, T) Q Kᵀ
    scaled: torch.Tensor  # (T, T) Q Kᵀ / √d_k
    mask: torch.Tensor  # (T, T) M
    masked: torch.Tensor  # (T, T) Q Kᵀ / √d_k + M
    pattern: torch.Tensor  # (T, T) softmax over each row: the attention weights
    z: torch.Tensor  # (T, d_k) pattern @ V: this head's output

    @property
    def d_k(self) -> int:
        return self.q.shape[-1]

    @property
    def n_tokens(self) -> int:
        return self.q.shape[0]


def _check(cache: ActivationCache, layer: int, head: int, batch: int) -> None:
    if not 0 <= layer < cache.n_layer:
        raise ValueError(f"Layer {layer} does not exist: the model has layers 0..{cache.n_layer - 1}.")
    n_head = cache[f"blocks.{layer}.attn.hook_q"].shape[2]
    if not 0 <= head < n_head:
        raise ValueError(f"Head {head} does not exist: each layer has heads 0..{n_head - 1}.")
    n_batch = cache[f"blocks.{layer}.attn.hook_q"].shape[0]
    if not 0 <= batch < n_batch:
        raise ValueError(f"Sequence {batch} is not in the cache, which holds {n_batch}.")


def work_head(cache: ActivationCache, layer: int, head: int, batch: int = 0) -> HeadWork:
    """Recompute one head's attention from its cached Q, K and V, keeping every step."""
    _check(cache, layer, head, batch)
    p = f"blocks.{layer}.attn."
    q = cache[p + "hook_q"][batch, :, head].float()  # (T, d_k)
    k = cache[p + "hook_k"][batch, :, head].float()
    v = cache[p + "hook_v"][batch, :, head].float()
    scores = q @ k.T  # (T, T)
    scaled = scores / math.sqrt(q.shape[-1])
    mask = causal_mask(q.shape[0])
    masked = scaled + mask
    pattern = torch.softmax(masked, dim=-1)  # each row sums to 1 over keys 0..i
    return HeadWork(layer, head, q, k, v, scores, scaled, mask, masked, pattern, pattern @ v)


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference between two tensors of one shape (−∞ matching −∞ counts as 0)."""
    if a.shape != b.shape:
        raise ValueError(f"Cannot compare shapes {tuple(a.shape)} and {tuple(b.shape)}.")
    both_inf = torch.isinf(a) & torch.isinf(b) & (a.sign() == b.sign())
    diff = (a.double() - b.double()).abs().masked_fill(both_inf, 0.0)
    return float(diff.max()) if diff.numel() else 0.0


def model_checks(work: HeadWork, cache: ActivationCache, batch: int = 0) -> dict[str, float]:
    """How far each recomputed step is from what the model itself stored during the forward pass."""
    p = f"blocks.{work.layer}.attn."
    return {
        "scores": max_difference(work.masked, cache[p + "hook_attn_scores"][batch, work.head].float()),
        "pattern": max_difference(work.pattern, cache[p + "hook_pattern"][batch, work.head].float()),
        "z": max_difference(work.z, cache[p + "hook_z"][batch, :, work.head].float()),
    }


@dataclass(frozen=True)
class DotProduct:
    """q · k written out: the d_k products q[d]·k[d], the largest of them, and the sum of the rest."""

    q: torch.Tensor  # (d_k,)
    k: torch.Tensor  # (d_k,)
    terms: torch.Tensor  # (d_k,) q * k
    shown: list[int]  # dimensions written out, in order (all of them when d_k is small)
    rest: float  # sum of the terms not shown
    total: float  # q · k

    @property
    def n_hidden(self) -> int:
        return self.terms.numel() - len(self.shown)


def dot_product(q: torch.Tensor, k: torch.Tensor, max_terms: int = 8) -> DotProduct:
    """The dot product of two vectors, keeping the ``max_terms`` largest terms (by size) to write out."""
    if q.shape != k.shape or q.ndim != 1:
        raise ValueError(f"A dot product needs two vectors of one length; got {tuple(q.shape)} and {tuple(k.shape)}.")
    terms = q.double() * k.double()
    if terms.numel() <= max_terms:
        shown = list(range(terms.numel()))
    else:
        shown = sorted(torch.topk(terms.abs(), max_terms).indices.tolist())
    rest = float(terms.sum() - terms[shown].sum())
    return DotProduct(q, k, terms, shown, rest, float(terms.sum()))


@dataclass(frozen=True)
class CellWork:
    """One cell (query i, key j) of one head, from its dot product to its share of the output."""

    query: int
    key: int
    d_k: int
    dot: DotProduct  # q_i · k_j
    scaled: float  # q_i · k_j / √d_k
    allowed: bool  # j <= i; otherwise M adds −∞ and the weight is exactly 0
    row_max: float  # largest scaled score in row i (subtracted before exp: same softmax, no overflow)
    exp: float  # exp(scaled − row_max), 0 when masked
    denominator: float  # Σ over keys j' <= i of exp(scaled_ij' − row_max)
    weight: float  # exp / denominator = pattern[i, j]
    v: torch.Tensor  # (d_k,) the value vector of key j
    contribution: torch.Tensor  # (d_k,) weight · v_j: what key j adds to z_i
    z: torch.Tensor  # (d_k,) z_i = Σ_j pattern[i, j] v_j


def work_cell(work: HeadWork, query: int, key: int, max_terms: int = 8) -> CellWork:
    """Follow one score through the formula: q_i·k_j, ÷√d_k, + M, softmax over row i, × v_j."""
    T = work.n_tokens
    if not (0 <= query < T and 0 <= key < T):
        raise ValueError(f"Cell ({query}, {key}) is outside the {T} × {T} pattern.")
    dot = dot_product(work.q[query], work.k[key], max_terms)
    row = work.scaled[query, : query + 1].double()  # the keys query i may see
    row_max = float(row.max())
    exps = torch.exp(row - row_max)
    allowed = key <= query
    e = float(exps[key]) if allowed else 0.0
    denominator = float(exps.sum())
    weight = e / denominator
    v = work.v[key]
    return CellWork(query, key, work.d_k, dot, dot.total / math.sqrt(work.d_k), allowed, row_max, e,
                    denominator, weight, v, weight * v, work.z[query])


@dataclass(frozen=True)
class Projection:
    """The layer's heads concatenated and projected: out = concat(z_1 … z_h) W_O + b_O."""

    concat: torch.Tensor  # (T, n_head · d_head)
    w: torch.Tensor  # (n_head · d_head, d_model), laid out so out = concat @ w + b
    b: torch.Tensor  # (d_model,)
    out: torch.Tensor  # (T, d_model)
    per_head: torch.Tensor  # (n_head, T, d_model): z_h @ W_O rows of head h; they sum to out − b
    reference: float  # max difference from the model's hook_attn_out


def output_weights(model: GPT, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """W_O (in, out) and b_O of one layer's output projection, detached copies on the CPU."""
    proj = model.transformer.h[layer].attn.c_proj
    return proj.weight.detach().T.float().cpu().clone(), proj.bias.detach().float().cpu().clone()


def project_heads(cache: ActivationCache, w: torch.Tensor, b: torch.Tensor, layer: int, batch: int = 0) -> Projection:
    """Concatenate the cached outputs of every head of ``layer`` and apply W_O, b_O."""
    z = cache[f"blocks.{layer}.attn.hook_z"][batch].float()  # (T, nh, d_head)
    T, n_head, d_head = z.shape
    if w.shape[0] != n_head * d_head:
        raise ValueError(f"W_O has {w.shape[0]} rows but the heads give {n_head} × {d_head} = {n_head * d_head}.")
    concat = z.reshape(T, n_head * d_head)  # heads side by side
    out = concat @ w + b
    per_head = torch.einsum("thd,hdm->htm", z, w.reshape(n_head, d_head, -1))
    ref = max_difference(out, cache[f"blocks.{layer}.hook_attn_out"][batch].float())
    return Projection(concat, w, b, out, per_head, ref)


def head_output_norms(proj: Projection, query: int) -> torch.Tensor:
    """Length of each head's share z_h W_O of the attention output at one position: (n_head,)."""
    return proj.per_head[:, query].norm(dim=-1)


def worst_row_sum_error(pattern: torch.Tensor) -> float:
    """Largest distance of a row sum of ``pattern`` from 1."""
    return float((pattern.double().sum(-1) - 1).abs().max())


def query_rows(cache: ActivationCache, layer: int, query: int, batch: int = 0) -> torch.Tensor:
    """What every head of ``layer`` attends to from one query position: (head, key)."""
    return cache.pattern(layer, batch)[:, query, :]


def without_first(pattern: torch.Tensor) -> torch.Tensor:
    """Hide key position 0 and renormalise each row over the other keys (same shape as ``pattern``).

    Row 0 can only see position 0, so it has nothing left and becomes NaN; so does any row that gave
    position 0 all its weight.
    """
    rest = pattern.clone()
    rest[..., 0] = 0.0
    total = rest.sum(-1, keepdim=True)
    return torch.where(total > 0, rest / total.clamp_min(1e-30), torch.full_like(rest, float("nan")))


def window(pattern: torch.Tensor, start: int, stop: int, hide_first: bool = False) -> torch.Tensor:
    """Queries and keys start..stop of (..., T, T) patterns; with ``hide_first``, each row is first
    renormalised over all its keys but position 0 (also those left of the window)."""
    rows = pattern[..., start:stop, :]
    return (without_first(rows) if hide_first else rows)[..., start:stop]


def window_patterns(cache: ActivationCache, start: int, stop: int, hide_first: bool = False,
                    batch: int = 0) -> torch.Tensor:
    """Every head's pattern over positions start..stop: (layer, head, stop - start, stop - start).

    Built layer by layer from the windows only, so a long text never stacks all full patterns at once.
    """
    return torch.stack([window(cache.pattern(layer, batch), start, stop, hide_first) for layer in range(cache.n_layer)])


def sink_scores(cache: ActivationCache, batch: int = 0) -> torch.Tensor:
    """Mean attention to position 0 from every later position, per head: (layer, head)."""
    T = cache.pattern(0, batch).shape[-1]
    if T < 2:
        return torch.zeros(cache.n_layer, cache.pattern(0, batch).shape[0])
    return torch.stack([cache.pattern(layer, batch)[:, 1:, 0].mean(-1) for layer in range(cache.n_layer)])


def first_token_share(patterns: torch.Tensor) -> float:
    """Share of all attention, over every head and every query after the first, that lands on position 0."""
    if patterns.shape[-1] < 2:
        return 0.0
    return float(patterns[..., 1:, 0].mean())


def top_key(row: torch.Tensor) -> tuple[int, float]:
    """The key a row of attention weights gives most to, and that weight."""
    j = int(torch.argmax(row))
    return j, float(row[j])


@dataclass(frozen=True)
class WrongFormula:
    """exp(QKᵀ/√d_k) / (KᵀKᵀ + ε), a version printed in many explanations, computed beside the right one.

    As printed, KᵀKᵀ multiplies a (d_k × T) matrix by another (d_k × T) matrix, which is only defined
    when T = d_k. Otherwise the nearest product these letters allow with the right shape, K Kᵀ (T × T),
    is used, and ``literal`` is False.
    """

    literal: bool  # True when T = d_k and KᵀKᵀ could be computed as printed
    eps: float
    numerator: torch.Tensor  # (T, T) exp(QKᵀ/√d_k), no mask
    wrong: torch.Tensor  # (T, T) numerator / (denominator + ε)
    right: torch.Tensor  # (T, T) softmax(QKᵀ/√d_k + M)
    wrong_row_sums: torch.Tensor  # (T,)
    right_row_sums: torch.Tensor  # (T,)
    wrong_future: torch.Tensor  # (T,) weight the wrong version gives to later tokens (j > i)

    @property
    def worst_wrong(self) -> float:
        return float((self.wrong_row_sums - 1).abs().max())

    @property
    def worst_right(self) -> float:
        return float((self.right_row_sums - 1).abs().max())


def wrong_formula(work: HeadWork, eps: float = 1e-6) -> WrongFormula:
    """Compute the wrong formula on this head's own Q and K (in float64, so exp does not overflow)."""
    q, k = work.q.double(), work.k.double()
    T, d_k = k.shape
    numerator = torch.exp(q @ k.T / math.sqrt(d_k))  # no mask: later tokens get weight too
    literal = T == d_k
    denominator = k.T @ k.T if literal else k @ k.T  # as printed when the shapes allow, else K Kᵀ
    wrong = numerator / (denominator + eps)
    right = work.pattern.double()
    return WrongFormula(literal, eps, numerator, wrong, right, wrong.sum(-1), right.sum(-1),
                        wrong.triu(diagonal=1).sum(-1))


# --- export ---------------------------------------------------------------------------------------------


def to_csv(rows: list[dict]) -> str:
    """Rows of one shape as CSV text (header from the first row's keys)."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def pattern_rows(pattern: torch.Tensor, tokens: list[str]) -> list[dict]:
    """One row per (query, key) with key <= query: positions, tokens and the attention weight."""
    T = pattern.shape[0]
    return [
        {"query_pos": i, "query_token": tokens[i], "key_pos": j, "key_token": tokens[j],
         "weight": float(pattern[i, j])}
        for i in range(T) for j in range(i + 1)
    ]


def qkv_rows(work: HeadWork, tokens: list[str]) -> list[dict]:
    """One row per position: the token, then q_0.., k_0.., v_0.. and z_0.. of this head."""
    rows = []
    for i, tok in enumerate(tokens):
        row: dict = {"pos": i, "token": tok}
        for name, m in (("q", work.q), ("k", work.k), ("v", work.v), ("z", work.z)):
            row |= {f"{name}_{d}": float(x) for d, x in enumerate(m[i])}
        rows.append(row)
    return rows


def score_rows(scores: dict[str, torch.Tensor]) -> list[dict]:
    """One row per (layer, head) with every head-type score; ``scores`` maps name -> (layer, head)."""
    first = next(iter(scores.values()))
    return [
        {"layer": layer, "head": head} | {name: float(s[layer, head]) for name, s in scores.items()}
        for layer in range(first.shape[0]) for head in range(first.shape[1])
    ]
