"""Every case of tests/bad_input.py through the core, programmatically: what no browser can send
(a megabyte of text, lone surrogates) included. Nothing raises; long text is cut to the context and says so."""

import pytest
import torch

from gpt_core import GPT, get_tokenizer, tokenlab
from gpt_core.live_training import PRESETS, check_text
from gpt_core.loading import ModelBundle, ModelInfo
from gpt_core.prompt import run_prompt
from gpt_core.prompting import answer_steps, fit_prompt
from tests.bad_input import BY_NAME, CASES, MB, SIDEBAR_MAX_CHARS
from tests.conftest import TINY

IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    torch.manual_seed(0)
    model = GPT(TINY).eval()
    tok = get_tokenizer("shakespeare_bpe")
    return ModelBundle(model, tok, ModelInfo("tiny", "memory", 0, tok.name, "", "", "cpu", 0.0))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_run_prompt_takes_any_text(bundle, case):
    run = run_prompt(bundle, case.text)
    ids = bundle.tokenizer.encode(case.text)
    if not ids:
        assert run is None  # the pages say "type some text"
        return
    assert run.n_chars == len(case.text) and run.n_tokens_total == len(ids)
    assert run.ids == ids[-TINY.block_size:]  # the tokens nearest the prediction are kept
    assert run.truncated == max(0, len(ids) - TINY.block_size)  # what the pages' notices report
    assert len(run.tokens) == len(run.ids) and run.last_logits.shape == (TINY.vocab_size,)
    assert torch.isfinite(run.last_logits).all()
    pattern = run.cache["blocks.1.attn.hook_pattern"][0]
    assert torch.allclose(pattern.sum(-1), torch.ones(pattern.shape[:-1]), atol=1e-5)


def test_a_megabyte_is_cut_to_the_context_and_counted_in_full(bundle):
    text = BY_NAME["megabyte"].text
    assert len(text) == MB
    run = run_prompt(bundle, text)
    assert len(run.ids) == TINY.block_size and run.truncated == run.n_tokens_total - TINY.block_size > 100_000
    assert bundle.tokenizer.decode(run.ids) in text[-1000:]


def test_the_cached_forward_pass_takes_a_megabyte_too(tiny_model_dir):
    from ui import state

    run = state.prompt_run(str(tiny_model_dir), BY_NAME["megabyte"].text)
    assert len(run.ids) == TINY.block_size and run.n_chars == MB and run.truncated > 0


def test_lone_surrogates_become_the_replacement_character(bundle):
    tok = bundle.tokenizer
    text = BY_NAME["lone_surrogate"].text
    assert tok.decode(tok.encode(text)) == text.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd")
    assert tok.encode("\ud83d\ude00") == tok.encode("😀")  # a pair that arrived as two code points is joined


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "lone_surrogate"], ids=lambda c: c.name)
def test_tokenizers_give_every_text_back_exactly(case):
    for name in ("shakespeare_bpe", "r50k_base", "cl100k_base", "o200k_base"):
        tok = get_tokenizer(name)
        assert tok.decode(tok.encode(case.text)) == case.text


def test_special_token_strings_typed_by_a_user_are_ordinary_text(bundle):
    tok = bundle.tokenizer
    ids = tok.encode(BY_NAME["special_tokens"].text)
    assert tok.eot_token not in ids
    assert tok.encode("<|endoftext|>", allow_special=True) == [tok.eot_token]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_tokenizer_lab_takes_any_text(bundle, case):
    data = tokenlab.build_lab(case.text[:100_000], bundle.tokenizer)
    assert data.comparison.n_chars == len(data.clean.text)
    replay = tokenlab.replay_bpe(bundle.tokenizer, case.text[:200])
    assert replay.ids == tuple(bundle.tokenizer.encode(replay.span))  # the replay ends where tiktoken does
    tokenlab.lookup(bundle.tokenizer, case.text[:200], by_id=False)
    tokenlab.lookup(bundle.tokenizer, case.text[:200], by_id=True)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_training_text_is_checked_not_crashed_on(bundle, case):
    problem = check_text(case.text, bundle.tokenizer, PRESETS[next(iter(PRESETS))])
    if not case.text.strip():
        assert problem is not None and problem.kind == "empty"
    if len(case.text) > 200_000:
        assert problem is not None and problem.kind == "too_long"


@pytest.mark.parametrize("case", [BY_NAME[n] for n in ("special_tokens", "html", "long_word", "controls", "planes")],
                         ids=lambda c: c.name)
def test_answers_are_generated_for_any_prompt(bundle, case):
    kept, dropped = fit_prompt(bundle.tokenizer.encode(case.text), TINY.block_size, 8)
    assert len(kept) + 8 <= TINY.block_size
    steps = list(answer_steps(bundle.model, bundle.tokenizer, kept, 8, 0.7, 0, None))
    assert 1 <= len(steps) <= 8


def test_the_corpus_knows_what_the_sidebar_keeps():
    from ui import sidebar

    assert sidebar.MAX_CHARS == SIDEBAR_MAX_CHARS < MB
