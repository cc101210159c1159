"""Shared fixtures: a tiny seeded model saved in the project's checkpoint format."""

import contextlib
import os

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from gpt_core import GPT, GPTConfig, save_checkpoint

TINY = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=1024)


def open_app(page: str, prompt: str | None = None, timeout: float = 60) -> AppTest:
    """Start the app in AppTest, type ``prompt`` into the sidebar (if given) and open ``page``."""
    at = AppTest.from_file("../app.py", default_timeout=timeout).run()
    if prompt is not None:
        at.text_area(key="prompt").set_value(prompt)
    return at.switch_page(page).run()


def in_threads(work, n: int) -> None:
    """Run ``work(i)`` for i in 0..n-1, each in its own thread, all at once; return when every one is done."""
    import threading

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def use_default_model(folder, monkeypatch, config: GPTConfig = TINY, meta: dict | None = None):
    """Save a seeded model of ``config`` in ``folder`` and make it the app's "default" model."""
    torch.manual_seed(0)
    folder = save_checkpoint(GPT(config), folder, "shakespeare_bpe", meta or {"name": "tiny test model"})
    monkeypatch.setenv("GPT_EXPLAINER_DEFAULT_MODEL", str(folder))
    st.cache_data.clear()
    st.cache_resource.clear()
    return folder


@pytest.fixture
def tiny_model_dir(tmp_path, monkeypatch):
    """A seeded 2-layer model (context 64, Shakespeare tokenizer), used as the app's "default" model."""
    yield use_default_model(tmp_path / "tiny", monkeypatch)
    st.cache_data.clear()
    st.cache_resource.clear()


# --- Real-browser tests: one app server per test module, driven by Debian's Chromium ----------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_chromium() -> None:
    """Browser tests need Debian's Chromium; in CI its absence is a failure, elsewhere a stated skip."""
    import os

    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; scripts/test.sh installs Debian's chromium")
        pytest.skip("Debian chromium not installed (scripts/test.sh installs it)")


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    """Timings go to a temporary folder, not the user's ~/.cache (set before the app server starts)."""
    old = os.environ.get("GPT_EXPLAINER_CACHE_DIR")
    os.environ["GPT_EXPLAINER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("GPT_EXPLAINER_CACHE_DIR", None)
    else:
        os.environ["GPT_EXPLAINER_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def app_url(request, tmp_path_factory):
    """Start `streamlit run app.py` on a free port with a seeded default model; yield its URL.

    The model is TINY unless the test module sets APP_MODEL to another GPTConfig.
    """
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    require_chromium()
    torch.manual_seed(0)
    folder = save_checkpoint(GPT(getattr(request.module, "APP_MODEL", TINY)), tmp_path_factory.mktemp("model"),
                             "shakespeare_bpe",
                             {"name": "tiny test model"})
    port = _free_port()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "GPT_EXPLAINER_DEFAULT_MODEL": str(folder)}
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the app did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@contextlib.contextmanager
def chromium(*extra_args: str):
    """Debian's Chromium under Playwright, with the project's flags and ``extra_args``."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (a module may define its own ``browser`` with other flags)."""
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    """A fresh browser page; wait for the app with `page.wait_for_selector(READY)` after each action."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    yield p
    context.close()


def settle(page, timeout: int = 60_000) -> None:
    """Wait for the rerun an action started to finish.

    Right after a click the app may not have started rerunning yet, so "not running" alone can be
    the state from before the action: first wait (briefly) to see it run, then for it to finish.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=3_000)
    except PlaywrightTimeout:
        pass  # the rerun was quicker than the poll, or the action needed none
    page.wait_for_selector(READY, timeout=timeout)


def type_prompt(page, text: str) -> None:
    """Type ``text`` into the sidebar prompt, apply it, and wait for the app to finish rerunning."""
    box = page.get_by_role("textbox", name="Your text")
    box.fill(text)
    box.press("Control+Enter")
    settle(page)
