"""A small client that speaks Streamlit's websocket protocol, so one process can be many browser tabs.

A browser tab holds one websocket to ``/_stcore/stream``. It asks for a script run with a ``BackMsg``
whose ``rerun_script`` names the page (its URL path) and carries every widget value it holds; the
server answers with a stream of ``ForwardMsg``: ``new_session``, the page's elements as ``delta``
messages, and ``script_finished`` when the run is over. This client does the same, keeps the value
of the sidebar prompt (the ``text_area`` whose key is ``prompt``; its id is read from the first
run), and records for each page run its time, its bytes and what a person would have seen go wrong
(an exception element, an error box, a page that was not found, a disconnect, a timeout).

It also starts and stops the app server, and samples the server's memory from /proc (Linux).
Used by bench/load_test.py, bench/ws_bytes.py and tests/test_load_small.py; loopback only.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

ROOT = Path(__file__).resolve().parent.parent
DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
PROMPT_KEY = "prompt"  # the sidebar text area's widget key (ui/sidebar.py)


# --- the server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``streamlit run app.py``, headless, on a free loopback port; a context manager that stops it."""

    def __init__(self, env: dict[str, str] | None = None, log: Path | None = None, startup_timeout: float = 120.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        self._env = {**os.environ, **(env or {})}
        self._log_path = log
        self._timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> AppServer:
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(self.port),
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self._log = open(self._log_path, "w") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self._env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app server exited with code {self.proc.returncode}; log: {self._log_path}")
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=1).read() == b"ok":
                    return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"the app server did not answer within {self._timeout:.0f} s; log: {self._log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()


# --- memory of the server's process tree ---------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_rss(pid: int) -> int:
    """Resident memory in bytes of ``pid`` and all its descendants (0 once it has exited)."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) that ``pid`` and its live descendants have used so far, in seconds."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15 of stat
    return total / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Samples ``tree_rss(pid)`` every ``interval`` seconds in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak, self.last = pid, interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> int:
        self.last = tree_rss(self.pid)
        self.peak = max(self.peak, self.last)
        return self.last

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


# --- one browser tab ------------------------------------------------------------------------------
@dataclass
class PageRun:
    """What one script run sent, as a browser would have received it."""

    page: str  # the URL path asked for ("" for the default page)
    label: str  # how reports name this run
    seconds: float = 0.0  # from sending the rerun request to the script_finished message
    started: float = 0.0  # time.monotonic() when the request was sent
    messages: int = 0
    bytes: int = 0  # sum of the ForwardMsg sizes (what the websocket carried, before compression)
    deflated: int = 0  # the same messages, each compressed alone with zlib: roughly the wire size
    element_bytes: dict[str, int] = field(default_factory=dict)  # by element type
    headings: list[str] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)  # label -> value shown
    exceptions: list[str] = field(default_factory=list)  # "Type: message" of each exception element
    error_boxes: list[str] = field(default_factory=list)  # st.error texts
    problem: str = ""  # disconnect, timeout, page not found, unfinished run
    shown: str | None = None  # URL path of the page the server ran ("" for the default page)

    @property
    def errors(self) -> list[str]:
        return self.exceptions + self.error_boxes + ([self.problem] if self.problem else [])

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def got_page(self) -> bool:
        """The server ran the page that was asked for."""
        return self.shown == self.page


class Session:
    """One browser tab: a websocket, the prompt it has typed, and the page runs it asked for."""

    def __init__(self, ws_url: str, name: str = "", measure_deflate: bool = False):
        self.ws_url, self.name = ws_url, name
        self.measure_deflate = measure_deflate
        self.prompt_id: str | None = None  # the prompt widget's id, learned from the first run
        self.prompt: str | None = None  # None: the default prompt (nothing typed yet)
        self.runs: list[PageRun] = []
        self.page_paths: list[str] = []  # URL paths of the app's other pages, from the navigation message
        self._ws = None

    async def connect(self, timeout: float = 30.0) -> None:
        # compression as a browser negotiates it; no client pings (browsers send none); pages can
        # exceed websockets' 1 MiB default message limit.
        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                            ping_interval=None, open_timeout=timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def type_prompt(self, text: str) -> None:
        """Set the sidebar prompt; it is sent with the next page run (as Ctrl+Enter does)."""
        if self.prompt_id is None:
            raise RuntimeError("the prompt's widget id is not known yet: run a page first")
        self.prompt = text

    def _rerun_msg(self, page: str) -> BackMsg:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = ""
        state.page_name = page  # the page's URL path ("" for the default page)
        if self.prompt is not None:
            w = state.widget_states.widgets.add()
            w.id, w.string_value = self.prompt_id, self.prompt
        return msg

    async def run_page(self, page: str, timeout: float = 120.0, label: str | None = None) -> PageRun:
        """Ask for ``page`` (its URL path, "" for the default page) and read the server's messages until
        the run is over (or ``timeout``)."""
        run = PageRun(page=page, label=label or page_label(page), started=time.monotonic())
        self.runs.append(run)
        try:
            if self._ws is None:
                await self.connect()
            await self._ws.send(self._rerun_msg(page).SerializeToString())
            await asyncio.wait_for(self._read_until_finished(run), timeout)
        except TimeoutError:
            run.problem = f"timeout: the page was not finished after {timeout:.0f} s"
        except websockets.ConnectionClosed as e:
            run.problem = f"disconnected: {e}"
        except OSError as e:
            run.problem = f"connection failed: {e}"
        run.seconds = time.monotonic() - run.started
        return run

    async def _read_until_finished(self, run: PageRun) -> None:
        started = False  # messages of an earlier run still in flight are not this page's
        while True:
            data = await self._ws.recv()
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                started = True
            if not started and kind != "page_not_found":
                continue
            run.messages += 1
            run.bytes += len(data)
            if self.measure_deflate:
                run.deflated += len(zlib.compress(data))
            if kind == "delta":
                self._read_delta(msg, len(data), run)
            elif kind == "navigation":
                nav = msg.navigation
                here = [p for p in nav.app_pages if p.page_script_hash == nav.page_script_hash]
                run.shown = "" if here and here[0].is_default else (here[0].url_pathname if here else None)
                self.page_paths = [p.url_pathname for p in nav.app_pages if not p.is_default]
            elif kind == "page_not_found":
                run.problem = f"page not found: {run.label}"
            elif kind == "script_finished":
                if msg.script_finished in DONE:
                    return
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    run.problem = "the script did not compile"
                    return
                started = False  # finished early for a rerun: the next run is the page's

    def _read_delta(self, msg: ForwardMsg, size: int, run: PageRun) -> None:
        if msg.delta.WhichOneof("type") != "new_element":
            return
        el = msg.delta.new_element
        kind = el.WhichOneof("type")
        run.element_bytes[kind] = run.element_bytes.get(kind, 0) + size
        if kind == "text_area" and el.text_area.id.endswith("-" + PROMPT_KEY):
            self.prompt_id = el.text_area.id
        elif kind == "heading":
            run.headings.append(el.heading.body)
        elif kind == "metric":
            run.metrics[el.metric.label] = el.metric.body
        elif kind == "exception":
            run.exceptions.append(f"{el.exception.type}: {el.exception.message}")
        elif kind == "alert" and el.alert.format == Alert.ERROR:
            run.error_boxes.append(f"error box: {el.alert.body[:200]}")


def page_label(page: str) -> str:
    return page or "home"
