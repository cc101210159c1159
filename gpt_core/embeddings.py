"""Embeddings: from token ids to the vectors the transformer works on, and what those vectors hold.

Everything here reads the model's own weights (``wte``, ``wpe``, LayerNorm γ and β) or one prompt's
ActivationCache, and returns small dataclasses of every step, so pages only draw. Nothing is
written to the model: it is shared by every session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .cache import ActivationCache
from .model import GPT
from .tokenizer import Tokenizer

# Reference words for the 2-D map, in order of preference; each is tried with a leading space (as it
# appears mid-sentence). Only those that are one token in the loaded tokenizer are used by default.
REFERENCE_CANDIDATES = (
    "king", "queen", "lord", "lady", "man", "woman", "father", "mother", "son", "daughter", "brother",
    "sister", "he", "she", "thou", "you", "love", "hate", "death", "life", "night", "day", "one", "two",
    "three", "good", "sweet", "fair", "blood", "war", "peace",
)


def token_label(tokenizer: Tokenizer, token_id: int) -> str:
    """The token's text, or its bytes in hex (``<e2 80>``) when it is only part of a UTF-8 character."""
    raw = tokenizer.token_bytes(token_id)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "<" + raw.hex(" ") + ">"


# --- Lookup: one row of wte per token, one row of wpe per position, and their sum ----------------------------


@dataclass(frozen=True)
class Lookup:
    """Rows start..stop of one prompt's embedding lookup, read from the model's weights."""

    ids: list[int]  # the token ids of positions start..stop
    start: int  # the first position
    token_rows: torch.Tensor  # (n, d_model): wte[ids]
    pos_rows: torch.Tensor  # (n, d_model): wpe[start..stop]

    @property
    def total(self) -> torch.Tensor:
        """What block 0 receives: token embedding + position embedding, (n, d_model)."""
        return self.token_rows + self.pos_rows

    def max_error(self, cache: ActivationCache, batch: int = 0) -> float:
        """Largest |sum − the model's own input to block 0| (``blocks.0.hook_resid_pre``) over these rows."""
        ref = cache["blocks.0.hook_resid_pre"][batch, self.start : self.start + len(self.ids)]
        return float((self.total - ref.float()).abs().max())


def embedding_lookup(model: GPT, ids: list[int], start: int = 0, stop: int | None = None) -> Lookup:
    """The embedding rows of positions start..stop of ``ids`` (positions count from 0, as in the model)."""
    stop = len(ids) if stop is None else stop
    if not 0 <= start < stop <= len(ids):
        raise ValueError(f"Positions {start}..{stop} do not fit a text of {len(ids)} tokens.")
    if stop > model.config.block_size:
        raise ValueError(f"The model has {model.config.block_size} positions; position {stop - 1} does not exist.")
    wte, wpe = model.transformer.wte.weight, model.transformer.wpe.weight
    window = list(ids[start:stop])
    idx = torch.tensor(window, dtype=torch.long, device=wte.device)
    return Lookup(
        ids=window,
        start=start,
        token_rows=wte[idx].detach().float().cpu(),  # indexing copies: the weights stay untouched
        pos_rows=wpe[start:stop].detach().float().cpu().clone(),
    )


# --- Nearest neighbours by cosine similarity over the whole vocabulary --------------------------------------


@dataclass(frozen=True)
class Neighbour:
    rank: int  # 1 = most similar
    token: int
    label: str
    cosine: float


