"""Byte-level byte-pair encoding (BPE): how a GPT tokenizer is learnt, written to be read.

Training starts from the 256 single bytes, so any text can be encoded. The text is first cut into
chunks with a regular expression (words, numbers, punctuation runs, spaces), so a token never
spans two words. Then, again and again, the most frequent pair of neighbouring tokens is glued
into a new token, which gets the next free id (its *rank*), until the vocabulary is full.

The result is a rank table ``{token bytes: rank}`` in tiktoken's format. tiktoken encodes a chunk
like this: if the whole chunk is a token, that is the answer; otherwise it starts from single bytes
and keeps merging the neighbouring pair whose concatenation has the lowest rank (leftmost first
on ties). While training we keep every chunk exactly in that state for the vocabulary learnt so
far, so the saved table splits the training text exactly as training did.

Rebuild the default model's table::

    python -m gpt_core.bpe --corpus assets/corpus/shakespeare.txt --vocab-size 1023 \
        --out assets/tokenizers/shakespeare_bpe.tiktoken
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import regex
import tiktoken

GPT2_PAT_STR = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
"""GPT-2's pre-tokenization pattern, as tiktoken writes it (r50k_base)."""

Pair = tuple[bytes, bytes]


@dataclass(frozen=True)
class Merge:
    """One training step: ``left + right`` became token ``rank``.

    ``count`` is how often the pair occurred in the training text when it was chosen.
    """

    rank: int
    left: bytes
    right: bytes
    count: int

    @property
    def token(self) -> bytes:
        """The bytes of the new token."""
        return self.left + self.right


def byte_ranks() -> dict[bytes, int]:
    """The starting vocabulary: each of the 256 bytes is a token, rank = byte value."""
    return {bytes([b]): b for b in range(256)}


def merge_lowest_rank_first(parts: list[bytes], ranks: Mapping[bytes, int]) -> list[bytes]:
    """Merge neighbouring tokens, lowest-rank concatenation first, until no pair is a token."""
    parts = list(parts)
    while len(parts) > 1:
        best_rank, best_i = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best_rank is None or rank < best_rank):
                best_rank, best_i = rank, i
        if best_rank is None:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return parts


def encode_chunk(chunk: bytes, ranks: Mapping[bytes, int]) -> list[bytes]:
    """Split one pre-tokenized chunk into tokens exactly as tiktoken does."""
    if chunk in ranks:  # tiktoken's shortcut: a chunk that is a token stays whole
        return [chunk]
    return merge_lowest_rank_first([bytes([b]) for b in chunk], ranks)


class _Trainer:
    """Training state: every distinct chunk, its count, its current tokens, and pair statistics.

    Working on distinct chunks (``" the"`` once, with its count) instead of on the running text,
    and updating pair counts only for the chunks a merge touches, is what makes training fast.
    """

    def __init__(self, text: str, pat_str: str) -> None:
        counts = Counter(regex.findall(pat_str, text))
        self.chunks = [chunk.encode("utf-8") for chunk in counts]
        self.freqs = list(counts.values())
        self.tokens = [[bytes([b]) for b in chunk] for chunk in self.chunks]
        self.chunk_index = {chunk: i for i, chunk in enumerate(self.chunks)}
        self.ranks = byte_ranks()
        self.pair_counts: Counter[Pair] = Counter()
        self.pair_chunks: dict[Pair, set[int]] = {}
        for i in range(len(self.chunks)):
            self._count_pairs(i, +1)

    def _count_pairs(self, i: int, sign: int) -> None:
        """Add (``sign=+1``) or remove (``-1``) the neighbouring pairs of chunk ``i``."""
        toks, freq = self.tokens[i], self.freqs[i]
        for pair in pairwise(toks):
            self.pair_counts[pair] += sign * freq
            if sign > 0:
                self.pair_chunks.setdefault(pair, set()).add(i)
            else:
                if self.pair_counts[pair] == 0:
                    del self.pair_counts[pair]
                self.pair_chunks[pair].discard(i)

    def best_pair(self) -> tuple[Pair, int] | None:
        """The most frequent pair; ties go to the smallest ``(left, right)`` bytes."""
        if not self.pair_counts:
            return None
        top = max(self.pair_counts.values())
        return min(pair for pair, n in self.pair_counts.items() if n == top), top

    def add_token(self, token: bytes) -> None:
        """Give ``token`` the next rank and re-split every chunk that can now use it."""
        self.ranks[token] = len(self.ranks)
        touched: set[int] = set()
        for cut in range(1, len(token)):  # any neighbouring pair spelling ``token``
            touched |= self.pair_chunks.get((token[:cut], token[cut:]), set())
        if token in self.chunk_index:
            touched.add(self.chunk_index[token])
        for i in touched:
            self._count_pairs(i, -1)
            if self.chunks[i] == token:
                self.tokens[i] = [token]
            else:
                # The chunk already had every lower-rank merge; carrying on from here is what
                # tiktoken would do from single bytes with the new vocabulary.
                self.tokens[i] = merge_lowest_rank_first(self.tokens[i], self.ranks)
            self._count_pairs(i, +1)


