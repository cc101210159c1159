"""Real browser: the nastiest cases of tests/bad_input.py typed into the running app, and rapid submissions.

For each: no exception box, no markup from the text ever runs (a script or handler in it would set
window.__pwned or open a dialog), no element is injected, and the page finishes its run.
"""


import pytest
from conftest import READY, settle, type_prompt
from playwright.sync_api import expect

from tests.bad_input import BY_NAME, PWNED, SIDEBAR_MAX_CHARS

NASTY = ["html", "markdown", "bidi", "controls", "planes", "special_tokens", "long_word"]
INJECTED = ('img[src="x"], iframe, object, embed, [onerror], [onload]:not(body), a[href^="javascript" i], '
            'script:not([src]):not([type])')


@pytest.fixture
def watched(page):
    """The page, with every dialog (alert, confirm) it opens recorded and dismissed."""
    page.dialogs = []

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


def injected(page) -> int:
    """Elements the typed text would create if it were ever parsed as HTML (inside the app, not Streamlit's shell)."""
    return page.evaluate(f"document.querySelector('#root').querySelectorAll({INJECTED!r}).length")


def assert_safe(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.evaluate(f"typeof {PWNED}") == "undefined"  # no script or handler from the text ran
    assert not page.dialogs
    assert injected(page) == 0
    # **boldface** and <b>bold</b> stayed text (a bare "b" could be a token the page itself shows in bold)
    bold = "[...document.querySelectorAll('strong, b')].some(e => ['boldface', 'bold'].includes(e.textContent))"
    assert not page.evaluate(bold)


@pytest.mark.parametrize("path", ["overview", "tokens", "generation"])
def test_the_nastiest_text_is_shown_as_text(cache_env, app_url, watched, path):
    watched.goto(f"{app_url}/{path}")
    watched.wait_for_selector(READY, timeout=60_000)
    assert injected(watched) == 0
    for name in NASTY:
        type_prompt(watched, BY_NAME[name].text)
        watched.wait_for_selector(READY, timeout=60_000)  # the page finished; it did not hang
        assert_safe(watched)
        if path == "tokens":
            expect(watched.get_by_text("Special tokens").first).to_be_attached()  # the whole page was drawn


def test_html_typed_on_the_overview_reads_back_exactly(cache_env, app_url, watched):
    watched.goto(f"{app_url}/overview")
    watched.wait_for_selector(READY, timeout=60_000)
    text = BY_NAME["html"].text
    type_prompt(watched, text)
    chips = "".join(watched.locator("span.tok").all_inner_texts()).replace("⋅", " ")
    n_shown = watched.locator("span.tok").count()
    assert n_shown == 64 and chips and text.endswith(chips)  # the last 64 tokens, character for character
    assert_safe(watched)


def test_a_paste_longer_than_the_box_keeps_is_cut_with_a_message(cache_env, app_url, watched):
    """Streamlit's own max_chars would drop such a paste without a word; the sidebar keeps 100,000 and says so."""
    watched.goto(f"{app_url}/tokens")
    watched.wait_for_selector(READY, timeout=120_000)
    box = watched.get_by_role("textbox", name="Your text")
    box.click()
    watched.keyboard.press("Control+A")
    pasted = BY_NAME["megabyte"].text[: SIDEBAR_MAX_CHARS + 50_000]  # a paste, as the browser inserts it
    watched.keyboard.insert_text(pasted)
    assert len(box.input_value()) == len(pasted)
    box.press("Control+Enter")
    settle(watched, timeout=120_000)
    expect(watched.get_by_text(f"Your text had {len(pasted):,} characters").first).to_be_visible(timeout=60_000)
    expect(watched.get_by_text(f"Your text has {SIDEBAR_MAX_CHARS:,} characters").first).to_be_visible()
    assert len(box.input_value()) == SIDEBAR_MAX_CHARS
    assert_safe(watched)


def test_rapid_submissions_end_on_the_last_text(cache_env, app_url, watched):
    """Ten texts, each applied with Ctrl+Enter as fast as the keyboard goes: the page ends showing the last one."""
    watched.goto(f"{app_url}/overview")
    watched.wait_for_selector(READY, timeout=60_000)
    box = watched.get_by_role("textbox", name="Your text")
    texts = [f"ROMEO.\nSubmission {i}: " + "soft " * i for i in range(10)]
    for text in texts:
        box.fill(text)
        box.press("Control+Enter")
    settle(watched, timeout=120_000)
    metric = watched.get_by_test_id("stMetricValue").first
    expect(metric).to_have_text(f"{len(texts[-1]):,}", timeout=60_000)
    watched.wait_for_selector(READY, timeout=60_000)
    assert box.input_value() == texts[-1]
    assert "Submission 9" in "".join(watched.locator("span.tok").all_inner_texts()).replace("⋅", " ")
    assert_safe(watched)


def test_a_direction_override_in_a_prompt_does_not_turn_the_answer_around(cache_env, app_url, watched):
    watched.goto(f"{app_url}/uses")
    watched.wait_for_selector(READY, timeout=60_000)
    box = watched.get_by_role("textbox", name="Prompt (edit it freely)")
    box.fill("ROMEO. \u202eBut soft, what light")
    box.press("Control+Enter")
    settle(watched)
    watched.get_by_role("button", name="Generate").click()
    settle(watched)
    answer = watched.locator(".uses-answer .ans")
    expect(answer.first).to_be_visible(timeout=30_000)
    prompt_box = watched.locator(".uses-answer .prompt").bounding_box()
    first, last = answer.first.bounding_box(), answer.last.bounding_box()
    same_line = abs(first["y"] - prompt_box["y"]) < 5
    assert not same_line or first["x"] >= prompt_box["x"] + prompt_box["width"] - 1  # the answer follows the prompt
    assert last["y"] > first["y"] or last["x"] >= first["x"]  # and reads left to right
    assert_safe(watched)


@pytest.mark.parametrize("name", ["html", "markdown", "controls"])
def test_hostile_text_in_the_address_is_shown_as_text(cache_env, app_url, watched, name):
    """A shared link carries the prompt in the address: the same text there is as harmless as typed."""
    from urllib.parse import quote

    watched.goto(f"{app_url}/overview?prompt={quote(BY_NAME[name].text)}")
    watched.wait_for_selector(READY, timeout=60_000)
    settle(watched)
    expect(watched.locator("span.tok").first).to_be_visible(timeout=30_000)
    if name != "controls":  # the address loses control characters, with a notice
        assert watched.get_by_role("textbox", name="Your text").input_value() == BY_NAME[name].text
    assert_safe(watched)