class EmbeddingIndex:
    """Cosine similarity of any vector with every row of the token-embedding matrix, vectorised.

    Keeps a reference to the (read-only) weight and the norm of each row, and divides by the norms at
    query time: cos(w_i, v) = (W v)_i / (‖w_i‖ ‖v‖). This gives the same numbers as a normalised copy of
    W without a second vocabulary-sized matrix (154 MB for GPT-2). Build one per model and cache it.
    """

    def __init__(self, weight: torch.Tensor, n_tokens: int | None = None):
        n = weight.shape[0] if n_tokens is None else min(n_tokens, weight.shape[0])
        self.weight = weight.detach()[:n]  # a view: no copy, never written
        self.norms = self.weight.float().norm(dim=1).clamp_min(1e-12)  # (V,)

    @classmethod
    def for_model(cls, model: GPT, tokenizer: Tokenizer) -> EmbeddingIndex:
        """An index over the rows the tokenizer can produce (a model may pad its vocabulary)."""
        return cls(model.transformer.wte.weight, tokenizer.n_vocab)

    @property
    def n_tokens(self) -> int:
        return self.weight.shape[0]

    def similarities(self, vector: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of ``vector`` (d_model,) with every token's embedding: (V,) on the CPU."""
        v = vector.to(self.weight.device, self.weight.dtype).reshape(-1)
        if v.shape[0] != self.weight.shape[1]:
            raise ValueError(f"A vector of {v.shape[0]} numbers cannot be compared with embeddings of "
                             f"{self.weight.shape[1]}.")
        dots = (self.weight @ v).float()  # (V,)
        return (dots / (self.norms * v.float().norm().clamp_min(1e-12))).cpu()

    def nearest(self, token_id: int, k: int = 10, include_self: bool = False) -> list[tuple[int, float]]:
        """The k tokens whose embeddings point most nearly the same way as ``token_id``'s, best first."""
        if not 0 <= token_id < self.n_tokens:
            raise ValueError(f"Token id {token_id} is outside the vocabulary of {self.n_tokens} tokens.")
        sims = self.similarities(self.weight[token_id])
        if not include_self:
            sims[token_id] = -math.inf
        top = torch.topk(sims, min(k, self.n_tokens - (0 if include_self else 1)))
        return [(int(i), float(s)) for s, i in zip(top.values, top.indices, strict=True)]


def nearest_neighbours(index: EmbeddingIndex, tokenizer: Tokenizer, token_id: int, k: int = 10) -> list[Neighbour]:
    """The k nearest tokens to ``token_id`` by cosine similarity of their embeddings, labelled."""
    return [
        Neighbour(rank, i, token_label(tokenizer, i), s)
        for rank, (i, s) in enumerate(index.nearest(token_id, k), 1)
    ]


# --- PCA -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """Principal components of a set of vectors: coordinates of each vector and variance explained."""

    coords: torch.Tensor  # (n, k): each vector's coordinate on each component
    explained: torch.Tensor  # (k,): fraction of the total variance along each component
    components: torch.Tensor  # (k, d): unit directions


EXACT_PCA_LIMIT = 512  # above this many rows and columns, the top components come from a seeded randomized SVD


def _top_components(xc: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest eigenvalues of xcᵀxc and their eigenvectors (d, k), largest first."""
    n, d = xc.shape
    if min(n, d) <= EXACT_PCA_LIMIT:
        if n <= d:  # eigenvectors of the n × n Gram matrix, mapped back to d dimensions
            vals, u = torch.linalg.eigh(xc @ xc.T)  # ascending
            vals, u = vals.flip(0)[:k].clamp_min(0), u.flip(1)[:, :k]
            return vals, (xc.T @ u) / vals.sqrt().clamp_min(1e-12)
        vals, v = torch.linalg.eigh(xc.T @ xc)
        return vals.flip(0)[:k].clamp_min(0), v.flip(1)[:, :k]
    # Randomized SVD (Halko et al. 2011) with its own seeded generator: deterministic, and the global RNG that
    # sampling uses is never touched. Six power iterations make the top few components exact to float precision
    # for any matrix whose leading singular values are not tied.
    g = torch.Generator().manual_seed(0)
    y = xc @ torch.randn(d, k + 10, generator=g, dtype=xc.dtype)  # (n, k + 10)
    for _ in range(6):
        y = xc @ (xc.T @ torch.linalg.qr(y).Q)
    q = torch.linalg.qr(y).Q
    _, sv, vt = torch.linalg.svd(q.T @ xc, full_matrices=False)
    return sv[:k] ** 2, vt[:k].T


def pca(vectors: torch.Tensor, k: int = 2) -> Projection:
    """PCA of ``vectors`` (n, d), deterministic, in float64.

    Exact (eigenvectors of the smaller of the Gram and covariance matrices) up to EXACT_PCA_LIMIT rows and
    columns, else a seeded randomized SVD of the top k. Each component's sign is fixed so its largest-magnitude
    entry is positive, so plots do not flip between runs.
    """
    x = vectors.detach().cpu().double()  # to the CPU first: MPS has no float64
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"PCA needs at least two vectors in an (n, d) array; got shape {tuple(x.shape)}.")
    n, d = x.shape
    k = min(k, n - 1, d)
    xc = x - x.mean(0)
    total = (xc**2).sum()
    vals, comps = _top_components(xc, k)
    flip = torch.sign(comps.gather(0, comps.abs().argmax(0, keepdim=True))).squeeze(0)
    comps = comps * torch.where(flip == 0, 1.0, flip)
    coords = xc @ comps
    explained = vals / total if total > 0 else torch.zeros_like(vals)
    return Projection(coords.float(), explained.float(), comps.T.float())


@dataclass(frozen=True)
class ReferenceWord:
    word: str
    ids: list[int]  # one id when the word is a single token, else its pieces
    pieces: list[str]

    @property
    def single(self) -> bool:
        return len(self.ids) == 1


def reference_words(tokenizer: Tokenizer, words: list[str]) -> list[ReferenceWord]:
    """Each word as the tokenizer reads it mid-sentence (with a leading space); empty words skipped."""
    out = []
    for word in words:
        w = word.strip()
        if w:
            ids = tokenizer.encode(" " + w)
            out.append(ReferenceWord(w, ids, [token_label(tokenizer, i) for i in ids]))
    return out


def default_reference_words(tokenizer: Tokenizer, n: int = 20) -> list[str]:
    """Up to n of REFERENCE_CANDIDATES that are a single token in ``tokenizer``."""
    return [w for w in REFERENCE_CANDIDATES if len(tokenizer.encode(" " + w)) == 1][:n]


YOUR_TEXT, REFERENCE, PIECE = "your text", "reference word", "piece of a reference word"


@dataclass(frozen=True)
class TokenMap:
    """The 2-D PCA map of some token embeddings: the prompt's tokens and reference words."""

    ids: list[int]
    labels: list[str]  # the token's text (a reference word: the word itself)
    words: list[str]  # for a piece, the reference word it belongs to; else ""
    groups: list[str]  # YOUR_TEXT, REFERENCE or PIECE, per point
    projection: Projection  # fitted on exactly these points
    split: list[ReferenceWord]  # reference words that are several tokens, drawn piece by piece
    n_prompt_unique: int  # distinct tokens in the prompt (the map shows at most max_prompt of them)

    @property
    def n_prompt_shown(self) -> int:
        return sum(g == YOUR_TEXT for g in self.groups)


def token_map(model: GPT, tokenizer: Tokenizer, prompt_ids: list[int], words: list[str],
              max_prompt: int = 40) -> TokenMap:
    """PCA of the token embeddings of the prompt's distinct tokens (the first ``max_prompt``) and ``words``.

    A word that is one token is one point; a word the tokenizer splits is drawn as its pieces, each
    with its word beside it. A token already on the map is not drawn twice.
    """
    unique = list(dict.fromkeys(prompt_ids))
    ids = unique[:max_prompt]
    labels = [token_label(tokenizer, i) for i in ids]
    of_word, groups = [""] * len(ids), [YOUR_TEXT] * len(ids)
    refs = reference_words(tokenizer, words)
    for ref in refs:
        for i, piece in zip(ref.ids, ref.pieces, strict=True):
            if i not in ids:
                ids.append(i)
                labels.append(ref.word if ref.single else piece)
                of_word.append("" if ref.single else ref.word)
                groups.append(REFERENCE if ref.single else PIECE)
    if len(ids) < 3:
        raise ValueError("The map needs at least three different tokens; add some reference words.")
    wte = model.transformer.wte.weight
    vectors = wte[torch.tensor(ids, dtype=torch.long, device=wte.device)].detach()
    return TokenMap(ids, labels, of_word, groups, pca(vectors, 2), [r for r in refs if not r.single], len(unique))


def default_query(labels: list[str]) -> int:
    """Index of the first label that looks like a word (3+ letters), else 0: a good first token to explore."""
    for i, label in enumerate(labels):
        if sum(c.isalpha() for c in label) >= 3:
            return i
    return 0


# --- Positions ----------------------------------------------------------------------------------------------


def sampled_positions(start: int, stop: int, limit: int) -> list[int]:
    """Positions start..stop, every s-th one with the smallest s that keeps at most ``limit`` of them."""
    if not 0 <= start < stop or limit < 1:
        raise ValueError(f"Cannot sample positions {start}..{stop} (limit {limit}).")
    step = math.ceil((stop - start) / limit)
    return list(range(start, stop, step))


def cosine_matrix(rows: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of rows of (n, d): (n, n), 1 on the diagonal."""
    unit = rows.float() / rows.float().norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def position_similarity(model: GPT, positions: list[int]) -> torch.Tensor:
    """Cosine similarity between the learned position embeddings of ``positions``: (P, P)."""
    wpe = model.transformer.wpe.weight
    idx = torch.tensor(positions, dtype=torch.long, device=wpe.device)
    return cosine_matrix(wpe[idx].detach()).cpu()


def position_components(model: GPT, k: int = 3) -> Projection:
    """PCA of all block_size position embeddings: each position's coordinate on the first k components."""
    return pca(model.transformer.wpe.weight.detach(), k)


# --- LayerNorm, step by step --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNormSteps:
    """One LayerNorm on one token's vector, every step, computed in float64 from the module's own γ, β, ε."""

    where: str  # "blocks.0.ln1", "blocks.0.ln2" or "ln_final"
    input_name: str  # the activation it reads
    position: int
    x: torch.Tensor  # (d,) the vector before
    mean: float
    var: float  # biased: the mean of squared deviations (divides by d, not d - 1)
    eps: float
    std: float  # sqrt(var + eps), the one LayerNorm divides by
    centered: torch.Tensor  # x - mean
    normalized: torch.Tensor  # (x - mean) / std
    gamma: torch.Tensor
    beta: torch.Tensor
    y: torch.Tensor  # gamma * normalized + beta
    reference: torch.Tensor  # the model's own output from the forward pass

    @property
    def max_error(self) -> float:
        """Largest |y - the model's own output| over the d numbers."""
        return float((self.y - self.reference.double()).abs().max())


def layer_norm_names(n_layer: int) -> list[str]:
    """Every LayerNorm of the model, in the order the forward pass meets them."""
    return [f"blocks.{i}.{ln}" for i in range(n_layer) for ln in ("ln1", "ln2")] + ["ln_final"]


def layernorm_steps(model: GPT, cache: ActivationCache, where: str, position: int, batch: int = 0) -> LayerNormSteps:
    """Work out LayerNorm ``where`` for the token at ``position`` of a cached forward pass."""
    n_layer = model.config.n_layer
    if where == "ln_final":
        module, input_name = model.transformer.ln_f, f"blocks.{n_layer - 1}.hook_resid_post"
        out_name = "ln_final.hook_normalized"
    else:
        parts = where.split(".")
        if len(parts) != 3 or parts[0] != "blocks" or not parts[1].isdigit() or parts[2] not in ("ln1", "ln2"):
            raise ValueError(f"Unknown LayerNorm {where!r}; expected one of {layer_norm_names(n_layer)}.")
        layer, ln = int(parts[1]), parts[2]
        if layer >= n_layer:
            raise ValueError(f"The model has {n_layer} blocks; there is no block {layer}.")
        block = model.transformer.h[layer]
        module = block.ln_1 if ln == "ln1" else block.ln_2
        input_name = f"blocks.{layer}.hook_resid_pre" if ln == "ln1" else f"blocks.{layer}.hook_resid_mid"
        out_name = f"{where}.hook_normalized"
    x_all = cache[input_name][batch]
    if not 0 <= position < x_all.shape[0]:
        raise ValueError(f"Position {position} is outside the text's {x_all.shape[0]} tokens.")
    x = x_all[position].double()
    mean = x.mean()
    centered = x - mean
    var = (centered**2).mean()  # biased, as torch.nn.LayerNorm
    eps = float(module.eps)
    std = torch.sqrt(var + eps)
    normalized = centered / std
    gamma = module.weight.detach().cpu().double()
    beta = module.bias.detach().cpu().double()
    return LayerNormSteps(
        where=where, input_name=input_name, position=position, x=x, mean=float(mean), var=float(var), eps=eps,
        std=float(std), centered=centered, normalized=normalized, gamma=gamma, beta=beta,
        y=gamma * normalized + beta, reference=cache[out_name][batch][position],
    )


# --- The residual stream ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidualNorms:
    """Lengths (L2 norms) of the residual stream and of what each block adds to it, per token."""

    resid: torch.Tensor  # (n_layer + 1, T): before block 0, then after each block
    attn: torch.Tensor  # (n_layer, T): ‖attention output‖ added in each block
    mlp: torch.Tensor  # (n_layer, T): ‖MLP output‖ added in each block
    max_error: float  # largest |resid_post - (resid_pre + attn_out + mlp_out)| over every number

    def of_token(self, position: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(attn (L,), mlp (L,), resid (L + 1,)) for one position, or averaged over all tokens when None."""
        if position is None:
            return self.attn.mean(1), self.mlp.mean(1), self.resid.mean(1)
        return self.attn[:, position], self.mlp[:, position], self.resid[:, position]


def residual_norms(cache: ActivationCache, batch: int = 0) -> ResidualNorms:
    """Norms of the residual stream after every block, and of each block's attention and MLP outputs."""
    L = cache.n_layer
    resid = [cache["blocks.0.hook_resid_pre"][batch].norm(dim=-1)]
    attn, mlp, error = [], [], 0.0
    for i in range(L):  # one layer at a time: no (L, T, d) copies of the stream
        p = f"blocks.{i}."
        pre, a, m, post = (cache[p + n][batch] for n in ("hook_resid_pre", "hook_attn_out", "hook_mlp_out",
                                                          "hook_resid_post"))
        error = max(error, float((post - (pre + a + m)).abs().max()))
        resid.append(post.norm(dim=-1))
        attn.append(a.norm(dim=-1))
        mlp.append(m.norm(dim=-1))
    return ResidualNorms(resid=torch.stack(resid), attn=torch.stack(attn), mlp=torch.stack(mlp), max_error=error)
