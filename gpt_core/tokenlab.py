"""The tokenizer lab: how GPT reads text, byte by byte and merge by merge.

Everything the Tokens page shows is computed here from the tokenizers' own rank files:

* ``compare``: one text under several encodings, token by token, with each token's bytes and
  the tokens that hold only part of a UTF-8 character grouped into the characters they make;
* ``replay_bpe``: byte-pair encoding of a short span replayed step by step from the merge ranks,
  ending at exactly the tokens tiktoken produces;
* ``pretokenize``: the chunks each pre-tokenization pattern cuts the text into;
* ``lookup``: a vocabulary entry by id or by string, with its neighbours in rank order;
* ``special_view`` and ``token_table_csv``: special tokens typed as text, and the CSV export.

Results are plain frozen dataclasses (no tokenizer inside), so a page can cache them.
"""

from __future__ import annotations

import csv
import functools
import io
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import regex

from .bpe import merge_lowest_rank_first
from .tokenizer import ENDOFTEXT, Tokenizer, get_tokenizer

COMPARED = ("r50k_base", "cl100k_base", "o200k_base")
"""The OpenAI encodings every comparison shows, next to the loaded model's own."""
BASELINE = "r50k_base"  # the takeaway compares against GPT-2's encoding
SHOWN_CHARS = 1_000  # chips are drawn for this many characters of the text at most ...
SHOWN_TOKENS = 1_500  # ... and for at most this many tokens per encoding
REPLAY_MAX_BYTES = 64  # the BPE replay works on a span of at most this many UTF-8 bytes


def _is_continuation(byte: int) -> bool:
    """True for a UTF-8 continuation byte (0b10xxxxxx): it cannot start a character."""
    return byte & 0xC0 == 0x80


def hex_bytes(data: bytes) -> str:
    """``b"\\xe4\\xbd"`` -> ``"E4 BD"``."""
    return data.hex(" ").upper()


def codepoint(char: str) -> str:
    """``"\\u200b"`` -> ``"U+200B"``."""
    return f"U+{ord(char):04X}"


def char_name(char: str) -> str:
    """The Unicode name of a character, or its category for unnamed ones (controls, surrogates)."""
    return unicodedata.name(char, "") or f"<{unicodedata.category(char)}>"


# --- the text as tiktoken can take it -------------------------------------------------------------


@dataclass(frozen=True)
class CleanText:
    """A text made valid for UTF-8, and what was changed or is worth pointing out in it.

    ``replaced``: (position in the original text, code point) of each lone surrogate, which no
    UTF-8 encoder can write and which became U+FFFD. ``joined``: surrogate pairs that arrived as two
    code points and were joined into one character. ``invisible``: (code point, name, count) of
    characters that take no room on screen (controls, format characters such as zero-width joiners
    and direction marks); they are tokenized like any other character.
    """

    text: str
    replaced: tuple[tuple[int, str], ...] = ()
    joined: int = 0
    invisible: tuple[tuple[str, str, int], ...] = ()


# Controls other than tab and line breaks, and format, line/paragraph-separator and private-use characters.
_INVISIBLE = regex.compile(r"[^\n\t\r\P{Cc}]|[\p{Cf}\p{Zl}\p{Zp}\p{Co}]")


def clean_text(text: str) -> CleanText:
    """``text`` as the tokenizers encode it (see ``tokenizer._valid_unicode``), with a report."""
    try:
        text.encode("utf-8")
        clean, replaced, joined = text, [], 0
    except UnicodeEncodeError:
        clean, replaced, joined = _fix_surrogates(text)
    counts = Counter(_INVISIBLE.findall(clean))
    invisible = tuple((codepoint(c), char_name(c), n) for c, n in counts.most_common())
    return CleanText(clean, tuple(replaced), joined, invisible)


