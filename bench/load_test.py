"""A class at once: N students open the app at the same moment, type their own prompts, visit the pages.

    python bench/load_test.py [--sessions 30] [--model default|gpt2-small-random|tiny|FOLDER]
                              [--pages overview,tokens,attention,generation] [--cold] [--think S]
                              [--url http://127.0.0.1:8501 [--server-pid PID]]

Starts the app server (``streamlit run app.py``, headless, on a free loopback port; or, with --url, uses
one already running, such as the Docker image, with the model it serves) and drives N
websocket sessions at once, each one a browser tab as bench/stclient.py speaks it: open the app (the
Home page, default prompt), type its own prompt (a different passage of the corpus per session; the
Home page reruns with it), then visit each page in --pages in turn. Prints:

- errors (target 0): exception elements, error boxes, pages not found or not shown, disconnects,
  timeouts;
- median and 95th percentile time to a rendered page (request sent → script_finished received), over
  every page run, and per page;
- each session's wait (open → its last page rendered) in the order the sessions were started, with
  max / median (no session starved: at most 2.5), and how closely the order pages were served in
  follows the order they were asked for (Spearman's rank correlation, 1 = first come first served);
- the server's peak memory: RSS of its process tree, sampled every 0.2 s from /proc;
- the CPU time the server spent on the class: on a shared machine the times above include waiting
  for other programs, this figure does not (on an idle 2-core machine the class needs at least
  half of it in wall time, more where Python's GIL keeps work on one core).

By default the server is warm, as in a class: the teacher opened the app once before the students
(this loads the model and precomputes the default prompt). --cold starts the students on a server
that has loaded nothing. By default every student asks for the next page the moment the last one is
drawn (the hardest case); --think S makes each type or read for 0.5-1.5 × S seconds first. Bounded: every
page run has --page-timeout seconds, the whole test --time-limit seconds. Nothing leaves 127.0.0.1.

Targets on a 2-core machine: with the shipped model, 0 errors, median under 3 s, peak memory under
2 GB; with a GPT-2-small-shaped model (random weights, saved under /tmp, no download), 0 errors and
max / median wait at most 2.5.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: `python bench/load_test.py`

from bench.stclient import AppServer, MemorySampler, PageRun, Session, tree_cpu_seconds  # noqa: E402

DEFAULT_PAGES = ("overview", "tokens", "attention", "generation")
GPT2_SMALL_DIR = Path(tempfile.gettempdir()) / "gpt-explainer-bench" / "gpt2-small-random"
MEDIAN_LIMIT_S = 3.0
MEMORY_LIMIT = 2_000_000_000
STARVATION_LIMIT = 2.5  # a session's wait over the median wait


# --- models and prompts -----------------------------------------------------------------------------
def model_folder(name: str) -> str | None:
    """The folder to make the app's default model; None keeps the shipped one."""
    if name == "default":
        return None
    import torch

    from gpt_core import GPT, GPTConfig, load_model, save_checkpoint

    if name == "gpt2-small-random":
        cfg = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257)
        try:
            if load_model(str(GPT2_SMALL_DIR), device="cpu").model.config == cfg:
                return str(GPT2_SMALL_DIR)
        except Exception:  # not there yet, or a stale copy: (re)write it
            pass
        torch.manual_seed(0)
        return str(save_checkpoint(GPT(cfg), GPT2_SMALL_DIR, "r50k_base",
                                   {"name": "GPT-2-small-shaped, random weights (load test)"}))
    if name == "tiny":
        torch.manual_seed(0)
        cfg = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=1024)
        return str(save_checkpoint(GPT(cfg), GPT2_SMALL_DIR.parent / "tiny", "shakespeare_bpe",
                                   {"name": "tiny test model"}))
    return name


