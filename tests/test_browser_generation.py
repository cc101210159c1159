"""Real browser: generate a few tokens, step back, branch with another candidate, generate and stop."""

import re

from conftest import READY, settle
from playwright.sync_api import expect

from gpt_core import GPTConfig

# GPT-2-small-sized blocks (context kept at 64): each generated token then takes long enough that
# pressing Stop lands before a run of 100 tokens has finished, on any machine.
APP_MODEL = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=64, vocab_size=1024)


def _open(page, url: str) -> None:
    page.goto(url + "/generation")
    page.wait_for_selector(READY, timeout=60_000)
    page.locator(".gen-text").wait_for(timeout=30_000)


def _click(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    settle(page)


def _generated(page) -> int:
    return page.locator(".gen-text span.gen").count()


def test_generate_step_back_and_branch(app_url, page):
    _open(page, app_url)
    assert _generated(page) == 0 and page.locator(".gen-text .next").count() == 1
    for expected in (1, 2, 3):
        _click(page, "Next token")
        assert _generated(page) == expected
    written = page.locator(".gen-text span.gen").all_inner_texts()

    _click(page, "Back")
    assert _generated(page) == 2 and page.locator(".gen-text span.ahead").count() == 1  # kept, shown faded
    assert page.get_by_text("This branch chose").count() >= 1
    kept = page.locator(".gen-text span.ahead").inner_text()

    pills = page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"] button')  # not the sidebar's
    labels = pills.all_inner_texts()
    other = next(i for i, t in enumerate(labels) if re.sub(r"^\d+\. | \([^)]*\)$", "", t.strip()) != kept)
    pills.nth(other).click()
    expect(page.locator(".gen-text span.picked")).to_have_count(1, timeout=30_000)  # a fragment, then the page
    page.wait_for_selector(READY, timeout=30_000)
    assert _generated(page) == 3
    assert page.get_by_text(re.compile(r"in branch\s+2")).count() == 1
    assert page.locator(".gen-text span.gen").all_inner_texts()[:2] == written[:2]

    _click(page, "Next token")  # the new branch goes on
    assert _generated(page) == 4
    assert page.get_by_role("radio", name=re.compile(r"Branch 2 \(split from branch 1 at token 3")).is_checked()
    page.get_by_text(re.compile(r"^Branch 1 \(the first branch")).click()
    settle(page)
    assert page.locator(".gen-text span.gen, .gen-text span.ahead").all_inner_texts()[:3] == written
    assert page.locator('[data-testid="stException"]').count() == 0


def test_generate_many_shows_progress_and_can_be_stopped(app_url, page):
    _open(page, app_url)
    page.get_by_text("Slide past the context").click()  # the tiny model's context is only 64 tokens
    settle(page)
    limit = page.get_by_role("spinbutton", name="Length limit (generated tokens)")
    limit.fill("500")  # above the 100 asked for, so only Stop can end the run early
    limit.press("Enter")
    settle(page)
    thumb = page.get_by_role("slider", name="Tokens to generate")
    thumb.focus()
    thumb.press("End")
    generate = page.get_by_role("button", name="Generate 100")
    generate.wait_for(timeout=30_000)
    page.wait_for_selector(READY, timeout=30_000)
    generate.click()
    stop = page.get_by_role("button", name="Stop", exact=True)
    stop.wait_for(timeout=10_000)
    page.wait_for_function("() => { const b = [...document.querySelectorAll('button')].find(x => "
                           "x.innerText.trim().endsWith('Stop')); return b && !b.disabled; }", timeout=10_000)
    stop.click()
    page.wait_for_timeout(500)
    page.wait_for_selector(READY, timeout=60_000)
    n = _generated(page)
    assert 0 < n < 100  # stopped early; the tokens written so far are kept
    expect(page.get_by_text(f"Stopped after {n} new token(s).")).to_be_visible()
    assert page.get_by_text(re.compile(rf"Showing\s+{n}\s+of the\s+{n}")).count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