def _fix_surrogates(text: str) -> tuple[str, list[tuple[int, str]], int]:
    """Join surrogate pairs, replace lone surrogates by U+FFFD; report (position, code point) of each."""
    out: list[str] = []
    replaced: list[tuple[int, str]] = []
    joined = 0
    i = 0
    while i < len(text):
        c = text[i]
        if "\ud800" <= c <= "\udbff" and i + 1 < len(text) and "\udc00" <= text[i + 1] <= "\udfff":
            out.append(chr(0x10000 + ((ord(c) - 0xD800) << 10) + (ord(text[i + 1]) - 0xDC00)))
            joined += 1
            i += 2
            continue
        if "\ud800" <= c <= "\udfff":
            replaced.append((i, codepoint(c)))
            c = "\ufffd"
        out.append(c)
        i += 1
    return "".join(out), replaced, joined


# --- one text under several encodings -----------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One token of an encoded text. ``text`` is its bytes decoded alone (U+FFFD for partial bytes)."""

    position: int
    id: int
    data: bytes
    text: str
    partial: bool  # holds only part of a UTF-8 character: its start or its end cuts a character


@dataclass(frozen=True)
class CharGroup:
    """Tokens ``first``..``last`` (positions) whose bytes only make characters together: ``text``."""

    first: int
    last: int
    data: bytes
    text: str


@dataclass(frozen=True)
class Encoded:
    """A text under one encoding. ``tokens`` and ``groups`` cover the shown part of the text only."""

    name: str
    label: str
    is_model: bool
    n_vocab: int
    n_tokens: int
    n_chars: int
    n_partial: int  # tokens, in the whole text, that hold part of a character
    tokens: tuple[Token, ...]
    groups: tuple[CharGroup, ...]

    @property
    def chars_per_token(self) -> float:
        return self.n_chars / self.n_tokens if self.n_tokens else 0.0

    @property
    def cut(self) -> bool:
        """True when only the first part of the tokens is shown."""
        return len(self.tokens) < self.n_tokens


@dataclass(frozen=True)
class Comparison:
    """The same text under every encoding, in display order (the loaded model's first)."""

    n_chars: int
    shown_chars: int  # characters of the text that the shown tokens start in
    encodings: tuple[Encoded, ...]

    def by_name(self, name: str) -> Encoded:
        for enc in self.encodings:
            if enc.name == name:
                return enc
        raise KeyError(f"{name!r} is not in this comparison ({', '.join(e.name for e in self.encodings)}).")


def partial_flags(pieces: Sequence[bytes]) -> list[bool]:
    """For each token's bytes in a valid UTF-8 stream: does it hold only part of a character?"""
    return _cut_flags([bool(p) and _is_continuation(p[0]) for p in pieces])


def _cut_flags(starts_inside: Sequence[bool]) -> list[bool]:
    """In valid UTF-8 a position is a character boundary exactly when its byte is not a continuation
    byte, so token i cuts a character when it starts inside one, or when token i+1 does."""
    n = len(starts_inside)
    return [starts_inside[i] or (i + 1 < n and starts_inside[i + 1]) for i in range(n)]


@functools.lru_cache(maxsize=8)  # keyed by the tokenizer object: the shipped ones are loaded once
def _continuation_ids(tok: Tokenizer) -> frozenset[int]:
    """Ids of the tokens whose first byte is a UTF-8 continuation byte (found once per tokenizer)."""
    return frozenset(i for data, i in tok.mergeable_ranks.items() if _is_continuation(data[0]))


def char_groups(tokens: Sequence[Token]) -> list[CharGroup]:
    """Runs of partial tokens that together make whole characters, in order.

    Only tokens whose first byte starts a character can begin a run, so a run that the shown part
    cuts at its start is left out; one cut at its end decodes what it has (with U+FFFD).
    """
    groups: list[CharGroup] = []
    run: list[Token] = []
    for tok in tokens:
        if run and tok.data and _is_continuation(tok.data[0]):
            run.append(tok)
            continue
        if len(run) > 1:
            groups.append(_group(run))
        run = [tok] if tok.partial and tok.data and not _is_continuation(tok.data[0]) else []
    if len(run) > 1:
        groups.append(_group(run))
    return groups


def _group(run: list[Token]) -> CharGroup:
    data = b"".join(t.data for t in run)
    return CharGroup(run[0].position, run[-1].position, data, data.decode("utf-8", errors="replace"))


