"""Tokenizers: text to token ids and back, offline, over tiktoken.

Every vocabulary ships as a rank file under ``assets/tokenizers`` (see its NOTICE.md); loading
reads only that file and checks its sha256, so nothing depends on the network or on tiktoken's
download cache. Patterns and special tokens are tiktoken's own (``tiktoken_ext/openai_public.py``).
"""

from __future__ import annotations

import codecs
import functools
import gzip
import hashlib
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import regex
import tiktoken

from gpt_core.bpe import GPT2_PAT_STR, build_encoding, parse_tiktoken_bpe

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
TOKENIZERS_DIR = ASSETS_DIR / "tokenizers"

ENDOFTEXT = "<|endoftext|>"

CL100K_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_UPPER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"  # letters that can start a word
_O200K_LOWER = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"  # letters that can continue it
_O200K_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
O200K_PAT_STR = "|".join(
    [
        r"[^\r\n\p{L}\p{N}]?" + _O200K_UPPER + "*" + _O200K_LOWER + "+" + _O200K_CONTRACTION,
        r"[^\r\n\p{L}\p{N}]?" + _O200K_UPPER + "+" + _O200K_LOWER + "*" + _O200K_CONTRACTION,
        r"\p{N}{1,3}",
        r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
        r"\s*[\r\n]+",
        r"\s+(?!\S)",
        r"\s+",
    ]
)


@dataclass(frozen=True)
class TokenizerSpec:
    """What defines a tokenizer: its rank file (and that file's sha256), pattern and specials.

    ``sha256`` is of the rank file's contents after gunzipping, as tiktoken publishes it.
    """

    name: str
    label: str
    filename: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int] = field(default_factory=dict)


SPECS: dict[str, TokenizerSpec] = {
    spec.name: spec
    for spec in [
        TokenizerSpec(
            "shakespeare_bpe",
            "Shakespeare BPE (shakespeare_bpe)",  # no words in the label: it is shown as is in every language
            "shakespeare_bpe.tiktoken",
            "283397af5d38a054550f4bda618ba97345a93aeed70078a98904fc7c7e8964c0",
            GPT2_PAT_STR,
            {ENDOFTEXT: 1023},
        ),
        TokenizerSpec(
            "r50k_base",
            "GPT-2 / GPT-3 (r50k_base)",
            "r50k_base.tiktoken",
            "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
            GPT2_PAT_STR,
            {ENDOFTEXT: 50256},
        ),
        TokenizerSpec(
            "cl100k_base",
            "GPT-3.5 / GPT-4 (cl100k_base)",
            "cl100k_base.tiktoken.gz",
            "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
            CL100K_PAT_STR,
            {
                ENDOFTEXT: 100257,
                "<|fim_prefix|>": 100258,
                "<|fim_middle|>": 100259,
                "<|fim_suffix|>": 100260,
                "<|endofprompt|>": 100276,
            },
        ),
        TokenizerSpec(
            "o200k_base",
            "GPT-4o (o200k_base)",
            "o200k_base.tiktoken.gz",
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
            O200K_PAT_STR,
            {ENDOFTEXT: 199999, "<|endofprompt|>": 200018},
        ),
    ]
}
ALIASES = {"gpt2": "r50k_base"}
"""Other names for the same tokenizer (GPT-2's vocabulary is r50k_base)."""


