"""A GPT-2-style decoder, written so every intermediate can be shown.

Read top to bottom: attention, MLP, block, model. Module names match the OpenAI / Hugging Face
GPT-2 checkpoints (wte, wpe, h, ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj,
ln_f, lm_head), so importing real weights is a short loop in weights.py.

Activations are captured by passing a plain dict down the forward call (``capture``). Nothing
is stored on the modules, so one model object can serve many users at once.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cache import ActivationCache, activation_names
from .config import GPTConfig

# past key/values of one layer: (k, v), each (B, nh, T_past, hs)
LayerKV = tuple[torch.Tensor, torch.Tensor]

LOGITS_FOR = ("all", "last", "none")  # which positions GPT.forward unembeds

# A pre-packed weight is used from this many rows (tokens) on. Below it the plain multiply is as fast: for one to
# three rows (a generated token with the KV cache) it runs a kernel of its own, from four rows on it takes 1.1-1.7×
# the packed time at GPT-2 small's shapes (bench/packed_first_pass.py).
PACKED_MIN_ROWS = 4
PACK_FOR_ROWS = 64  # the row count oneDNN is told to lay the weight out for (16 to 256 time the same at 4-256 rows)


class Linear(nn.Linear):
    """nn.Linear that, once ``pack()``-ed, multiplies by a copy of its weight laid out ahead of time.

    A plain CPU matrix multiply rearranges the weight into the blocks its kernel reads on every call;
    for prompt-sized inputs (4-256 rows) that costs 10-40 % of the time. ``pack()`` does it once
    (oneDNN's reorder, the format torch's own CPU inference compiler uses) and keeps the result beside
    the weight, which stays the one the app shows and trains. The packed copy is used only without
    gradients, for float32 inputs of at least PACKED_MIN_ROWS rows, and only while the weight is
    unchanged (its version counter and storage are checked on every call); otherwise, or if packing is
    not available on this build of torch, the plain multiply runs. Results agree with it to float32
    rounding (the sums are added up in another order). The first call at a new number of rows also
    sets up the packed kernel for that shape (about 3.5 ms a pass on 2 cores), so only large models
    gain overall (bench/packed_first_pass.py).
    """

    _packed: tuple[torch.Tensor, int, int] | None = None  # (packed weight, weight._version, data_ptr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed, w = self._packed, self.weight
        if (
            packed is not None
            and packed[1] == w._version
            and packed[2] == w.data_ptr()
            and x.numel() >= PACKED_MIN_ROWS * self.in_features
            and x.dtype == torch.float32
            and x.device.type == "cpu"
            and not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad))
        ):
            return torch.ops.mkldnn._linear_pointwise(x, packed[0], self.bias, "none", [], "")
        return F.linear(x, w, self.bias)

    @torch.no_grad()
    def pack(self) -> bool:
        """Lay the weight out ahead of time for CPU inference; False (and nothing kept) where not possible."""
        self._packed = None
        w = self.weight
        if w.device.type != "cpu" or w.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
            return False
        try:
            packed = torch.ops.mkldnn._reorder_linear_weight(w.detach(), PACK_FOR_ROWS)
            x = torch.randn(PACK_FOR_ROWS, self.in_features, generator=torch.Generator().manual_seed(0))
            got = torch.ops.mkldnn._linear_pointwise(x, packed, self.bias, "none", [], "")
            want = F.linear(x, w, self.bias)
        except (RuntimeError, AttributeError, NotImplementedError):
            return False
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()) + 1e-6):
            return False  # a build whose packed multiply does not agree is not used
        self._packed = (packed, w._version, w.data_ptr())
        return True


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = config.n_head
        self.d_head = config.d_head
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd)  # q, k, v for all heads at once
        self.c_proj = Linear(config.n_embd, config.n_embd)  # concatenated heads -> residual

    def forward(
        self,
        x: torch.Tensor,
        past: LayerKV | None = None,
        capture: dict | None = None,
        prefix: str = "",
    ) -> tuple[torch.Tensor, LayerKV]:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        q = q.view(B, T, self.n_head, self.d_head)  # (B, T, nh, hs)
        k = k.view(B, T, self.n_head, self.d_head)
        v = v.view(B, T, self.n_head, self.d_head)
        if capture is not None:
            capture[prefix + "hook_q"] = q
            capture[prefix + "hook_k"] = k
            capture[prefix + "hook_v"] = v
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh, T, hs)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, nh, T_past + T, hs)
            v = torch.cat([past[1], v], dim=2)
        T_all = k.shape[2]

        if capture is None:
            # Same math as the explicit branch below, fused; used for training and generation.
            # With a cache, query i sits at absolute position T_all - T + i; one new query sees every key.
            if T == T_all:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            elif T == 1:
                y = F.scaled_dot_product_attention(q, k, v)
            else:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=~_future(T, T_all, x.device))
        else:
            # softmax(Q Kᵀ / √d_k + M) V, written out so the pattern can be captured. The scores and
            # z (= y) are not: ActivationCache recomputes them from q, k and from pattern, v.
            pattern = torch.softmax(attention_scores(q, k), dim=-1)  # (B, nh, T, T_all), rows sum to 1
            y = pattern @ v  # (B, nh, T, hs)
            capture[prefix + "hook_pattern"] = pattern

        y = y.transpose(1, 2).reshape(B, T, C)  # concatenate heads: (B, T, C)
        return self.c_proj(y), (k, v)


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Q Kᵀ / √d_k + M: queries q (B, nh, T, hs) at the last T of the keys' T_all positions, k (B, nh, T_all, hs).

    M is the causal mask, 0 on and below the diagonal and -inf above it. ActivationCache recomputes
    hook_attn_scores with this same function, so its numbers are the ones the softmax saw.
    """
    T, T_all = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1)  # (B, nh, T, T_all)
    scores.div_(math.sqrt(q.shape[-1]))  # in place: at long prompts this tensor is the largest one
    M = torch.full((T, T_all), float("-inf"), dtype=scores.dtype, device=q.device).triu_(T_all - T + 1)
    return scores.add_(M)  # M is 0 on and below the diagonal: those scores stay exactly as they were


