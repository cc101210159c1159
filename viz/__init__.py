"""Pure figure builders: arrays and token strings in, a plotly Figure or escaped HTML out.

Nothing here imports streamlit or torch, so every figure can be tested on its own.
"""