def encode(tok: Tokenizer, text: str, is_model: bool = False, shown_chars: int = SHOWN_CHARS,
           max_tokens: int = SHOWN_TOKENS) -> Encoded:
    """``text`` (already cleaned) under ``tok``: counts over the whole text, tokens of its start."""
    ids = tok.encode(text)
    inside = _continuation_ids(tok)
    flags = _cut_flags([i in inside for i in ids])
    limit = len(text[:shown_chars].encode("utf-8"))  # tokens starting before this byte are shown
    shown: list[Token] = []
    offset = 0
    for i, tid in enumerate(ids[:max_tokens]):
        if offset >= limit:
            break
        data = tok.token_bytes(tid)
        shown.append(Token(i, tid, data, data.decode("utf-8", errors="replace"), flags[i]))
        offset += len(data)
    return Encoded(
        name=tok.name, label=tok.label, is_model=is_model, n_vocab=tok.n_vocab, n_tokens=len(ids),
        n_chars=len(text), n_partial=sum(flags), tokens=tuple(shown), groups=tuple(char_groups(shown)),
    )


def encodings_for(model_tok: Tokenizer | None, others: Sequence[Tokenizer]) -> list[tuple[Tokenizer, bool]]:
    """The loaded model's tokenizer first, then the others it is not already one of."""
    rows = [(model_tok, True)] if model_tok is not None else []
    seen = {model_tok.name} if model_tok is not None else set()
    return rows + [(t, False) for t in others if t.name not in seen]


def compare(text: str, tokenizers: Sequence[tuple[Tokenizer, bool]], shown_chars: int = SHOWN_CHARS,
            max_tokens: int = SHOWN_TOKENS) -> Comparison:
    """``text`` (already cleaned) under each (tokenizer, is the model's) in order."""
    encs = tuple(encode(t, text, is_model, shown_chars, max_tokens) for t, is_model in tokenizers)
    return Comparison(n_chars=len(text), shown_chars=min(len(text), shown_chars), encodings=encs)


@dataclass(frozen=True)
class Takeaway:
    """``best`` needs ``fewer`` (a fraction) fewer tokens than ``base`` for the text."""

    best: Encoded
    base: Encoded
    fewer: float


def takeaway(comparison: Comparison, baseline: str = BASELINE) -> Takeaway | None:
    """The encoding with the fewest tokens against GPT-2's (or, if GPT-2's is the fewest, the most).

    None when the text has no tokens or every encoding needs the same number.
    """
    encs = [e for e in comparison.encodings if e.n_tokens]
    if not encs:
        return None
    best = min(encs, key=lambda e: e.n_tokens)
    base = next((e for e in encs if e.name == baseline), None)
    if base is None or base.n_tokens <= best.n_tokens:
        base = max(encs, key=lambda e: e.n_tokens)
    if base.n_tokens == best.n_tokens:
        return None
    return Takeaway(best, base, 1 - best.n_tokens / base.n_tokens)


@dataclass(frozen=True)
class LabData:
    """What the Tokens page shows for one text, before any widget is touched."""

    clean: CleanText
    comparison: Comparison
    chunkings: tuple[Chunking, ...]
    specials_typed: dict[str, int]  # special-token strings found in the text, with their counts


def lab_tokenizers(model_tok: Tokenizer | None) -> list[Tokenizer]:
    """The loaded model's tokenizer, then the shipped OpenAI encodings it is not."""
    return [t for t, _ in encodings_for(model_tok, [get_tokenizer(n) for n in COMPARED])]


def build_lab(text: str, model_tok: Tokenizer | None) -> LabData:
    """Everything the page draws first for ``text``; fast on a 100,000-character text."""
    clean = clean_text(text)
    toks = lab_tokenizers(model_tok)
    rows = [(t, model_tok is not None and t.name == model_tok.name) for t in toks]
    return LabData(
        clean=clean,
        comparison=compare(clean.text, rows),
        chunkings=tuple(pretokenize(clean.text, toks)),
        specials_typed=specials_in_text(clean.text, toks),
    )