def student_prompts(n: int, min_chars: int = 60, max_chars: int = 400) -> list[str]:
    """``n`` different passages of the corpus (a speaker's name and their lines), spread over all of it."""
    corpus = (ROOT / "assets/corpus/shakespeare.txt").read_text(encoding="utf-8")
    speeches = [p.strip() for p in corpus.split("\n\n")]
    speeches = [p for p in speeches if min_chars <= len(p) <= max_chars and p.split("\n", 1)[0].isupper()]
    step = max(1, len(speeches) // max(n, 1))
    picked = speeches[::step][:n]
    if len(picked) < n:
        raise ValueError(f"the corpus has only {len(picked)} passages of {min_chars}-{max_chars} characters")
    return picked


# --- the students -----------------------------------------------------------------------------------
@dataclass
class Student:
    index: int
    prompt: str
    runs: list[PageRun] = field(default_factory=list)
    problem: str = ""  # the session could not even start, or the time limit ended it

    @property
    def errors(self) -> list[str]:
        errs = [f"{r.label}: {e}" for r in self.runs for e in r.errors]
        errs += [f"{r.label}: the server showed page {r.shown!r}" for r in self.runs if r.ok and not r.got_page]
        return errs + ([self.problem] if self.problem else [])

    @property
    def wait(self) -> float:
        """Seconds from opening the app to its last page rendered."""
        if not self.runs:
            return float("nan")
        last = self.runs[-1]
        return last.started + last.seconds - self.runs[0].started


async def _connect(s: Student, ws_url: str) -> Session | None:
    tab = Session(ws_url, name=f"student {s.index}")
    try:
        await tab.connect()
        return tab
    except Exception as e:  # refused, handshake failed, timed out
        s.problem = f"could not connect: {e!r}"
        return None


async def _student(s: Student, tab: Session, pages: list[str], go: asyncio.Event, page_timeout: float,
                   think: float) -> None:
    pause = random.Random(s.index)  # each student reads for a while between pages: seeded, so runs compare
    try:
        await go.wait()
        s.runs.append(await tab.run_page("", page_timeout, label="home (open)"))
        if tab.prompt_id is None:
            s.problem = "the sidebar prompt was not drawn"
            return
        tab.type_prompt(s.prompt)
        for page in ["", *pages]:
            if think:  # typing the prompt, then reading each page
                await asyncio.sleep(think * pause.uniform(0.5, 1.5))
            run = await tab.run_page(page, page_timeout, label="home (prompt typed)" if page == "" else None)
            s.runs.append(run)
            if run.problem:  # a disconnected or stuck tab would only pile up more failures
                return
    finally:
        await tab.close()


@dataclass
class Class:
    students: list[Student]
    wall_s: float  # from the moment they all started to the last page rendered
    server_cpu_s: float  # CPU time the server used meanwhile (0 when its pid was not given)


async def drive(ws_url: str, prompts: list[str], pages: list[str], page_timeout: float = 120.0,
                time_limit: float = 900.0, warm: bool = True, server_pid: int | None = None,
                think: float = 0.0) -> Class:
    """Run one student per prompt, all starting at the same moment; return what each one saw."""
    if warm:
        teacher = Session(ws_url, name="teacher")
        run = await teacher.run_page("", page_timeout, label="teacher opens the app")
        await teacher.close()
        if not run.ok:
            raise RuntimeError(f"the app did not open: {run.errors}")
    students = [Student(i, p) for i, p in enumerate(prompts)]
    tabs = await asyncio.gather(*(_connect(s, ws_url) for s in students))  # the class has the URL open
    go = asyncio.Event()
    tasks = {asyncio.create_task(_student(s, tab, pages, go, page_timeout, think)): s
             for s, tab in zip(students, tabs, strict=True) if tab is not None}
    cpu = tree_cpu_seconds(server_pid) if server_pid else 0.0
    started = time.monotonic()
    go.set()
    _, pending = await asyncio.wait(tasks, timeout=time_limit) if tasks else (set(), set())
    wall = time.monotonic() - started
    cpu = tree_cpu_seconds(server_pid) - cpu if server_pid else 0.0
    for task in pending:
        task.cancel()
        tasks[task].problem = f"time limit: not done after {time_limit:.0f} s"
    await asyncio.gather(*pending, return_exceptions=True)
    return Class(students, wall, cpu)


# --- figures --------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two equally long lists without ties."""
    n = len(a)
    if n < 2:
        return float("nan")

    def ranks(xs: list[float]) -> list[int]:
        order = sorted(range(n), key=xs.__getitem__)
        r = [0] * n
        for rank, i in enumerate(order):
            r[i] = rank
        return r

    ra, rb = ranks(a), ranks(b)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb, strict=True)) / (n * (n * n - 1))


