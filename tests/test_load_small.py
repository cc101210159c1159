"""A small class at once: four websocket sessions on the real app server, each with its own prompt.

The same driver as bench/load_test.py (30 sessions, timings, memory), cut down to what CI can afford:
it checks that every session gets every page it asks for, drawn for its own prompt, without an
error. No timings are asserted.
"""

import torch
from conftest import TINY

from bench.load_test import run_load
from gpt_core import GPT, save_checkpoint

PAGES = ["overview", "attention"]


def test_four_sessions_at_once_each_get_their_pages_without_errors(tmp_path):
    torch.manual_seed(0)
    folder = save_checkpoint(GPT(TINY), tmp_path / "tiny", "shakespeare_bpe", {"name": "tiny test model"})
    summary, students = run_load(4, PAGES, model=str(folder), page_timeout=120, time_limit=300,
                                 log=tmp_path / "server.log")

    problems = [f"session {s.index}: {e}" for s in students for e in s.errors]
    assert summary["errors"] == 0, "\n".join(problems) + "\n" + (tmp_path / "server.log").read_text()[-3000:]
    assert len({s.prompt for s in students}) == 4  # four different prompts
    for s in students:
        assert [r.label for r in s.runs] == ["home (open)", "home (prompt typed)", *PAGES]
        assert all(r.got_page for r in s.runs), [(r.label, r.shown) for r in s.runs]
        overview = s.runs[2]
        assert f"{len(s.prompt):,}" in overview.metrics.values()  # its own prompt's length, not another's
    assert summary["server_rss_peak_mb"] > 0


def test_a_server_already_running_is_driven_by_its_url(tmp_path):
    """--url: the class goes to a server started elsewhere (as the Docker image is); --server-pid measures it."""
    from bench.stclient import AppServer

    torch.manual_seed(0)
    folder = save_checkpoint(GPT(TINY), tmp_path / "tiny", "shakespeare_bpe", {"name": "tiny test model"})
    with AppServer({"GPT_EXPLAINER_DEFAULT_MODEL": str(folder)}) as server:
        summary, students = run_load(2, ["overview"], page_timeout=120, time_limit=300, url=server.url)
        assert summary["errors"] == 0 and summary["server_rss_peak_mb"] == 0  # nothing to measure without a pid
        assert all(r.got_page for s in students for r in s.runs)
        measured, _ = run_load(2, ["overview"], page_timeout=120, time_limit=300, url=server.url,
                               server_pid=server.proc.pid)
    assert measured["errors"] == 0 and measured["server_rss_peak_mb"] > 0