def learn_merges(
    text: str,
    vocab_size: int,
    pat_str: str = GPT2_PAT_STR,
    on_merge: Callable[[Merge], None] | None = None,
) -> list[Merge]:
    """Learn ``vocab_size - 256`` merges from ``text`` (fewer if the text runs out of pairs).

    ``on_merge`` is called after each step (for progress display).
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the single bytes), got {vocab_size}.")
    trainer = _Trainer(text, pat_str)
    merges: list[Merge] = []
    while len(trainer.ranks) < vocab_size:
        best = trainer.best_pair()
        if best is None:
            break
        (left, right), count = best
        merge = Merge(len(trainer.ranks), left, right, count)
        trainer.add_token(merge.token)
        merges.append(merge)
        if on_merge is not None:
            on_merge(merge)
    return merges


def train_bpe(text: str, vocab_size: int, pat_str: str = GPT2_PAT_STR) -> dict[bytes, int]:
    """Train a rank table of ``vocab_size`` tokens: 256 bytes + merges (no special tokens)."""
    ranks = byte_ranks()
    for merge in learn_merges(text, vocab_size, pat_str):
        ranks[merge.token] = merge.rank
    return ranks


def save_tiktoken_bpe(ranks: Mapping[bytes, int], path: str | Path) -> None:
    """Write ``ranks`` in tiktoken's format: ``base64(token) rank`` per line, by rank."""
    lines = [
        f"{base64.b64encode(token).decode('ascii')} {rank}\n"
        for token, rank in sorted(ranks.items(), key=lambda item: item[1])
    ]
    Path(path).write_text("".join(lines), encoding="ascii", newline="\n")


def parse_tiktoken_bpe(data: bytes) -> dict[bytes, int]:
    """Read a tiktoken rank file's contents back into ``{token bytes: rank}``."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def build_encoding(
    name: str, ranks: dict[bytes, int], pat_str: str, special_tokens: dict[str, int]
) -> tiktoken.Encoding:
    """Make a ``tiktoken.Encoding`` from a rank table, a pattern and special tokens."""
    clashes = set(special_tokens.values()) & set(ranks.values())
    if clashes:
        raise ValueError(f"Special token ids {sorted(clashes)} are already ranks of {name}.")
    return tiktoken.Encoding(
        name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special_tokens
    )


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: train on a corpus, save the table, print a summary."""
    parser = argparse.ArgumentParser(description="Train a byte-level BPE tokenizer.")
    parser.add_argument("--corpus", type=Path, required=True, help="UTF-8 training text")
    parser.add_argument(
        "--vocab-size", type=int, required=True, help="256 bytes + merges, no specials"
    )
    parser.add_argument("--out", type=Path, required=True, help="the .tiktoken file to write")
    parser.add_argument("--pat-str", default=GPT2_PAT_STR, help="pre-tokenization regex")
    args = parser.parse_args(argv)

    text = args.corpus.read_text(encoding="utf-8")
    start = time.perf_counter()
    ranks = train_bpe(text, args.vocab_size, args.pat_str)
    seconds = time.perf_counter() - start
    save_tiktoken_bpe(ranks, args.out)

    n_tokens = len(build_encoding("trained", ranks, args.pat_str, {}).encode_ordinary(text))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{len(ranks) - 256} merges in {seconds:.1f} s -> {args.out}")
    print(f"sha256 {digest}")
    ratio = len(text) / n_tokens
    print(f"{len(text):,} characters -> {n_tokens:,} tokens: {ratio:.3f} chars/token")


if __name__ == "__main__":
    main()
