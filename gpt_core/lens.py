"""The logit lens: what the model would predict if it stopped after each layer.

The residual stream at one position is read after the embeddings and after every block; each
of those vectors goes through the final LayerNorm and the unembedding, exactly as the last
layer's does. LayerNorm works on one vector at a time, so each layer's residual is normalised
with its own mean and variance (re-using the last layer's statistics would be wrong: the
residual's scale grows with depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import GPT


def layer_names(n_layer: int) -> list[str]:
    """One label per lens row: the embeddings, then after each block (1-based, as people count)."""
    return ["embeddings"] + [f"after block {i + 1}" for i in range(n_layer)]


@torch.no_grad()
def logit_lens(model: GPT, resid: torch.Tensor) -> torch.Tensor:
    """Logits (..., V) from residual vectors (..., d_model): ln_f applied to each vector, then lm_head."""
    if resid.shape[-1] != model.config.n_embd:
        raise ValueError(f"residual vectors must have {model.config.n_embd} numbers, got shape {tuple(resid.shape)}")
    x = resid.to(model.device, model.lm_head.weight.dtype)
    return model.lm_head(model.transformer.ln_f(x)).float().cpu()


@dataclass(frozen=True)
class Lens:
    """The lens at one position: the top predictions at every layer and one target token's fate."""

    layers: list[str]  # one label per row (n_layer + 1)
    top_ids: torch.Tensor  # (rows, k) most likely tokens, best first
    top_probs: torch.Tensor  # (rows, k) their probabilities (softmax over the whole vocabulary)
    top_logits: torch.Tensor  # (rows, k)
    target: int  # the token followed down the layers (the one the model chose, or its final favourite)
    target_probs: torch.Tensor  # (rows,) the target's probability at every layer
    target_ranks: torch.Tensor  # (rows,) its 1-based rank at every layer
    entropy: torch.Tensor  # (rows,) entropy in nats of every layer's distribution


def lens_at(model: GPT, resid: torch.Tensor, k: int = 5, target: int | None = None) -> Lens:
    """The lens for one position from its residual stream (n_layer + 1, d_model), rows in layer order.

    ``target`` defaults to the last row's arg-max: the model's own prediction.
    """
    if resid.dim() != 2 or resid.shape[0] != model.config.n_layer + 1:
        raise ValueError(f"expected the residual stream of one position, shape ({model.config.n_layer + 1}, "
                         f"{model.config.n_embd}), got {tuple(resid.shape)}")
    logits = logit_lens(model, resid)  # (rows, V)
    probs = torch.softmax(logits, dim=-1)
    top = torch.topk(probs, min(k, probs.shape[-1]), dim=-1)
    target = int(logits[-1].argmax()) if target is None else int(target)
    target_probs = probs[:, target]
    nz = probs.clamp_min(1e-30)
    return Lens(
        layers=layer_names(model.config.n_layer),
        top_ids=top.indices,
        top_probs=top.values,
        top_logits=logits.gather(-1, top.indices),
        target=target,
        target_probs=target_probs,
        target_ranks=(probs > target_probs[:, None]).sum(-1) + 1,
        entropy=-(probs * nz.log()).sum(-1),
    )
