"""Fetch GPT-2 weights from the Hugging Face Hub, only when asked: ``python -m gpt_core.download gpt2``.

Two files per model, config.json and model.safetensors (plain tensors: nothing in them can run
code). They land in ``models_dir()/<name>/`` ($GPT_EXPLAINER_MODELS_DIR, else
~/.cache/gpt-explainer/models), where ``load_model`` finds them. A download reports bytes done and
total, stops when asked, and resumes from the ``.part`` file it left; a finished file is checked
against the size and sha256 the Hub announced before it gets its real name.

huggingface_hub resolves the files and supplies the HTTP session; the streaming loop is written
here because ``hf_hub_download`` can be neither cancelled nor resumed (it deletes partial files).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import PRESETS, n_params
from .explained import Explained
from .loading import GPT2_NAMES, ModelNotAvailable, find_weights, models_dir

FILES = ("model.safetensors", "config.json")  # config.json last: a folder without it is never picked up
REPO = "openai-community/{name}"
PART = ".part"
CHUNK = 1 << 20
TIMEOUT = 10.0  # seconds without an answer before giving up: offline, nothing hangs

Progress = Callable[[int, int, str], None]  # (bytes done, bytes in all, file being fetched)


class DownloadError(Explained, RuntimeError):
    """A download failed; the message says why and what to do."""


class DownloadCancelled(DownloadError):
    """The user stopped the download; the part already fetched is kept for the next try."""


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    size: int
    sha256: str | None  # the Hub's ETag of a large (LFS) file is the sha256 of its content


def download_size_estimate(name: str) -> int:
    """Bytes of model.safetensors, estimated offline from the model's shape.

    The Hub's GPT-2 files hold every parameter in float32 plus each layer's stored causal mask
    (block_size² numbers), which GPT-2's original checkpoints kept as a buffer.
    """
    cfg = PRESETS[name].config
    return (n_params(cfg) + cfg.n_layer * cfg.block_size**2) * 4


@dataclass(frozen=True)
class Source:
    """Where the weights of a picker entry come from, as far as this machine can tell without a network."""

    kind: str  # "here" (found on disk) or "hub" (would have to be downloaded)
    path: Path | None
    size: int  # bytes on disk, or the estimated download


def locate(name: str) -> Source:
    """Where ``name``'s weights are, or that they would come from the Hub; never touches the network."""
    try:
        folder = find_weights(name)
    except ModelNotAvailable:
        return Source("hub", None, download_size_estimate(name) if name in GPT2_NAMES else 0)
    files = [p for p in folder.glob("*") if p.name in ("model.safetensors", "pytorch_model.bin")]
    return Source("here", folder, sum(p.stat().st_size for p in files))


def offline_message(name: str, reason: object) -> str:
    return (
        f"Could not reach the Hugging Face Hub ({reason}). The {name} weights are not on this machine. "
        f"On a machine with internet access run `python -m gpt_core.download {name}`, then copy the folder "
        f"{models_dir() / name} to the same place here (or point GPT_EXPLAINER_MODELS_DIR at the folder "
        f"that holds {name}/)."
    )


def offline_error(name: str, reason: object) -> DownloadError:
    """The error for a Hub that cannot be reached (``reason``: what the connection said)."""
    return DownloadError(offline_message(name, reason), "offline", name=name, error=str(reason),
                         folder=str(models_dir() / name))


def remote_files(name: str, revision: str = "main") -> list[RemoteFile]:
    """Ask the Hub for the size and checksum of each file of ``name`` (raises DownloadError offline)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    out = []
    for filename in FILES:
        url = hf_hub_url(REPO.format(name=name), filename, revision=revision)
        try:
            meta = get_hf_file_metadata(url, timeout=TIMEOUT)
        except Exception as e:  # offline, DNS, proxy, 404, rate limit: all end the same way for the user
            raise offline_error(name, _short(e)) from None
        if meta.size is None:
            raise DownloadError(f"The Hub did not say how large {filename} is; try again later.", "no_size",
                                filename=filename)
        sha = meta.etag if meta.etag and re.fullmatch(r"[0-9a-f]{64}", meta.etag) else None
        out.append(RemoteFile(filename, url, int(meta.size), sha))
    return out


@contextlib.contextmanager
def open_stream(url: str, start: int) -> Iterator[tuple[int, Iterator[bytes]]]:
    """Stream ``url`` from byte ``start``; yields (offset the data really starts at, chunks)."""
    from huggingface_hub import get_session
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    headers = build_hf_headers()
    if start:
        headers["Range"] = f"bytes={start}-"
    with get_session().stream("GET", url, headers=headers, follow_redirects=True, timeout=TIMEOUT) as r:
        hf_raise_for_status(r)
        yield (start if r.status_code == 206 else 0), r.iter_bytes(CHUNK)  # 200: the server ignored Range


def _short(e: BaseException, limit: int = 200) -> str:
    """The first line of an error, cut at a word boundary."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


