"""The sidebar's model panel: where each model's weights come from, downloads, loading, memory.

A download runs in a background thread owned by the server (one per model, shared by every session,
so two classrooms clicking at once fetch the file once); the panel polls it once a second.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import streamlit as st

import gpt_core
from gpt_core import download as dl
from gpt_core.costs import (
    available_memory,
    load_measurements,
    loading_peak_bytes,
    measurements_path,
    record_measurement,
)
from gpt_core.loading import check_memory, models_dir, peek_config
from ui import state
from ui.text import section

PAGE = "models"
ANNOUNCE_BYTES = 100_000_000  # smaller models load in well under a second: no status box for them


def text(part: str, /, **values) -> str:
    return section(PAGE, part).format(**values)


def mb(n: int) -> str:
    if n < 1e6:
        return f"{n / 1e3:,.0f} KB"
    return f"{n / 1e6:,.0f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def picker_label(name: str) -> str:
    """The picker's line for ``name``: its title and, for GPT-2, whether the weights are here."""
    title = state.model_title(name)
    if name not in gpt_core.GPT2_NAMES:
        return title
    src = dl.locate(name)
    return f"{title} " + (text("label_here") if src.kind == "here" else text("label_hub", size=mb(src.size)))


# --- downloads: one background job per model, shared by the whole server ---------------------------


@dataclass
class Job:
    name: str
    cancel: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    total: int = 0
    error: str | tuple[str, dict, str] = ""  # as state.error_words keeps it
    finished: bool = False
    thread: threading.Thread | None = None

    def progress(self, done: int, total: int, _file: str) -> None:
        self.done, self.total = done, total

    def run(self, files: list[dl.RemoteFile]) -> None:
        try:
            dl.download(self.name, progress=self.progress, cancel=self.cancel.is_set, files=files)
        except dl.DownloadError as e:
            self.error = state.error_words(e)  # said in each reader's language when drawn
        except Exception as e:  # disk full, no permission, anything else: say it, never kill the server
            self.error = ("disk", {"error": str(e)}, f"The download failed ({e}).")
        finally:
            self.finished = True

    @property
    def running(self) -> bool:
        return not self.finished


@st.cache_resource
def _jobs() -> dict[str, Job]:
    return {}


def start_download(name: str) -> None:
    """Button callback: ask the Hub for the files (a few seconds at most), then fetch them in the background."""
    jobs = _jobs()
    if name in jobs and jobs[name].running:
        return
    try:
        files = dl.remote_files(name)
    except dl.DownloadError as e:
        jobs[name] = Job(name, error=state.error_words(e), finished=True)
        return
    job = Job(name, total=sum(f.size for f in files))
    job.thread = threading.Thread(target=job.run, args=(files,), name=f"download-{name}", daemon=True)
    jobs[name] = job
    job.thread.start()


def cancel_download(name: str) -> None:
    job = _jobs().get(name)
    if job is not None:
        job.cancel.set()


def forget(name: str) -> None:
    _jobs().pop(name, None)


def _job_view(name: str) -> None:
    job = _jobs().get(name)
    if job is None:
        return
    if job.running:
        frac = job.done / job.total if job.total else 0.0
        st.progress(min(frac, 1.0), text=text("progress", done=mb(job.done), total=mb(job.total)))
        st.button(text("cancel"), key=f"models.cancel.{name}", on_click=cancel_download, args=(name,),
                  icon=":material/stop:")
    elif job.error:
        (st.info if job.cancel.is_set() else st.error)(state.error_text(job.error))
        st.button(text("dismiss"), key=f"models.dismiss.{name}", on_click=forget, args=(name,))
    else:
        st.success(text("downloaded", folder=dl.locate(name).path))


def weights_panel() -> None:
    """An expander listing GPT-2's four sizes: where the weights are, or a download button."""
    jobs = _jobs()
    busy = any(j.running for j in jobs.values())
    wanted = st.session_state.get("model.wanted")
    with st.expander(text("panel_title"), expanded=busy or wanted is not None):
        _weights_rows(busy)