# --- pre-tokenization ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunking:
    """The chunks one pattern cuts the text into; ``chunks`` covers the shown part only."""

    pattern: str
    labels: tuple[str, ...]  # the encodings that use this pattern
    n_chunks: int
    chunks: tuple[str, ...]


def pretokenize(text: str, tokenizers: Sequence[Tokenizer], shown_chars: int = SHOWN_CHARS) -> list[Chunking]:
    """One entry per distinct pattern among ``tokenizers`` (in their order), for ``text`` (cleaned)."""
    by_pattern: dict[str, list[str]] = {}
    for tok in tokenizers:
        by_pattern.setdefault(tok.pat_str, []).append(tok.label)
    result = []
    for pattern, labels in by_pattern.items():
        chunks = regex.findall(pattern, text)
        shown: list[str] = []
        length = 0
        for chunk in chunks:
            if length >= shown_chars:
                break
            shown.append(chunk)
            length += len(chunk)
        result.append(Chunking(pattern, tuple(labels), len(chunks), tuple(shown)))
    return result


# --- BPE, step by step ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Two neighbouring parts of chunk ``chunk`` (``index`` of the left one) and the rank of their join."""

    chunk: int
    index: int
    left: bytes
    right: bytes
    rank: int | None  # None: the join is not in the vocabulary, so this pair can never merge


@dataclass(frozen=True)
class Step:
    """One step of the replay: ``before`` -> ``after``, by merging ``merged`` (or the shortcut).

    ``pairs`` are every neighbouring pair of ``before``; ``merged`` is the one of lowest rank
    (leftmost on ties). A ``shortcut`` step is tiktoken's rule that a chunk which is itself a token
    is kept whole, applied where merging stopped short of it.
    """

    before: tuple[tuple[bytes, ...], ...]
    after: tuple[tuple[bytes, ...], ...]
    pairs: tuple[Pair, ...]
    merged: Pair | None
    shortcut_chunk: int | None = None


@dataclass(frozen=True)
class Replay:
    """BPE of a span under one encoding: its chunks, every step, and the final tokens."""

    encoding: str
    span: str  # the span replayed (cut to ``REPLAY_MAX_BYTES``)
    cut_bytes: int  # bytes of the requested span left out
    chunks: tuple[bytes, ...]
    whole: tuple[bool, ...]  # per chunk: is the whole chunk a token (tiktoken looks it up directly)
    start: tuple[tuple[bytes, ...], ...]  # every chunk as single bytes
    steps: tuple[Step, ...]
    ids: tuple[int, ...]  # the final token ids, chunk after chunk

    @property
    def final(self) -> tuple[tuple[bytes, ...], ...]:
        return self.steps[-1].after if self.steps else self.start

    def state(self, step: int) -> tuple[tuple[bytes, ...], ...]:
        """The parts after ``step`` steps (0: the bytes)."""
        return self.steps[step - 1].after if step else self.start