def served_in_order(students: list[Student], label: str) -> float:
    """Rank correlation between when ``label`` was asked for and when it was rendered, over the sessions."""
    runs = [r for s in students for r in s.runs if r.label == label and r.ok]
    return spearman([r.started for r in runs], [r.started + r.seconds for r in runs])


def summarize(lesson: Class, peak_rss: int, start_rss: int) -> dict:
    students = lesson.students
    runs = [r for s in students for r in s.runs]
    done = [r for r in runs if r.ok]
    seconds = [r.seconds for r in done]
    waits = [s.wait for s in students if not s.errors]
    by_page: dict[str, list[PageRun]] = {}
    for r in runs:
        by_page.setdefault(r.label, []).append(r)
    median_wait = statistics.median(waits) if waits else float("nan")
    return {
        "sessions": len(students),
        "page_runs": len(runs),
        "errors": sum(len(s.errors) for s in students),
        "median_s": round(statistics.median(seconds), 3) if seconds else None,
        "p95_s": round(percentile(seconds, 95), 3) if seconds else None,
        "max_s": round(max(seconds), 3) if seconds else None,
        "pages": {
            label: {"runs": len(rs), "errors": sum(not r.ok for r in rs),
                    "median_s": round(statistics.median([r.seconds for r in rs]), 3),
                    "p95_s": round(percentile([r.seconds for r in rs], 95), 3),
                    "max_s": round(max(r.seconds for r in rs), 3),
                    "median_kb": round(statistics.median([r.bytes for r in rs]) / 1e3, 1)}
            for label, rs in by_page.items()
        },
        "waits_s": [round(s.wait, 2) for s in students],
        "median_wait_s": round(median_wait, 2),
        "max_wait_s": round(max(waits), 2) if waits else None,
        "max_over_median_wait": round(max(waits) / median_wait, 2) if waits else None,
        "served_in_order": {label: round(served_in_order(students, label), 2) for label in by_page
                            if label != "home (open)"},
        "class_wall_s": round(lesson.wall_s, 1),
        "server_cpu_s": round(lesson.server_cpu_s, 1),
        "server_rss_start_mb": round(start_rss / 1e6),
        "server_rss_peak_mb": round(peak_rss / 1e6),
    }


def report(summary: dict, students: list[Student], model: str, limits: bool) -> bool:
    """Print the figures; True when the targets that apply to this model are met."""
    print(f"\n{summary['sessions']} sessions, {summary['page_runs']} page runs, model: {model}")
    print(f"errors: {summary['errors']}")
    for s in students:
        for e in s.errors[:3]:
            print(f"  student {s.index}: {e}")
    if summary["errors"]:
        print("  (an exception shows a generic message in the browser; --log FILE keeps the server's tracebacks)")
    print(f"time to a rendered page: median {summary['median_s']} s, 95th percentile {summary['p95_s']} s, "
          f"max {summary['max_s']} s")
    print(f"  {'page':<22}{'runs':>5}{'errors':>7}{'median s':>10}{'p95 s':>8}{'max s':>8}{'KB sent':>9}"
          "  served in order")
    for label, p in summary["pages"].items():
        order = summary["served_in_order"].get(label)
        print(f"  {label:<22}{p['runs']:>5}{p['errors']:>7}{p['median_s']:>10.2f}{p['p95_s']:>8.2f}{p['max_s']:>8.2f}"
              f"{p['median_kb']:>9.0f}  {'' if order is None else f'{order:+.2f}'}")
    print("each session's wait, open → last page rendered (s), in the order they started:")
    print("  " + " ".join(f"{w:.1f}" for w in summary["waits_s"]))
    ratio = summary["max_over_median_wait"]
    print(f"  median {summary['median_wait_s']} s, max {summary['max_wait_s']} s, max / median {ratio} "
          f"(no session starved: at most {STARVATION_LIMIT})")
    cpu, wall = summary["server_cpu_s"], summary["class_wall_s"]
    if summary["server_rss_peak_mb"]:
        print(f"server memory (RSS of its process tree): {summary['server_rss_start_mb']} MB before the class, "
              f"peak {summary['server_rss_peak_mb']} MB")
        print(f"server CPU time for the class: {cpu} s in {wall} s ({cpu / wall if wall else 0:.2f} cores busy on "
              f"average; machine load average {os.getloadavg()[0]:.1f} at the end)")
    else:
        print("server memory and CPU time: not measured (a server elsewhere; --server-pid gives its process)")
    ok = summary["errors"] == 0 and ratio is not None and ratio <= STARVATION_LIMIT
    if limits:
        ok = ok and summary["median_s"] < MEDIAN_LIMIT_S and summary["server_rss_peak_mb"] * 1e6 < MEMORY_LIMIT
        print(f"targets (0 errors, median < {MEDIAN_LIMIT_S:.0f} s, peak < {MEMORY_LIMIT / 1e9:.0f} GB, "
              f"max / median wait ≤ {STARVATION_LIMIT}): {'met' if ok else 'NOT MET'}")
    else:
        print(f"targets (0 errors, max / median wait ≤ {STARVATION_LIMIT}): {'met' if ok else 'NOT MET'}")
    return ok


