"""Head scores on hand-built patterns, the prompt run, and the training loop."""

import pytest
import torch

from gpt_core import GPT, GPTConfig, get_tokenizer, save_checkpoint
from gpt_core.analysis import (
    duplicate_token_score,
    first_token_score,
    head_scores,
    induction_score,
    previous_token_score,
    top_next_tokens,
)
from gpt_core.loading import load_model
from gpt_core.prompt import run_prompt
from gpt_core.training import TrainConfig, lr_at, make_splits, train


def _pattern(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows)[None, None]  # (layer=1, head=1, q, k)


def test_previous_token_head_scores_one():
    T = 5
    p = torch.zeros(T, T)
    p[0, 0] = 1
    for i in range(1, T):
        p[i, i - 1] = 1
    assert previous_token_score(p[None, None]).item() == 1.0
    assert first_token_score(p[None, None]).item() == 0.25  # only query 1 looks at position 0


def test_first_token_sink_scores_one():
    T = 4
    p = torch.zeros(T, T)
    p[:, 0] = 1
    assert first_token_score(p[None, None]).item() == 1.0
    assert previous_token_score(p[None, None]).item() == pytest.approx(1 / 3)


def test_induction_head_on_a_repeated_sequence():
    n = 3  # tokens a b c a b c: the second a attends to the first b, and so on
    T = 2 * n
    p = torch.zeros(T, T)
    for i in range(T):
        p[i, i] = 1
    for i in range(n, T):
        p[i] = 0
        p[i, i - n + 1] = 1
    assert induction_score(p[None, None], n).item() == 1.0
    assert induction_score(torch.eye(T)[None, None], n).item() == 0.0


def test_duplicate_token_score_counts_attention_to_earlier_copies():
    tokens = [7, 8, 7, 9]
    p = _pattern([[1, 0, 0, 0], [1, 0, 0, 0], [0.25, 0, 0.75, 0], [0, 0, 0, 1]])
    assert duplicate_token_score(p, tokens).item() == 0.25  # only position 2 repeats


def test_head_scores_shapes_on_a_model():
    torch.manual_seed(0)
    m = GPT(GPTConfig(n_layer=2, n_head=3, n_embd=24, block_size=40, vocab_size=50)).eval()
    s = head_scores(m, n=30, bos=0)
    assert s.induction.shape == (2, 3) and len(s.tokens) == 1 + 2 * 19  # n shrinks to fit the context
    assert s.tokens[1:20] == s.tokens[20:]
    assert 0 not in s.tokens[1:]


def test_run_prompt_truncates_to_the_context_and_predicts(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=1024)),
                    tmp_path, "shakespeare_bpe")
    bundle = load_model(str(tmp_path), device="cpu")
    text = "To be, or not to be, that is the question"
    run = run_prompt(bundle, text)
    all_ids = bundle.tokenizer.encode(text)
    assert run.ids == all_ids[-8:] and run.truncated == len(all_ids) - 8
    assert run.cache["blocks.0.attn.hook_pattern"].shape == (1, 2, 8, 8)
    top = top_next_tokens(run.last_logits, bundle.tokenizer, 10)
    assert len(top) == 10 and top[0].prob >= top[-1].prob
    assert run_prompt(bundle, "") is None
    with torch.no_grad():
        full, _ = bundle.model(torch.tensor([run.ids]))
    torch.testing.assert_close(run.last_logits, full[0, -1], atol=1e-5, rtol=1e-5)  # the next token's scores


def test_run_prompt_unembeds_the_last_position_only(tmp_path, monkeypatch):
    torch.manual_seed(0)
    save_checkpoint(GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=1024)),
                    tmp_path, "shakespeare_bpe")
    bundle = load_model(str(tmp_path), device="cpu")
    rows, head = [], bundle.model.lm_head  # this test's own model, not a shared one
    real = head.forward
    monkeypatch.setattr(head, "forward", lambda x: rows.append(x.shape[-2]) or real(x))
    run = run_prompt(bundle, "To be, or not to be")
    assert len(run.ids) > 1 and rows == [1]  # one row through the unembedding, not one per position


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(max_steps=100, lr=1.0, min_lr=0.1, warmup_steps=10)
    assert lr_at(0, cfg) == 0.1 and lr_at(9, cfg) == 1.0
    assert abs(lr_at(100, cfg) - 0.1) < 1e-9 and lr_at(50, cfg) < 1.0


def test_training_lowers_the_loss_and_can_be_stopped():
    tok = get_tokenizer("shakespeare_bpe")
    text = "ROMEO.\nBut soft, what light through yonder window breaks?\n" * 40
    tr, va = make_splits(text, tok, 0.2)
    torch.manual_seed(0)
    m = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=32, vocab_size=tok.n_vocab))
    cfg = TrainConfig(max_steps=40, batch_size=8, seq_len=16, lr=1e-2, warmup_steps=5, eval_interval=20,
                      eval_batches=2, sample_interval=40, sample_prompt="ROMEO", sample_tokens=5)
    events = list(train(m, tr, va, cfg, tok))
    evals = [e for e in events if e.kind == "eval"]
    assert evals[-1].val_loss < evals[0].val_loss
    assert evals[0].val_nats_per_char == evals[0].val_loss / va.chars_per_token
    assert any(e.kind == "sample" and e.sample.startswith("ROMEO") for e in events)
    assert events[-1].kind == "done" and events[-1].reason == "max_steps"

    calls = iter(range(1000))
    stopped = list(train(m, tr, va, cfg, tok, should_stop=lambda: next(calls) >= 3))
    assert stopped[-1].reason == "stopped" and sum(e.kind == "step" for e in stopped) == 3
