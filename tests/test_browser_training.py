"""Real browser: start a training run on the Training page, watch it advance on its own, stop it;
two tabs train at once, each its own run."""

import re

from conftest import READY

START, STOP = ".st-key-training-start_button button", ".st-key-training-stop_button button"  # not the toolbar's Stop
PROGRESS = re.compile(r"Step (\d[\d,]*) of ([\d,]+)")


def _open(page, app_url: str) -> None:
    page.goto(app_url + "/training")
    page.wait_for_selector(READY, timeout=60_000)
    page.get_by_text("Model size", exact=True).wait_for(timeout=30_000)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Model size").click()
    page.get_by_role("option", name=re.compile(r"^tiny")).click()
    page.wait_for_selector(READY, timeout=30_000)


def _step(page, timeout_ms: int = 60_000) -> int:
    """The step the progress bar shows, once it shows one."""
    bar = page.get_by_text(PROGRESS).first
    bar.wait_for(timeout=timeout_ms)
    return int(PROGRESS.search(bar.inner_text()).group(1).replace(",", ""))


def _advances(page, timeout_ms: int = 60_000) -> bool:
    """The run moves on without anyone touching the page (the fragment reruns on its own)."""
    first = _step(page)
    for _ in range(timeout_ms // 500):
        page.wait_for_timeout(500)
        if page.get_by_text(PROGRESS).count() and _step(page) > first:
            return True
    return False


def _stop(page) -> int:
    page.locator(STOP).click()
    done = page.get_by_text(re.compile(r"Stopped at step [\d,]+ of"))
    done.wait_for(timeout=60_000)
    return int(re.search(r"Stopped at step ([\d,]+)", done.inner_text()).group(1).replace(",", ""))


def test_start_watch_and_stop_a_run(app_url, page):
    _open(page, app_url)
    assert page.locator(STOP).is_disabled()
    page.locator(START).click()
    assert _advances(page)
    stopped_at = _stop(page)
    assert stopped_at >= 1
    page.wait_for_selector(READY, timeout=30_000)
    assert page.locator(START).is_enabled()
    assert page.locator(STOP).is_disabled()
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3  # loss, snapshots, scores stay
    assert page.get_by_text("HELENA.").count() > 0  # the samples from the fixed prompt
    page.wait_for_timeout(1500)
    assert page.get_by_text(re.compile(rf"Stopped at step {stopped_at:,} of")).count() == 1  # it really stopped
    assert page.locator('[data-testid="stException"]').count() == 0


def test_two_tabs_train_their_own_runs(app_url, browser, page):
    other_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = other_context.new_page()
    try:
        for p in (page, other):
            _open(p, app_url)
            p.locator(START).click()
        assert _advances(page) and _advances(other)
        first = _stop(page)
        assert _advances(other)  # stopping one tab's run leaves the other training
        second = _stop(other)
        assert first >= 1 and second >= 1
        for p in (page, other):
            assert p.locator('[data-testid="stException"]').count() == 0
    finally:
        other_context.close()
