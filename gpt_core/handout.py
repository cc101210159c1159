"""Everything a printed handout shows about one prompt, taken from one forward pass.

One head's formula softmax(QKᵀ/√d_k + M)V is worked for one query token, key by key, with
``attention_math.work_cell`` (the same numbers the Attention page shows); the pattern is the model's own
``hook_pattern``; the next-token probabilities are a softmax over the whole vocabulary. Plain numbers
and strings only, so ``viz.handout`` can lay it out without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import attention_math as am
from .analysis import top_next_tokens
from .prompt import PromptRun
from .tokenizer import Tokenizer


@dataclass(frozen=True)
class HandoutData:
    prompt: str  # the text as typed (the handout escapes it)
    tokens: list[str]  # the tokens the model read
    labels: list[str]  # the same in context: a token that is part of a character reads "我(1/3)"
    ids: list[int]
    raw: list[bytes]  # each token's bytes: the chips box a character split between tokens
    dropped: int  # tokens cut from the start to fit the context
    model: str  # the model's name
    layer: int  # counted from 0
    head: int
    n_layer: int
    n_head: int
    query: int  # the query position the formula is worked for
    d_k: int
    cells: list[am.CellWork]  # one per key 0..query: q·k, ÷√d_k, + M, exp, weight
    z: np.ndarray  # (d_k,) the head's output at the query: Σ_j w_qj v_j
    pattern: np.ndarray  # (T, T) the model's own weights for this head (hook_pattern)
    start: int  # positions start..stop of the pattern to draw
    stop: int
    check: float  # largest difference between the recomputed pattern and the model's
    next_tokens: list[str]  # the ten likeliest next tokens, likeliest first
    next_ids: list[int]
    next_probs: list[float]
    vocab_size: int
    date: str  # when the handout was made, ISO format


def handout_data(run: PromptRun, tokenizer: Tokenizer, prompt: str, model: str, layer: int, head: int,
                 query: int, start: int, stop: int, date: str, k: int = 10) -> HandoutData:
    """Collect the handout's numbers for ``head`` of ``layer``, worked for ``query``, pattern over start..stop."""
    T = len(run.ids)
    if not 0 <= query < T:
        raise ValueError(f"Query {query} is not a position of this text (0..{T - 1}).")
    if not 0 <= start < stop <= T:
        raise ValueError(f"Window {start}..{stop} does not fit {T} positions.")
    work = am.work_head(run.cache, layer, head)
    pattern = run.cache.pattern(layer)[head].float()  # (T, T)
    top = top_next_tokens(run.last_logits, tokenizer, k)
    return HandoutData(
        prompt=prompt, tokens=list(run.tokens), labels=list(run.labels), ids=list(run.ids), dropped=run.truncated,
        raw=[tokenizer.token_bytes(i) for i in run.ids], model=model, layer=layer, head=head,
        n_layer=run.cache.n_layer, n_head=run.cache.pattern(layer).shape[0],
        query=query, d_k=work.d_k, cells=[am.work_cell(work, query, j) for j in range(query + 1)],
        z=work.z[query].double().numpy(), pattern=pattern.double().numpy(), start=start, stop=stop,
        check=am.max_difference(work.pattern, pattern),
        next_tokens=[c.text for c in top], next_ids=[c.token for c in top], next_probs=[c.prob for c in top],
        vocab_size=int(run.last_logits.numel()), date=date,
    )
