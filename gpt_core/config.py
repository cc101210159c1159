"""Model shapes: the GPTConfig dataclass, published presets, and parameter counting.

A parameter count needs only the shapes, so it is computed here from a config alone
(no weights allocated). For GPT-2 it matches Hugging Face's checkpoints exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a GPT. Defaults are GPT-2 small."""

    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024  # context length: the number of learned positions
    vocab_size: int = 50257  # GPT-2's BPE: 256 bytes + 50,000 merges + <|endoftext|>
    layer_norm_eps: float = 1e-5
    # GPT-1 put LayerNorm after each sub-block ("post") and had no final LayerNorm;
    # GPT-2 moved it before ("pre") and added ln_f. Only "pre" can be instantiated here;
    # the other values exist so GPT-1's parameter count is computed from its real shape.
    norm_position: str = "pre"
    final_layer_norm: bool = True
    tie_word_embeddings: bool = True  # lm_head.weight is wte.weight
    d_mlp_mult: int = 4
    dropout: float = 0.0  # used only while training (model.train()); inference is unaffected

    def __post_init__(self) -> None:
        for f in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
            if getattr(self, f) < 1:
                raise ValueError(f"GPTConfig.{f} must be a positive integer, got {getattr(self, f)}.")

    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head

    @property
    def d_mlp(self) -> int:
        return self.d_mlp_mult * self.n_embd

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Preset:
    """A published model shape plus the facts needed to explain it."""

    name: str
    family: str
    config: GPTConfig
    published_params: str  # as printed in the paper or model card
    tokenizer: str
    training_data: str
    source: str = ""
    notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


_GPT1 = "Improving Language Understanding by Generative Pre-Training (Radford et al., 2018)"
_GPT2 = "Language Models are Unsupervised Multitask Learners (Radford et al., 2019)"
_GPT3 = "Language Models are Few-Shot Learners (Brown et al., 2020)"
_GPT2_DATA = "WebText: about 40 GB of text from 8 million web pages linked from Reddit"
_GPT3_DATA = (
    "About 300 billion training tokens drawn from filtered Common Crawl, WebText2, "
    "Books1, Books2 and English Wikipedia"
)


def _gpt2(n_layer: int, n_head: int, n_embd: int) -> GPTConfig:
    return GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=1024, vocab_size=50257)


def _gpt3(n_layer: int, n_head: int, n_embd: int) -> GPTConfig:
    return GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=2048, vocab_size=50257)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "gpt1", "GPT-1",
            GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=512, vocab_size=40478,
                      norm_position="post", final_layer_norm=False),
            "117M", "BPE, 40,478 tokens (ftfy + spaCy pre-processing)",
            "BooksCorpus: about 7,000 unpublished books (about 800M words)", _GPT1,
            "Post-norm blocks and no final LayerNorm.",
        ),
        Preset("gpt2", "GPT-2", _gpt2(12, 12, 768), "117M (124M counted)", "r50k_base",
               _GPT2_DATA, _GPT2,
               "The paper reported 117M; the released checkpoint holds 124,439,808 parameters."),
        Preset("gpt2-medium", "GPT-2", _gpt2(24, 16, 1024), "345M (355M counted)", "r50k_base",
               _GPT2_DATA, _GPT2),
        Preset("gpt2-large", "GPT-2", _gpt2(36, 20, 1280), "762M (774M counted)", "r50k_base",
               _GPT2_DATA, _GPT2),
        Preset("gpt2-xl", "GPT-2", _gpt2(48, 25, 1600), "1542M (1558M counted)", "r50k_base",
               _GPT2_DATA, _GPT2),
        Preset("gpt3-small", "GPT-3", _gpt3(12, 12, 768), "125M", "r50k_base", _GPT3_DATA, _GPT3),
        Preset("gpt3-medium", "GPT-3", _gpt3(24, 16, 1024), "350M", "r50k_base", _GPT3_DATA, _GPT3),
        Preset("gpt3-large", "GPT-3", _gpt3(24, 16, 1536), "760M", "r50k_base", _GPT3_DATA, _GPT3),
        Preset("gpt3-xl", "GPT-3", _gpt3(24, 24, 2048), "1.3B", "r50k_base", _GPT3_DATA, _GPT3),
        Preset("gpt3-2.7b", "GPT-3", _gpt3(32, 32, 2560), "2.7B", "r50k_base", _GPT3_DATA, _GPT3),
        Preset("gpt3-6.7b", "GPT-3", _gpt3(32, 32, 4096), "6.7B", "r50k_base", _GPT3_DATA, _GPT3),
        Preset("gpt3-13b", "GPT-3", _gpt3(40, 40, 5140), "13.0B", "r50k_base", _GPT3_DATA, _GPT3,
               "The paper lists d_model 5140 with 40 heads of 128; 40 × 128 = 5120, so one "
               "of the two figures is rounded. The count here uses 5140 as published."),
        Preset("gpt3-175b", "GPT-3", _gpt3(96, 96, 12288), "175.0B", "r50k_base", _GPT3_DATA, _GPT3),
    ]
}

def count_parameters(config: GPTConfig) -> dict[str, int]:
    """Parameters per component, computed from shapes only.

    Components: embeddings (token + position), attention (QKV and output projections with
    biases), mlp, layer_norms (every gamma and beta), head (0 when tied to the token
    embedding). "total" is their sum and equals ``sum(p.numel() for p in model.parameters())``.
    """
    d, L, V = config.n_embd, config.n_layer, config.vocab_size
    ln = 2 * d  # gamma and beta
    attention = L * ((d * 3 * d + 3 * d) + (d * d + d))
    mlp = L * ((d * config.d_mlp + config.d_mlp) + (config.d_mlp * d + d))
    layer_norms = L * 2 * ln + (ln if config.final_layer_norm else 0)
    counts = {
        "token_embedding": V * d,
        "position_embedding": config.block_size * d,
        "attention": attention,
        "mlp": mlp,
        "layer_norms": layer_norms,
        "head": 0 if config.tie_word_embeddings else V * d,
    }
    counts["total"] = sum(counts.values())
    return counts


def n_params(config: GPTConfig) -> int:
    return count_parameters(config)["total"]