@contextlib.contextmanager
def _only_one(folder: Path) -> Iterator[None]:
    """Refuse a second download into the same folder at the same time (another session or process)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; two downloads would just both write
        yield
        return
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DownloadError(f"Another download into {folder} is running; wait for it to finish.", "busy",
                                folder=str(folder)) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fetch(f: RemoteFile, target: Path, before: int, total: int, progress: Progress | None,
           cancel: Callable[[], bool] | None) -> None:
    """Fetch one file into ``target`` through ``target.part``; ``before`` bytes of other files are done."""
    part = target.with_name(target.name + PART)
    start = part.stat().st_size if part.is_file() else 0
    if start > f.size:
        part.unlink()
        start = 0
    digest = hashlib.sha256()
    if start and f.sha256:
        with part.open("rb") as old:
            for block in iter(lambda: old.read(CHUNK), b""):
                digest.update(block)
    if start < f.size:
        digest = _stream_into(f, part, start, digest, before, total, progress, cancel)
    got = part.stat().st_size
    if got != f.size or (f.sha256 and digest.hexdigest() != f.sha256):
        part.unlink()
        if got != f.size:
            raise DownloadError(f"{f.filename} arrived damaged ({got:,} bytes instead of {f.size:,}) and was deleted; "
                                "start again to fetch it afresh.", "damaged_size", filename=f.filename,
                                got=f"{got:,}", size=f"{f.size:,}")
        raise DownloadError(f"{f.filename} arrived damaged (its sha256 does not match the Hub's) and was deleted; "
                            "start again to fetch it afresh.", "damaged_sha", filename=f.filename)
    part.replace(target)


def _stream_into(f: RemoteFile, part: Path, start: int, digest, before: int, total: int,
                 progress: Progress | None, cancel: Callable[[], bool] | None):
    """Append the rest of ``f`` to ``part``; returns the sha256 object of the whole part."""
    at = start
    try:
        with open_stream(f.url, start) as (offset, chunks), part.open("r+b" if start else "wb") as out:
            if offset != start:  # the server sent the whole file: forget what the part held
                out.truncate(0)
                digest, at = hashlib.sha256(), 0
            out.seek(at)
            for chunk in chunks:
                if cancel is not None and cancel():
                    kept = f"{(before + at) / 1e6:,.0f}"
                    raise DownloadCancelled(f"Stopped. {kept} MB are kept; start again to continue.", "cancelled",
                                            kept=kept)
                out.write(chunk)
                digest.update(chunk)
                at += len(chunk)
                if progress is not None:
                    progress(before + at, total, f.filename)
    except DownloadError:
        raise
    except Exception as e:  # the connection broke half way: keep the part, say how to go on
        kept = f"{(before + at) / 1e6:,.0f}"
        raise DownloadError(f"The download of {f.filename} stopped ({_short(e)}). {kept} MB "
                            "are kept; start it again to continue where it stopped.", "broke", filename=f.filename,
                            error=_short(e), kept=kept) from None
    return digest


def download(name: str, dest: Path | None = None, progress: Progress | None = None,
             cancel: Callable[[], bool] | None = None, revision: str = "main",
             files: list[RemoteFile] | None = None) -> Path:
    """Fetch ``name`` (gpt2, gpt2-medium, gpt2-large, gpt2-xl) into ``dest/name``; return that folder.

    ``progress(done, total, filename)`` is called after every chunk; ``cancel()`` is asked before
    each one and, when it returns True, the download stops with DownloadCancelled. ``files`` is
    what ``remote_files`` returned, when the caller asked the Hub already.
    """
    if name not in GPT2_NAMES:
        raise ValueError(f"Only the GPT-2 models can be downloaded ({', '.join(GPT2_NAMES)}), not {name!r}.")
    files = files if files is not None else remote_files(name, revision)
    total = sum(f.size for f in files)
    folder = Path(dest or models_dir()) / name
    folder.mkdir(parents=True, exist_ok=True)
    with _only_one(folder):

        def have(f: RemoteFile) -> int:
            target = folder / f.filename
            if target.is_file() and target.stat().st_size == f.size:
                return f.size
            part = target.with_name(target.name + PART)
            return min(part.stat().st_size, f.size) if part.is_file() else 0

        if progress is not None:
            progress(sum(have(f) for f in files), total, "")
        for f in files:
            target = folder / f.filename
            if not (target.is_file() and target.stat().st_size == f.size):
                _fetch(f, target, sum(have(g) for g in files if g is not f), total, progress, cancel)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpt_core.download",
        description="Download GPT-2 weights (config.json and model.safetensors) from the Hugging Face Hub.",
    )
    parser.add_argument("names", nargs="+", choices=GPT2_NAMES, metavar="NAME",
                        help=f"one or more of: {', '.join(GPT2_NAMES)}")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder to put <NAME>/ in (default: $GPT_EXPLAINER_MODELS_DIR or {models_dir()})")
    parser.add_argument("--revision", default="main", help="a branch, tag or commit of the Hub repository")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    for name in args.names:
        print(f"{name}: asking https://huggingface.co/{REPO.format(name=name)} for its files…")
        try:
            files = remote_files(name, args.revision)
        except DownloadError as e:
            print(e, file=sys.stderr)
            return 1
        with tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True, desc=name, dynamic_ncols=True) as bar:
            def show(done: int, total: int, _file: str, bar=bar) -> None:
                bar.update(done - bar.n)

            try:
                folder = download(name, args.out, progress=show, files=files)
            except KeyboardInterrupt:
                bar.close()
                print(f"\nStopped. Run `python -m gpt_core.download {name}` again to continue where it stopped.")
                return 130
            except DownloadError as e:
                bar.close()
                print(f"\n{e}", file=sys.stderr)
                return 1
        print(f"{name}: saved in {folder}")
    if args.out is not None:
        print(f"Start the app with GPT_EXPLAINER_MODELS_DIR={args.out.resolve()} so it finds these folders.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