def run_load(sessions: int, pages: list[str], model: str = "default", page_timeout: float = 120.0,
             time_limit: float = 900.0, warm: bool = True, log: Path | None = None, think: float = 0.0,
             url: str | None = None, server_pid: int | None = None) -> tuple[dict, list[Student]]:
    """Start the server, drive the class through it, stop the server; return the summary and the sessions.

    With ``url``, drive a server that is already running there instead (a Docker container, say), with
    the model it serves; ``server_pid``, its process as this machine sees it, for memory and CPU time."""
    prompts = student_prompts(sessions)
    if url is not None:
        ws_url = url.rstrip("/").replace("http", "ws", 1) + "/_stcore/stream"
        with MemorySampler(server_pid) if server_pid else contextlib.nullcontext() as memory:
            start_rss = memory.sample() if memory else 0
            lesson = asyncio.run(drive(ws_url, prompts, pages, page_timeout, time_limit, warm, server_pid, think))
        return summarize(lesson, memory.peak if memory else 0, start_rss), lesson.students
    folder = model_folder(model)
    env = {"GPT_EXPLAINER_DEFAULT_MODEL": folder} if folder else {}
    with AppServer(env, log=log) as server:
        with MemorySampler(server.proc.pid) as memory:
            start_rss = memory.sample()
            lesson = asyncio.run(drive(server.ws_url, prompts, pages, page_timeout, time_limit, warm,
                                       server.proc.pid, think))
    return summarize(lesson, memory.peak, start_rss), lesson.students


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--model", default="default",
                    help="default (the shipped model), gpt2-small-random, tiny, or a checkpoint folder")
    ap.add_argument("--pages", default=",".join(DEFAULT_PAGES), help="URL paths of the pages, comma-separated")
    ap.add_argument("--cold", action="store_true", help="no teacher first: the students load the model")
    ap.add_argument("--think", type=float, default=0.0,
                    help="seconds a student types or reads before the next action (each pause 0.5-1.5 times it); "
                         "default 0: every student clicks on at once")
    ap.add_argument("--page-timeout", type=float, default=120.0, help="seconds one page run may take")
    ap.add_argument("--time-limit", type=float, default=900.0, help="seconds the whole class may take")
    ap.add_argument("--log", type=Path, help="write the server's output here")
    ap.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    ap.add_argument("--url", help="drive the app already served there (e.g. http://127.0.0.1:8501 from "
                                  "`docker run -p 8501:8501 ...`) instead of starting one; it serves its own model")
    ap.add_argument("--server-pid", type=int,
                    help="with --url: the server's process id on this machine, for its memory and CPU time "
                         "(a container's: docker inspect --format '{{.State.Pid}}' NAME)")
    args = ap.parse_args()
    if not 1 <= args.sessions <= 200:
        ap.error("--sessions must be between 1 and 200")
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    t = time.monotonic()
    try:
        summary, students = run_load(args.sessions, pages, args.model, args.page_timeout, args.time_limit,
                                     not args.cold, args.log, args.think, args.url, args.server_pid)
    except RuntimeError as e:  # the server did not start, or the app did not open for the teacher
        sys.exit(f"load test stopped: {e}")
    ok = report(summary, students, args.model if args.url is None else f"the one served at {args.url}",
                limits=args.model == "default" and (args.url is None or args.server_pid is not None))
    print(f"({time.monotonic() - t:.0f} s in all)")
    if args.json:
        print(json.dumps({**summary, "targets_met": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
