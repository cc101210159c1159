"""One forward pass over a user's prompt, with everything the pages need from it.

The result holds only CPU tensors and plain values (no model), so it can be cached per
(model, prompt) and shared between pages and sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .cache import ActivationCache
from .loading import ModelBundle


@dataclass(frozen=True)
class PromptRun:
    ids: list[int]  # the tokens the model saw (after truncation)
    tokens: list[str]  # one display string per token
    n_tokens_total: int  # tokens in the whole prompt, before truncation
    n_chars: int
    context: int  # the model's context length
    last_logits: torch.Tensor  # (V,) logits at the last position: the next-token prediction
    cache: ActivationCache
    labels: list[str] = field(default_factory=list)  # one chart label per token: "我(1/3)" for a part

    def __post_init__(self) -> None:
        if not self.labels:  # built without labels: the display strings serve
            object.__setattr__(self, "labels", list(self.tokens))

    @property
    def truncated(self) -> int:
        """How many tokens were dropped from the start to fit the context."""
        return self.n_tokens_total - len(self.ids)


def run_prompt(bundle: ModelBundle, text: str, max_tokens: int | None = None) -> PromptRun | None:
    """Tokenize ``text`` and run the model on it; None when the text has no tokens.

    Text longer than the context keeps its last ``context`` tokens (the ones nearest the
    prediction), since the model cannot see more at once.
    """
    tok, model = bundle.tokenizer, bundle.model
    all_ids = tok.encode(text)
    if not all_ids:
        return None
    context = model.config.block_size
    limit = min(context, max_tokens) if max_tokens else context
    ids = all_ids[-limit:]
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)
    logits, cache = model.run_with_cache(idx, logits_for="last")  # the pages read the next token's logits only
    return PromptRun(
        ids=ids,
        tokens=tok.token_strs(ids),
        n_tokens_total=len(all_ids),
        n_chars=len(text),
        context=context,
        last_logits=logits[0, -1].detach().cpu(),
        cache=cache,
        labels=tok.context_labels(ids),
    )
