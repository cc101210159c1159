"""The generation timeline: every step kept, going back, branching, and the KV cache at the tip.

Plain data over the model (no UI). A Timeline belongs to one user's session: it holds the
prompt, the branches (each a list of steps; a branch shares its first steps with its parent),
the cursor (how many generated tokens are shown), and the key/value cache of the last forward
pass, so that the next step feeds only the newest token. The shared model is only read.

The cursor ``p`` counts the generated tokens shown; "the choice at p" is the choice of token
p + 1, made from the logits at the end of those tokens. Every random number is tied to the step
index and the seed (not to what happened before), so the same seed and settings give the same
text, and going back then forward again replays the same draw.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .generation import Distribution, Draw, draw, next_token_distribution
from .model import GPT, LayerKV

_MASK64 = (1 << 64) - 1
SAMPLED, GREEDY, PICKED = "sampled", "greedy", "picked"
STOP_EOT, STOP_LENGTH, STOP_CONTEXT = "end_of_text", "length", "context"
LOOKS_KEPT = 16  # forward passes remembered per timeline (logits, attention row, residual stream)


def step_seed(seed: int, index: int) -> int:
    """The seed of the random number for step ``index`` (splitmix64 of both; fits torch's int64)."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 1) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a choice: all of it is on screen, nothing else is applied."""

    temperature: float = 1.0  # 0 = greedy
    top_k: int | None = None  # None or 0 = off
    top_p: float | None = None  # None or 1 = off
    seed: int = 0

    def distribution(self, logits: torch.Tensor) -> Distribution:
        return next_token_distribution(logits, self.temperature, self.top_k or None, self.top_p)

    def draw(self, dist: Distribution, index: int) -> Draw:
        return draw(dist, torch.Generator().manual_seed(step_seed(self.seed, index)))


@dataclass(frozen=True)
class Limits:
    """When generation stops (besides the end-of-text token)."""

    max_new_tokens: int = 100
    slide: bool = False  # past the context, let the oldest tokens slide out instead of stopping


@dataclass(frozen=True)
class TimelineStep:
    """One chosen token and the logits it was chosen from (its Distribution is rebuilt on demand)."""

    index: int  # 0 for the first generated token
    token: int
    logits: torch.Tensor  # (V,) on CPU
    settings: Settings  # the settings in force when it was chosen
    how: str  # SAMPLED, GREEDY or PICKED (chosen by hand)
    u: float | None  # the uniform random number drawn; None when not sampled
    dropped: int  # tokens that had slid out of the context when it was chosen
    rank: int  # 1-based rank under the model's own distribution (temperature 1, nothing cut)
    prob: float  # probability under the model's own distribution

    @property
    def distribution(self) -> Distribution:
        return self.settings.distribution(self.logits)


@dataclass
class Branch:
    steps: list[TimelineStep]
    parent: int | None = None  # the branch it was split from
    fork: int = 0  # steps shared with the parent

    @property
    def tokens(self) -> list[int]:
        return [s.token for s in self.steps]


def _common_prefix(a: tuple[int, ...], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Timeline:
    """Every step of one generation, its branches, and where the user is looking."""

    def __init__(self, prompt_ids: list[int], block_size: int, eot_token: int | None = None,
                 use_kv_cache: bool = True):
        if not prompt_ids:
            raise ValueError("generation needs at least one token to start from")
        self.prompt = list(prompt_ids)
        self.block_size = block_size
        self.eot_token = eot_token
        self.use_kv_cache = use_kv_cache
        self.reset()

    def reset(self) -> None:
        self.branches = [Branch([])]
        self.current = 0
        self.cursor = 0
        self._kv: tuple[tuple[int, ...], list[LayerKV]] | None = None  # (ids it covers, past keys/values)
        self._looks: OrderedDict[tuple[int, ...], LastPosition] = OrderedDict()  # recent forward passes
        self.last_forward = (0, 0)  # (positions reused from the cache, positions computed)

    # --- what is shown -------------------------------------------------------------------
    @property
    def branch(self) -> Branch:
        return self.branches[self.current]

    @property
    def steps(self) -> list[TimelineStep]:
        return self.branch.steps

    def tokens(self, upto: int | None = None) -> list[int]:
        """Generated tokens of the current branch, the first ``upto`` of them (default: the cursor)."""
        return self.branch.tokens[: self.cursor if upto is None else upto]

    def ids(self, upto: int | None = None) -> list[int]:
        return self.prompt + self.tokens(upto)

    def context(self, upto: int | None = None) -> list[int]:
        """The tokens the model reads for the choice at ``upto``: the last block_size of them."""
        return self.ids(upto)[-self.block_size:]

    def dropped(self, upto: int | None = None) -> int:
        """How many of the oldest tokens have slid out of the context at ``upto``."""
        return max(0, len(self.ids(upto)) - self.block_size)

    def stop_reason(self, limits: Limits, at: int | None = None) -> str | None:
        """Why no token can follow ``at`` (default: the cursor): STOP_EOT, STOP_LENGTH, STOP_CONTEXT or None."""
        at = self.cursor if at is None else at
        toks = self.tokens(at)
        if toks and self.eot_token is not None and toks[-1] == self.eot_token:
            return STOP_EOT
        if at >= limits.max_new_tokens:
            return STOP_LENGTH
        if not limits.slide and len(self.prompt) + at > self.block_size:
            return STOP_CONTEXT
        return None

    # --- the model ----------------------------------------------------------------------
    def logits_at(self, model: GPT, at: int | None = None) -> torch.Tensor:
        """Logits (V,) of the choice at ``at``: recorded for a kept step, else one (cached) forward pass."""
        at = self.cursor if at is None else at
        if at < len(self.steps):
            return self.steps[at].logits
        return self.look(model, at).logits

    def look(self, model: GPT, at: int | None = None) -> LastPosition:
        """The last position of the context at ``at``: its logits, attention row and residual stream."""
        context = tuple(self.context(at))
        found = self._looks.get(context)
        if found is None:
            found = self._looks[context] = self._forward(model, list(context))
            while len(self._looks) > LOOKS_KEPT:
                self._looks.popitem(last=False)
        self._looks.move_to_end(context)
        return found

    @torch.no_grad()
    def _forward(self, model: GPT, context: list[int]) -> LastPosition:
        """Run ``context``, feeding only what the key/value cache does not hold; capture the last position.

        Cached keys/values stay valid for any prefix of the ids they cover (positions restart at 0
        in every context window), so going back or branching only slices the cache.
        """
        reused, past = 0, None
        if self.use_kv_cache and self._kv is not None:
            reused = min(_common_prefix(self._kv[0], context), len(context) - 1)
            past = [(k[:, :, :reused], v[:, :, :reused]) for k, v in self._kv[1]] if reused else None
        self.last_forward = (reused, len(context) - reused)
        if len(context) - reused > 1:  # earlier new tokens: keys and values only, no activations kept
            past = model(torch.tensor([context[reused:-1]], dtype=torch.long, device=model.device), past_kv=past,
                         logits_for="none")[1]
        look, past = _capture_last(model, context[-1], past)
        self._kv = (tuple(context), past) if self.use_kv_cache else None
        return look

    def preview(self, model: GPT, settings: Settings, at: int | None = None) -> tuple[Distribution, Draw]:
        """The distribution at ``at`` under ``settings`` and the draw they make there."""
        at = self.cursor if at is None else at
        dist = settings.distribution(self.logits_at(model, at))
        return dist, settings.draw(dist, at)

    # --- moving and choosing ------------------------------------------------------------
    def choose(self, model: GPT, token: int, settings: Settings, how: str = PICKED,
               u: float | None = None) -> TimelineStep:
        """Take ``token`` as the choice at the cursor and move past it.

        At the end of the branch the step is appended. On a kept step, the same token replays it;
        another token starts a new branch (or returns to the branch that already made that choice),
        and the old branch is kept.
        """
        p = self.cursor
        logits = self.logits_at(model, p)
        if not 0 <= token < logits.numel():
            raise ValueError(f"token {token} is not in the vocabulary of {logits.numel()} tokens")
        if p < len(self.steps) and self.steps[p].token == token:
            self.cursor = p + 1
            return self.steps[p]
        wanted = self.tokens(p) + [token]
        for i, b in enumerate(self.branches):
            if b.tokens[: p + 1] == wanted:
                self.current, self.cursor = i, p + 1
                return b.steps[p]
        probs = torch.softmax(logits, dim=-1)
        rank = int((probs > probs[token]).sum()) + 1  # as Distribution.rank_of counts it
        step = TimelineStep(p, int(token), logits, settings, how, u, self.dropped(p), rank, float(probs[token]))
        if p < len(self.steps):
            self.branches.append(Branch(self.steps[:p] + [step], parent=self.current, fork=p))
            self.current = len(self.branches) - 1
        else:
            self.steps.append(step)
        self.cursor = p + 1
        return step

    def step(self, model: GPT, settings: Settings, limits: Limits) -> TimelineStep | None:
        """Draw the next token with ``settings`` (None when generation has stopped)."""
        if self.stop_reason(limits) is not None:
            return None
        _, d = self.preview(model, settings)
        greedy = settings.temperature == 0
        return self.choose(model, d.token, settings, GREEDY if greedy else SAMPLED, None if greedy else d.u)

    def generate(self, model: GPT, settings: Settings, limits: Limits, n: int) -> Iterator[TimelineStep]:
        """Up to ``n`` steps, one per iteration (stop iterating to stop generating)."""
        for _ in range(n):
            s = self.step(model, settings, limits)
            if s is None:
                return
            yield s

    def back(self) -> bool:
        if self.cursor == 0:
            return False
        self.cursor -= 1
        return True

    def go(self, at: int) -> None:
        if not 0 <= at <= len(self.steps):
            raise ValueError(f"step {at} is outside this branch (0..{len(self.steps)})")
        self.cursor = at

    def switch(self, branch: int) -> None:
        """Show another branch, at the same step where it exists, else at its end."""
        if not 0 <= branch < len(self.branches):
            raise ValueError(f"there is no branch {branch}")
        self.current = branch
        self.cursor = min(self.cursor, len(self.steps))


# --- reading one choice for display -----------------------------------------------------------
@dataclass(frozen=True)
class ChoiceView:
    """One choice in plain numbers: the candidates shown, the cuts, and the draw."""

    ids: list[int]  # candidates by decreasing probability (plus the chosen one if it ranks lower)
    ranks: list[int]  # 1-based, over the whole vocabulary
    logits: list[float]
    probs: list[float]  # temperature 1, over the whole vocabulary
    tempered: list[float]  # after temperature, over the whole vocabulary
    final: list[float]  # after the cuts, renormalised: what the draw uses
    kept: list[bool]
    shown_mass: float  # probability (temperature 1) held by the shown candidates
    n_kept: int  # tokens that survive top-k and top-p
    vocab: int
    curve: list[float]  # cumulative tempered probability of ranks 1..len(curve)
    segments: list[tuple[int | None, float, float]]  # the draw's ruler: (token, start, width) in draw order;
    # token None for a run of kept tokens merged into one segment (those after the first n_segments,
    # except the one u lands on)
    entropy: float  # nats, model's own distribution
    entropy_final: float  # nats, the distribution sampled from

    @property
    def entropy_bits(self) -> float:
        return self.entropy / math.log(2)

    @property
    def perplexity(self) -> float:
        """e^entropy: the number of equally likely tokens that would be as uncertain."""
        return math.exp(self.entropy)


def choice_view(dist: Distribution, d: Draw | None, n_bars: int = 15, extra: tuple[int, ...] = (),
                n_curve: int = 60, n_segments: int = 24) -> ChoiceView:
    """The numbers a page shows for one choice. ``extra``: tokens to show even when they rank lower."""
    order = torch.argsort(dist.probs, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(1, order.numel() + 1)
    ids = order[:n_bars].tolist()
    ids += [int(t) for t in extra if int(t) not in ids]
    sorted_t = dist.tempered[order]
    n_kept = int(dist.kept.sum())
    n_curve = min(order.numel(), max(n_curve, min(n_kept + 5, 500)))  # enough ranks to see the cut
    segments: list[tuple[int | None, float, float]] = []
    if d is not None:
        ends = d.cumulative[:n_kept].tolist()
        starts = [0.0] + ends[:-1]
        landed = d.order.tolist().index(d.token)
        one_by_one = sorted(set(range(min(n_segments, n_kept))) | {landed})
        prev = 0
        for i in one_by_one:
            if i > prev:  # the kept tokens between two drawn ones, merged
                segments.append((None, starts[prev], ends[i - 1] - starts[prev]))
            segments.append((int(d.order[i]), starts[i], ends[i] - starts[i]))
            prev = i + 1
        if prev < n_kept:
            segments.append((None, starts[prev], ends[n_kept - 1] - starts[prev]))

    def pick(x: torch.Tensor) -> list[float]:
        return [float(x[i]) for i in ids]

    return ChoiceView(
        ids=ids, ranks=[int(ranks[i]) for i in ids], logits=pick(dist.logits), probs=pick(dist.probs),
        tempered=pick(dist.tempered), final=pick(dist.final), kept=[bool(dist.kept[i]) for i in ids],
        shown_mass=float(dist.probs[order[:n_bars]].sum()), n_kept=n_kept, vocab=order.numel(),
        curve=torch.cumsum(sorted_t, 0)[:n_curve].tolist(), segments=segments,
        entropy=dist.entropy("probs"), entropy_final=dist.entropy("final"),
    )


# --- what the newest position looked at -------------------------------------------------------
@dataclass(frozen=True)
class LastPosition:
    attention: torch.Tensor  # (layer, head, T): the last position's attention over every position
    resid: torch.Tensor  # (layer + 1, d_model): its residual stream after the embeddings and each block
    logits: torch.Tensor  # (V,)


def _capture_last(model: GPT, token: int, past: list[LayerKV] | None) -> tuple[LastPosition, list[LayerKV]]:
    """Run one token after ``past`` with its activations captured (one query row: no (T, T) pattern)."""
    cap: dict[str, torch.Tensor] = {}
    logits, past = model(torch.tensor([[token]], dtype=torch.long, device=model.device), past_kv=past, capture=cap)
    n_layer = model.config.n_layer
    attention = torch.stack([cap[f"blocks.{i}.attn.hook_pattern"][0, :, -1] for i in range(n_layer)])
    resid = torch.stack([cap["blocks.0.hook_resid_pre"][0, -1]]
                        + [cap[f"blocks.{i}.hook_resid_post"][0, -1] for i in range(n_layer)])
    return LastPosition(attention.float().cpu(), resid.float().cpu(), logits[0, -1].float().cpu()), past


@torch.no_grad()
def last_position(model: GPT, context: list[int]) -> LastPosition:
    """Logits, attention row and residual stream of the last token of ``context`` (no cache kept)."""
    if not 0 < len(context) <= model.config.block_size:
        raise ValueError(f"expected 1 to {model.config.block_size} tokens, got {len(context)}")
    past = model(torch.tensor([context[:-1]], device=model.device), logits_for="none")[1] if len(context) > 1 else None
    return _capture_last(model, context[-1], past)[0]