def _weights_rows(busy: bool) -> None:
    @st.fragment(run_every=1.0 if busy else None)
    def rows() -> None:
        jobs = _jobs()
        for name in gpt_core.GPT2_NAMES:
            src = dl.locate(name)
            job = jobs.get(name)
            if src.kind == "here":
                st.markdown(text("row_here", model=state.model_title(name), size=mb(src.size), folder=src.path))
            else:
                st.markdown(text("row_hub", model=state.model_title(name), size=mb(src.size)))
                if job is None or not job.running:
                    st.button(text("download", size=mb(src.size)), key=f"models.download.{name}",
                              on_click=start_download, args=(name,), icon=":material/download:")
            _job_view(name)
        if busy and not any(j.running for j in jobs.values()):
            st.rerun()  # a download finished: the picker's labels change too
        st.caption(text("panel_help", folder=models_dir()))

    rows()


# --- loading and memory ----------------------------------------------------------------------------


@st.cache_resource
def _loaded() -> set[str]:
    """Sources this server has loaded (the model cache itself cannot be asked)."""
    return set()


def announce_loading() -> None:
    """Before the active model is loaded for the first time: show the memory check, then load it with a status."""
    name = state.active_model()
    src = state.source(name)
    if src in _loaded():
        return
    try:
        folder = gpt_core.find_weights(src)
        cfg = peek_config(folder)
        check_memory(cfg, gpt_core.choose_device())
    except state.LOAD_ERRORS:
        return  # load_active says why, in the notice
    files = [p for p in folder.glob("*") if p.name in ("model.safetensors", "pytorch_model.bin")]
    size = sum(p.stat().st_size for p in files)
    if size < ANNOUNCE_BYTES:
        _loaded().add(src)
        return
    free = available_memory()
    last = load_measurements().get(f"load:{src}", {}).get("seconds")
    with st.status(text("loading", model=state.model_title(name), size=mb(size)), expanded=True) as status:
        st.write(text("loading_memory", need=mb(loading_peak_bytes(cfg)),
                      free=mb(free) if free is not None else text("unknown")))
        st.write(text("loading_from", folder=folder))
        if last:
            st.write(text("loading_last", seconds=f"{last:.1f}"))
        t0 = time.perf_counter()
        try:
            state.load_bundle(src)
        except state.LOAD_ERRORS:
            status.update(state="error")
            return
        seconds = time.perf_counter() - t0
        record_measurement(f"load:{src}", {"seconds": seconds, "bytes": size})
        status.update(label=text("loaded", model=state.model_title(name), seconds=f"{seconds:.1f}"),
                      state="complete", expanded=False)
    _loaded().add(src)


def memory_line(b: gpt_core.ModelBundle) -> str:
    """How much memory the loaded weights take, and where they run (counted from the tensors themselves)."""
    nbytes = sum(p.numel() * p.element_size() for p in b.model.parameters())
    return text("in_memory", size=mb(nbytes), device=b.info.device)


# --- timings of this machine, kept in a small JSON file between runs --------------------------------


def measurement_key(name: str, device: str) -> str:
    return f"{name}@{device}"


def save_timing(b: gpt_core.ModelBundle, timing) -> bool:
    """Store a timing of the active model; False when the file could not be written."""
    name = state.active_model()
    record = timing.as_record(b.info.name, b.info.device, b.info.n_params) | {"source": b.info.source}
    return record_measurement(measurement_key(name, b.info.device), record)


def measurements_file() -> str:
    return str(measurements_path())


def last_timing(name: str, source: str | None = None) -> dict | None:
    """The newest stored timing of picker entry or preset ``name`` on any device of this machine
    (only of the weights read from ``source``, when given)."""
    found = [v for k, v in load_measurements().items()
             if k.rpartition("@")[0] == name and (source is None or v.get("source") == source)]
    return max(found, key=lambda v: v.get("when", "")) if found else None