def _valid_unicode(text: str) -> str:
    """``text`` if it is valid UTF-8-encodable text, else with lone surrogates replaced by U+FFFD.

    A surrogate pair that arrived as two code points is joined into its character first.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def whole_characters(token_bytes: Sequence[bytes]) -> list[tuple[int, int, str]]:
    """Consecutive tokens joined where a character's UTF-8 bytes are split between them: (first, stop, text).

    Each run is the shortest one whose bytes end on a character boundary, so "我" split into three byte
    tokens reads as one "我" (tokens first..stop-1), not three U+FFFD. Bytes that can never be valid
    UTF-8 still show as U+FFFD; a character left unfinished at the end closes the last run.
    """
    runs, decoder, first, text = [], codecs.getincrementaldecoder("utf-8")(errors="replace"), 0, ""
    for i, b in enumerate(token_bytes):
        text += decoder.decode(b)
        if not decoder.getstate()[0]:  # no bytes of an unfinished character left waiting
            runs.append((first, i + 1, text))
            first, text = i + 1, ""
    if first < len(token_bytes):
        runs.append((first, len(token_bytes), text + decoder.decode(b"", final=True)))
    return runs


def part_labels(token_bytes: Sequence[bytes]) -> list[str]:
    """One label per token for charts: its text, or, for a token that is only part of a character, the
    character(s) its run of tokens makes and which part it is: "我(1/3)", "我(2/3)", "我(3/3)"."""
    labels: list[str] = []
    for first, stop, text in whole_characters(token_bytes):
        n = stop - first
        labels += [text] if n == 1 else [f"{text}({j}/{n})" for j in range(1, n + 1)]
    return labels


class Tokenizer:
    """A named ``tiktoken.Encoding`` with the helpers the app needs to show tokens."""

    def __init__(self, spec: TokenizerSpec, ranks: dict[bytes, int]) -> None:
        self.name = spec.name
        self.label = spec.label
        self.pat_str = spec.pat_str
        self.special_tokens = dict(spec.special_tokens)
        self.encoding: tiktoken.Encoding = build_encoding(
            spec.name, ranks, spec.pat_str, self.special_tokens
        )
        self.n_vocab: int = self.encoding.n_vocab
        self.eot_token: int | None = self.special_tokens.get(ENDOFTEXT)
        self._ranks = ranks

    @classmethod
    def from_ranks(
        cls,
        name: str,
        ranks: dict[bytes, int],
        pat_str: str = GPT2_PAT_STR,
        special_tokens: dict[str, int] | None = None,
    ) -> Tokenizer:
        """A tokenizer over a rank table made in memory, e.g. by ``bpe.train_bpe``."""
        spec = TokenizerSpec(name, name, "", "", pat_str, dict(special_tokens or {}))
        return cls(spec, ranks)

    def __repr__(self) -> str:
        return f"Tokenizer({self.name!r}, n_vocab={self.n_vocab})"

    @property
    def mergeable_ranks(self) -> dict[bytes, int]:
        """The rank table ``{token bytes: rank}`` (shared: do not modify)."""
        return self._ranks

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        """Token ids of ``text``; never raises on any string.

        By default a special-token string such as ``"<|endoftext|>"`` typed by a user is
        ordinary text; with ``allow_special=True`` it becomes the special token's id.
        """
        text = _valid_unicode(text)
        if allow_special:
            return self.encoding.encode(text, allowed_special="all")
        return self.encoding.encode_ordinary(text)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; bytes that are not valid UTF-8 become U+FFFD."""
        return self.encoding.decode([int(i) for i in ids], errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes of one token (a token can be part of a UTF-8 character)."""
        try:
            return self.encoding.decode_single_token_bytes(int(token_id))
        except KeyError:
            raise ValueError(f"Token id {token_id} is not in the {self.name} vocabulary.") from None

    def token_strs(self, ids: Iterable[int]) -> list[str]:
        """One display string per token; partial UTF-8 characters show as U+FFFD."""
        return [self.token_bytes(i).decode("utf-8", errors="replace") for i in ids]

    def context_labels(self, ids: Iterable[int]) -> list[str]:
        """One chart label per token, read in its context: a token that is only part of a character as the
        character and the part, "我(1/3)" (on its own, such a token is its bytes: embeddings.token_label)."""
        return part_labels([self.token_bytes(i) for i in ids])

    def pretokenize(self, text: str) -> list[str]:
        """The chunks the pattern cuts ``text`` into before BPE (no token spans two chunks)."""
        return regex.findall(self.pat_str, _valid_unicode(text))


def available_tokenizers() -> list[str]:
    """Canonical names of the shipped tokenizers, the default model's first."""
    return list(SPECS)


def _spec(name: str) -> TokenizerSpec:
    """The spec for ``name`` or an alias of it; ``ValueError`` for an unknown name."""
    spec = SPECS.get(ALIASES.get(name, name))
    if spec is None:
        known = ", ".join([*SPECS, *ALIASES])
        raise ValueError(f"Unknown tokenizer {name!r}; known tokenizers are: {known}.")
    return spec


def load_ranks(path: Path, expected_sha256: str) -> dict[bytes, int]:
    """Read a (possibly gzipped) tiktoken rank file after checking the sha256 of its contents."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"Tokenizer file {path} is missing.") from None
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"Tokenizer file {path} is not a valid gzip file ({err}).") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise ValueError(
            f"Tokenizer file {path} has sha256 {digest}, expected {expected_sha256}: "
            "it is damaged or was replaced."
        )
    return parse_tiktoken_bpe(data)


def load_tokenizer(name: str, tokenizers_dir: Path | None = None) -> Tokenizer:
    """Load tokenizer ``name`` from ``tokenizers_dir`` (default: the shipped assets), uncached."""
    spec = _spec(name)
    path = Path(tokenizers_dir or TOKENIZERS_DIR) / spec.filename
    return Tokenizer(spec, load_ranks(path, spec.sha256))


_LOADING = threading.Lock()  # guards _loaded_once: functools.cache alone lets threads that ask at once all load


def get_tokenizer(name: str) -> Tokenizer:
    """The shipped tokenizer ``name`` (an alias gives the same object), loaded once, even when many
    threads (a class of browser sessions) ask for it at the same moment."""
    canonical = _spec(name).name
    with _LOADING:
        return _loaded_once(canonical)


@functools.cache
def _loaded_once(name: str) -> Tokenizer:
    return load_tokenizer(name)