def _future(T: int, T_all: int, device: torch.device) -> torch.Tensor:
    """Boolean (T, T_all) mask, True where key j lies in query i's future (j > i + T_all - T)."""
    return torch.ones(T, T_all, dtype=torch.bool, device=device).triu(diagonal=T_all - T + 1)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU, the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).

    ActivationCache recomputes mlp.hook_post with it. Without gradients the formula runs step by step
    in one new tensor, which on CPU is faster than torch's fused F.gelu for short prompts (as accurate:
    both are within 5e-7 of the exact value); with gradients, the fused op and its backward.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return F.gelu(x, approximate="tanh")
    c = math.sqrt(2.0 / math.pi)
    u = x * x
    u.mul_(0.044715 * c).add_(c).mul_(x)  # √(2/π)·(x + 0.044715·x³)
    return u.tanh_().add_(1.0).mul_(x).mul_(0.5)


def _save(capture: dict | None, name: str, t: torch.Tensor) -> None:
    if capture is not None:
        capture[name] = t


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = Linear(config.n_embd, config.d_mlp)
        self.c_proj = Linear(config.d_mlp, config.n_embd)

    def forward(self, x: torch.Tensor, capture: dict | None = None, prefix: str = "") -> torch.Tensor:
        pre = self.c_fc(x)  # (B, T, 4C)
        _save(capture, prefix + "hook_pre", pre)  # hook_post = gelu(hook_pre) is recomputed by ActivationCache
        return self.c_proj(gelu(pre))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.drop = nn.Dropout(config.dropout)  # identity in eval mode

    def forward(
        self, x: torch.Tensor, past: LayerKV | None = None, capture: dict | None = None, prefix: str = ""
    ) -> tuple[torch.Tensor, LayerKV]:
        _save(capture, prefix + "hook_resid_pre", x)  # ln1.hook_normalized = ln_1(x): recomputed
        attn_out, kv = self.attn(self.ln_1(x), past, capture, prefix + "attn.")
        attn_out = self.drop(attn_out)
        _save(capture, prefix + "hook_attn_out", attn_out)
        mid = x + attn_out  # the residual stream carries the sum forward (hook_resid_mid: recomputed)
        mlp_out = self.drop(self.mlp(self.ln_2(mid), capture, prefix + "mlp."))  # ln2.hook_normalized too
        _save(capture, prefix + "hook_mlp_out", mlp_out)
        out = mid + mlp_out
        _save(capture, prefix + "hook_resid_post", out)
        return out, kv


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.norm_position != "pre" or not config.final_layer_norm:
            raise ValueError("Only GPT-2-style pre-norm models with a final LayerNorm can be built.")
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps),
            )
        )
        self.drop = nn.Dropout(config.dropout)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight  # one matrix reads and writes tokens
        self.apply(self._init_weights)
        # GPT-2's scaled init: residual projections shrink with depth so the sum stays O(1).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        # The blocks' weights keep their (out, in) shape but are laid out in memory as (in, out), as in
        # GPT-2's own Conv1D: x @ Wᵀ then reads W in the order the matrix multiply wants, 15-30% faster
        # on CPU for prompts up to ~128 tokens (bench/hf_compare.py). Same numbers; done after the
        # initialisation so that a seed still gives the same weights.
        for block in self.transformer.h:
            for layer in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
                layer.weight = nn.Parameter(layer.weight.detach().t().contiguous().t())

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def device(self) -> torch.device:
        return self.transformer.wte.weight.device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def pack_for_inference(self) -> int:
        """Pre-pack every linear layer's weight for CPU inference (see Linear); the number packed.

        Keeps a second copy of those weights (about the size of the model again). load_model calls it
        once, before the model is shared, for CPU models of 100 MB up to GPT_EXPLAINER_PACK_MB of weights.
        """
        return sum(m.pack() for m in self.modules() if isinstance(m, Linear))

    def forward(
        self,
        idx: torch.Tensor,
        past_kv: list[LayerKV] | None = None,
        capture: dict | None = None,
        logits_for: str = "all",
    ) -> tuple[torch.Tensor | None, list[LayerKV]]:
        """Logits (at every position unless ``logits_for`` asks for fewer) and the updated key/value cache.

        idx: (B, T) token ids. past_kv: the cache returned by an earlier call (positions
        continue after it). capture: a dict to receive named activations, or None; it receives
        all but the ones ActivationCache recomputes (cache.RECOMPUTED). logits_for: "all" positions
        (B, T, vocab), only the "last" one (B, 1, vocab), or "none" (None: only the cache is wanted).
        The unembedding is the pass's largest multiply for a large vocabulary (GPT-2: a third of a
        64-token pass), so a caller that reads only the next token's logits should ask for "last".
        """
        if logits_for not in LOGITS_FOR:
            raise ValueError(f"logits_for must be one of {', '.join(LOGITS_FOR)}, not {logits_for!r}.")
        B, T = idx.shape
        past_len = past_kv[0][0].shape[2] if past_kv else 0
        if past_len + T > self.config.block_size:
            raise ValueError(
                f"Sequence of {past_len + T} tokens is longer than the context of "
                f"{self.config.block_size}; crop it first."
            )
        pos = torch.arange(past_len, past_len + T, device=idx.device)  # (T,)
        tok_emb = self.transformer.wte(idx)  # (B, T, C)
        pos_emb = self.transformer.wpe(pos)[None].expand(B, T, -1)  # (B, T, C)
        x = self.drop(tok_emb + pos_emb)
        if capture is not None:
            capture["hook_embed"] = tok_emb
            capture["hook_pos_embed"] = pos_emb
        new_kv = []
        for i, block in enumerate(self.transformer.h):
            x, kv = block(x, past_kv[i] if past_kv else None, capture, f"blocks.{i}.")
            new_kv.append(kv)
        x = self.transformer.ln_f(x)
        if capture is not None:
            capture["ln_final.hook_normalized"] = x
        if logits_for == "none":
            return None, new_kv
        logits = self.lm_head(x if logits_for == "all" else x[:, -1:])  # (B, T or 1, vocab)
        return logits, new_kv

    @torch.no_grad()
    def run_with_cache(self, idx: torch.Tensor, logits_for: str = "all") -> tuple[torch.Tensor | None, ActivationCache]:
        """Logits (at the positions ``logits_for`` names, as in forward) plus every named activation (detached
        CPU tensors), for one forward pass.

        A few activations (see cache.RECOMPUTED) are not kept but recomputed exactly when read; the
        cache keeps a copy of each block's LayerNorm γ, β and ε for that.
        """
        capture: dict[str, torch.Tensor] = {}
        logits, _ = self.forward(idx, capture=capture, logits_for=logits_for)
        stored = {k: v.detach().cpu() for k, v in capture.items()}
        norms = {}
        for i, block in enumerate(self.transformer.h):
            for name, ln in (("ln1", block.ln_1), ("ln2", block.ln_2)):
                norms[f"blocks.{i}.{name}"] = (ln.weight.detach().cpu().clone(), ln.bias.detach().cpu().clone(), ln.eps)
        return logits, ActivationCache(stored, activation_names(self.config.n_layer), norms)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of next-token prediction, in nats per token."""
        logits, _ = self.forward(idx)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
