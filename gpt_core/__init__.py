"""gpt_core: a GPT you can look inside. No UI code lives here (no streamlit, no plotly).

    import gpt_core
    bundle = gpt_core.load_model("default")
    logits, cache = bundle.model.run_with_cache(idx)
    cache["blocks.0.attn.hook_pattern"]  # (batch, head, query_pos, key_pos)
"""

from .cache import ActivationCache, activation_names
from .config import PRESETS, GPTConfig, Preset, count_parameters, n_params
from .devices import choose_device
from .generation import Distribution, Step, draw, generate, generate_steps, next_token_distribution
from .loading import GPT2_NAMES, ModelBundle, ModelInfo, ModelNotAvailable, find_weights, load_model
from .model import GPT
from .tokenizer import Tokenizer, available_tokenizers, get_tokenizer
from .weights import CheckpointError, load_checkpoint, load_hf_folder, save_checkpoint

__all__ = [
    "GPT", "GPT2_NAMES", "PRESETS", "ActivationCache", "CheckpointError", "Distribution", "GPTConfig",
    "ModelBundle", "ModelInfo", "ModelNotAvailable", "Preset", "Step", "Tokenizer", "activation_names",
    "available_tokenizers", "choose_device", "count_parameters", "draw", "find_weights", "generate",
    "generate_steps", "get_tokenizer", "load_checkpoint", "load_hf_folder", "load_model", "n_params",
    "next_token_distribution", "save_checkpoint",
]