def cut_to_bytes(text: str, max_bytes: int) -> tuple[str, int]:
    """The longest prefix of ``text`` (whole characters) that fits ``max_bytes``, and the bytes cut."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text, 0
    end = max_bytes
    while end and _is_continuation(data[end]):
        end -= 1
    return data[:end].decode("utf-8"), len(data) - end


def _pairs(state: tuple[tuple[bytes, ...], ...], ranks: Mapping[bytes, int]) -> tuple[Pair, ...]:
    return tuple(
        Pair(c, i, parts[i], parts[i + 1], ranks.get(parts[i] + parts[i + 1]))
        for c, parts in enumerate(state)
        for i in range(len(parts) - 1)
    )


def replay_bpe(tok: Tokenizer, span: str, max_bytes: int = REPLAY_MAX_BYTES) -> Replay:
    """Replay BPE on ``span``: pre-tokenize, start from bytes, merge the lowest-rank pair each step.

    Chunks never merge with each other, so merging the lowest-rank pair over all chunks at once
    gives each chunk the same merges, in the same order, as tiktoken's chunk-by-chunk loop.
    """
    clean = clean_text(span).text
    span, cut = cut_to_bytes(clean, max_bytes)
    ranks = tok.mergeable_ranks
    chunks = tuple(c.encode("utf-8") for c in tok.pretokenize(span))
    start = tuple(tuple(bytes([b]) for b in chunk) for chunk in chunks)
    steps: list[Step] = []
    state = start
    while True:
        pairs = _pairs(state, ranks)
        mergeable = [p for p in pairs if p.rank is not None]
        if not mergeable:
            break
        best = min(mergeable, key=lambda p: (p.rank, p.chunk, p.index))
        parts = list(state[best.chunk])
        parts[best.index : best.index + 2] = [best.left + best.right]
        after = state[: best.chunk] + (tuple(parts),) + state[best.chunk + 1 :]
        steps.append(Step(state, after, pairs, best))
        state = after
    for c, chunk in enumerate(chunks):  # tiktoken: a chunk that is a token is kept whole
        if chunk in ranks and state[c] != (chunk,):
            after = state[:c] + ((chunk,),) + state[c + 1 :]
            steps.append(Step(state, after, _pairs(state, ranks), None, shortcut_chunk=c))
            state = after
    ids = tuple(ranks[p] for parts in state for p in parts)
    return Replay(tok.name, span, cut, chunks, tuple(c in ranks for c in chunks), start, tuple(steps), ids)


def replay_suggestions(tok: Tokenizer, text: str, limit: int = 8) -> list[str]:
    """Words of ``text`` worth replaying: distinct chunks of several tokens, most tokens first."""
    scored: dict[str, int] = {}
    for chunk in tok.pretokenize(text[:SHOWN_CHARS]):
        word = chunk.strip()
        if word and word not in scored and len(word.encode("utf-8")) <= REPLAY_MAX_BYTES:
            scored[word] = len(tok.encode(word))
    ranked = sorted(scored, key=lambda w: -scored[w])  # stable: ties keep the text's order
    return ranked[:limit]


# --- the vocabulary --------------------------------------------------------------------------------------


class _RanksBelow(Mapping[bytes, int]):
    """The rank table as it was just before token ``limit`` was added (ranks < ``limit``)."""

    def __init__(self, ranks: Mapping[bytes, int], limit: int) -> None:
        self._ranks, self._limit = ranks, limit

    def __getitem__(self, key: bytes) -> int:
        rank = self._ranks[key]
        if rank >= self._limit:
            raise KeyError(key)
        return rank

    def __iter__(self) -> Iterator[bytes]:
        return (k for k, r in self._ranks.items() if r < self._limit)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True)
class VocabEntry:
    """One vocabulary entry. For a merged token, ``made_from`` is the pair whose merge made it."""

    id: int
    data: bytes
    text: str
    special: bool = False
    made_from: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Lookup:
    """What a vocabulary query found. ``entry`` is None when the query is not one token;
    ``encoded_as`` then holds the tokens it encodes to, and ``problem`` says what went wrong, if anything."""

    query: str
    by_id: bool
    entry: VocabEntry | None
    neighbours: tuple[VocabEntry, ...] = ()
    encoded_as: tuple[VocabEntry, ...] = ()
    problem: str = ""  # "" | "not_a_number" | "no_such_id" | "empty"


def _entry(tok: Tokenizer, token_id: int) -> VocabEntry | None:
    """The entry of ``token_id``, or None where no token has that id (gaps before special ids)."""
    specials = {v: k for k, v in tok.special_tokens.items()}
    if token_id in specials:
        text = specials[token_id]
        return VocabEntry(token_id, text.encode("utf-8"), text, special=True)
    try:
        data = tok.token_bytes(token_id)
    except ValueError:
        return None
    made_from: tuple[bytes, ...] = ()
    if len(data) > 1:  # replay BPE on the token's own bytes with the vocabulary it was added to
        made_from = tuple(merge_lowest_rank_first([bytes([b]) for b in data], _RanksBelow(tok.mergeable_ranks,
                                                                                            token_id)))
    return VocabEntry(token_id, data, data.decode("utf-8", errors="replace"), made_from=made_from)


def neighbours(tok: Tokenizer, token_id: int, radius: int = 5) -> tuple[VocabEntry, ...]:
    """Entries with ids ``token_id - radius`` .. ``token_id + radius`` that exist, in rank order."""
    found = (_entry(tok, i) for i in range(max(0, token_id - radius), token_id + radius + 1))
    return tuple(e for e in found if e is not None)


def lookup(tok: Tokenizer, query: str, by_id: bool, radius: int = 5) -> Lookup:
    """Look ``query`` up as a token id (``by_id``) or as the text of a token."""
    if by_id:
        try:
            token_id = int(query.strip())
        except ValueError:
            return Lookup(query, True, None, problem="empty" if not query.strip() else "not_a_number")
        entry = _entry(tok, token_id) if token_id >= 0 else None
        if entry is None:
            return Lookup(query, True, None, problem="no_such_id")
        return Lookup(query, True, entry, neighbours(tok, token_id, radius))
    if not query:
        return Lookup(query, False, None, problem="empty")
    text = clean_text(query).text
    if text in tok.special_tokens:
        token_id = tok.special_tokens[text]
    else:
        token_id = tok.mergeable_ranks.get(text.encode("utf-8"), -1)
    if token_id >= 0:
        return Lookup(query, False, _entry(tok, token_id), neighbours(tok, token_id, radius))
    encoded = tuple(e for e in (_entry(tok, i) for i in tok.encode(text)) if e is not None)
    return Lookup(query, False, None, encoded_as=encoded)


@dataclass(frozen=True)
class VocabSize:
    name: str
    label: str
    n_vocab: int  # ids in use, including the gaps before the special ids
    n_merged: int  # tokens made by merges (all but the 256 bytes and the special tokens)
    n_special: int


def vocab_sizes(tokenizers: Sequence[Tokenizer]) -> list[VocabSize]:
    return [
        VocabSize(t.name, t.label, t.n_vocab, len(t.mergeable_ranks) - 256, len(t.special_tokens))
        for t in tokenizers
    ]


# --- special tokens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecialView:
    """``special`` typed by a user (plain text) against the special token itself, under one encoding."""

    name: str
    label: str
    special: str
    special_id: int | None  # None: this encoding has no such special token
    typed: tuple[VocabEntry, ...]  # what the typed string becomes: ordinary tokens
    all_specials: tuple[tuple[str, int], ...]


def special_view(tokenizers: Sequence[Tokenizer], special: str = ENDOFTEXT) -> list[SpecialView]:
    views = []
    for tok in tokenizers:
        typed = tuple(e for e in (_entry(tok, i) for i in tok.encode(special)) if e is not None)
        specials = tuple(sorted(tok.special_tokens.items(), key=lambda kv: kv[1]))
        views.append(SpecialView(tok.name, tok.label, special, tok.special_tokens.get(special), typed, specials))
    return views


def specials_in_text(text: str, tokenizers: Sequence[Tokenizer]) -> dict[str, int]:
    """How often each special-token string of any of ``tokenizers`` appears in ``text``."""
    names = sorted({s for t in tokenizers for s in t.special_tokens})
    return {s: text.count(s) for s in names if s in text}


# --- export ---------------------------------------------------------------------------------------------------


CSV_COLUMNS = ("encoding", "position", "id", "text", "bytes")


def token_table_csv(text: str, tokenizers: Sequence[Tokenizer]) -> str:
    """Every token of ``text`` (cleaned) under each tokenizer: encoding, position, id, text, bytes (hex).

    ``text`` is the token's bytes decoded alone, so a token holding part of a character shows U+FFFD;
    ``bytes`` is exact.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for tok in tokenizers:
        ids = tok.encode(text)
        for pos, (tid, data) in enumerate(zip(ids, tok.encoding.decode_tokens_bytes(ids), strict=True)):
            writer.writerow((tok.name, pos, tid, data.decode("utf-8", errors="replace"), hex_bytes(data)))
    return buf.getvalue()
