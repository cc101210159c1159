"""Shared fixtures: a tiny seeded model saved in the project's checkpoint format."""

import pytest
import streamlit as st
import torch

from gpt_core import GPT, GPTConfig, save_checkpoint

TINY = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=1024)


@pytest.fixture
def tiny_model_dir(tmp_path, monkeypatch):
    """A seeded 2-layer model (context 64, Shakespeare tokenizer), used as the app's "default" model."""
    torch.manual_seed(0)
    folder = save_checkpoint(GPT(TINY), tmp_path / "tiny", "shakespeare_bpe", {"name": "tiny test model"})
    monkeypatch.setenv("GPT_EXPLAINER_DEFAULT_MODEL", str(folder))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield folder
    st.cache_data.clear()
    st.cache_resource.clear()
