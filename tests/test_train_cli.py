"""The training command line: a run, a resumed run that keeps what the first recorded, and the copy mix."""

from __future__ import annotations

import json

import torch

from gpt_core.train import main
from gpt_core.training import copy_task_windows, previous_token_windows, repeat_windows
from gpt_core.weights import load_checkpoint

TEXT = "ROMEO.\nBut soft, what light through yonder window breaks?\nJULIET.\nAy me.\n" * 30
SMALL = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--seq-len", "32",
         "--batch-size", "4", "--eval-interval", "5", "--eval-batches", "1", "--warmup-steps", "2"]


def test_repeated_windows_copy_their_opening_and_keep_targets_shifted():
    x = torch.arange(64).reshape(2, 32)
    y = x + 1
    g = torch.Generator().manual_seed(0)
    rx, ry = repeat_windows(x, y, 1.0, g)
    for b in range(2):
        w = torch.cat([rx[b], ry[b, -1:]])
        assert torch.equal(ry[b], w[1:]) and torch.equal(rx[b], w[:-1])  # targets are the next tokens
        L = next(n for n in range(8, 17) if torch.equal(w[n : 2 * n], w[:n]))  # the opening repeats
        assert torch.equal(w[2 * L :], x[b, L : 33 - L]) or 2 * L >= 33  # then the window goes on
    same_x, _ = repeat_windows(x, y, 0.0, g)
    assert same_x is x  # no mix: the batch is untouched


def test_copy_task_windows_repeat_random_tokens_and_ignore_the_unpredictable_targets():
    x = torch.arange(100, 164).reshape(2, 32)
    y = x + 1
    rx, ry = copy_task_windows(x, y, 1.0, 50, torch.Generator().manual_seed(0))
    for b in range(2):
        L = int((ry[b] == -100).sum())  # the first copy's targets are ignored
        assert 8 <= L <= 16 and bool((ry[b, :L] == -100).all())
        assert bool((rx[b, :L] < 50).all()) and torch.equal(rx[b, L : 2 * L], rx[b, :L])  # r + r
        assert torch.equal(ry[b, L:], torch.cat([rx[b], ry[b, -1:]])[L + 1 :])  # then next tokens
        assert torch.equal(rx[b, 2 * L :], x[b, : 32 - 2 * L])  # the text follows the copies


def test_previous_token_windows_score_only_tokens_that_repeat_the_one_before():
    x = torch.arange(500, 564).reshape(2, 32)
    y = x + 1
    taken = torch.zeros(2, dtype=torch.bool)
    rx, ry = previous_token_windows(x, y, 1.0, 50, torch.Generator().manual_seed(3), taken)
    assert bool(taken.all())  # both windows rewritten, and marked so the other tasks leave them alone
    for b in range(2):
        L = int((rx[b] < 50).sum())  # the random opening (the text's ids are all >= 500)
        assert 8 <= L <= 16 and torch.equal(rx[b, L:], x[b, : 32 - L])
        scored = torch.nonzero(ry[b, :L] != -100).flatten()
        assert scored.numel() > 0
        for i in scored.tolist():  # each scored target is the token just before position i
            assert 1 <= i <= L - 2 and int(ry[b, i]) == int(rx[b, i - 1]) == int(rx[b, i + 1])
        assert torch.equal(ry[b, L:], torch.cat([rx[b], ry[b, -1:]])[L + 1 :])  # then plain next tokens
    # Anywhere: the stretch replaces L tokens at some place in the window; the text around it stays.
    ax, ay = previous_token_windows(x, y, 1.0, 50, torch.Generator().manual_seed(4), anywhere=True)
    for b in range(2):
        where = torch.nonzero(ax[b] < 50).flatten()
        at, L = int(where[0]), where.numel()
        assert 8 <= L <= 16 and int(where[-1]) == at + L - 1  # one stretch
        assert torch.equal(ax[b, :at], x[b, :at]) and torch.equal(ax[b, at + L :], x[b, at + L :])
        nxt = torch.cat([ax[b, 1:], y[b, -1:]])  # the plain next tokens
        outside = [i for i in range(32) if not at - 1 <= i < at + L]
        assert torch.equal(ay[b, outside], nxt[outside])  # the text around is scored as usual
        inside = ay[b, max(at - 1, 0) : at + L]
        assert bool(((inside == -100) | (inside == nxt[max(at - 1, 0) : at + L])).all())
        for i in range(at, at + L - 1):  # each scored target in the stretch repeats the token before i
            if int(ay[b, i]) != -100:
                assert int(ay[b, i]) == int(ax[b, i - 1]) == int(ax[b, i + 1])
    # Windows the previous-token task took are skipped by the copy task; which windows and how long
    # stay as they were drawn without the skip.
    cx, cy = copy_task_windows(x, y, 1.0, 50, torch.Generator().manual_seed(0), skip=torch.tensor([True, False]))
    _, fy = copy_task_windows(x, y, 1.0, 50, torch.Generator().manual_seed(0))
    assert torch.equal(cx[0], x[0]) and int((cy[1] == -100).sum()) == int((fy[1] == -100).sum())


def test_a_resumed_run_keeps_the_description_and_records_both_commands(tmp_path):
    data = tmp_path / "plays.txt"
    data.write_text(TEXT, encoding="utf-8")
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["--data", str(data), "--out", str(first), "--max-steps", "10", "--name", "Tiny",
                 "--trained-on", "two lines", "--description", "a test model", *SMALL]) == 0
    _, _, meta = load_checkpoint(first)
    assert meta["steps"] == 10 and meta["name"] == "Tiny" and len(meta["commands"]) == 1
    assert main(["--data", str(data), "--out", str(second), "--resume", str(first), "--max-steps", "10",
                 "--repeat-fraction", "0.5", "--copy-fraction", "0.25", "--previous-fraction", "0.25",
                 "--previous-anywhere", "--save", "last", *SMALL[8:]]) == 0
    _, _, meta = load_checkpoint(second)
    assert meta["steps"] == 20 and meta["train_config"]["repeat_fraction"] == 0.5
    assert meta["train_config"]["copy_fraction"] == 0.25 and meta["train_config"]["previous_fraction"] == 0.25
    assert meta["train_config"]["previous_anywhere"] is True
    assert load_checkpoint(first)[2]["train_config"]["previous_anywhere"] is False  # off unless asked for
    assert (meta["name"], meta["trained_on"], meta["description"]) == ("Tiny", "two lines", "a test model")
    assert len(meta["commands"]) == 2 and "--repeat-fraction 0.5" in meta["commands"][1]


def test_a_resumed_run_keeps_translations_of_the_words_it_does_not_replace(tmp_path):
    data = tmp_path / "plays.txt"
    data.write_text(TEXT, encoding="utf-8")
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["--data", str(data), "--out", str(first), "--max-steps", "5", "--name", "Tiny",
                 "--description", "a test model", *SMALL]) == 0
    doc = json.loads((first / "gpt.json").read_text(encoding="utf-8"))
    doc["meta"]["i18n"] = {"zh": {"name": "小模型", "description": "一个测试模型"}}
    (first / "gpt.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert main(["--data", str(data), "--out", str(second), "--resume", str(first), "--max-steps", "5",
                 "--description", "a longer test model", *SMALL[8:]]) == 0
    meta = load_checkpoint(second)[2]
    assert meta["description"] == "a longer test model"
    assert meta["i18n"] == {"zh": {"name": "小模型"}}  # the old translation of the replaced description is gone
