"""The model that ships in assets/models/default: its heads and how the app describes it."""

from __future__ import annotations

import gpt_core
from gpt_core.analysis import head_scores
from ui import describe


def test_the_shipped_model_has_a_previous_token_head_and_an_induction_head():
    b = gpt_core.load_model("default")
    s = head_scores(b.model, n=100, seed=0)  # as bench/model_quality.py measures them
    assert float(s.previous_token.max()) >= 0.9
    assert float(s.induction.max()) >= 0.5
    # and they sit where the description says: the previous-token head in layer 1, the induction head in layer 4
    assert int(s.previous_token.max(-1).values.argmax()) == 0 and int(s.induction.max(-1).values.argmax()) == 3
    assert "previous-token head (layer 1)" in b.info.meta["description"]
    assert "induction head (layer 4)" in b.info.meta["description"]


def test_the_sidebar_quotes_the_full_held_out_loss_when_the_checkpoint_records_it():
    b = gpt_core.load_model("default")
    full = b.info.meta["heldout_nats_per_char"]
    assert full <= 1.6 and f"{full:.3f} nats per character" in describe.summary(b)
    facts = {r["fact"]: r["value"] for r in describe.provenance_rows(b.info)}
    assert facts["Held-out loss over every held-out token (nats/character)"] == f"{full:.4f}"
