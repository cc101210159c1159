"""Streamlit glue: cached loaders, session state, the shared sidebar and page texts."""
