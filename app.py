"""GPT, step by step: entry point. Run with ``streamlit run app.py``.

Builds the navigation and the sidebar every page shares. To add a page, write
app_pages/<name>.py and add one line to PAGES. (The folder is not called pages/: Streamlit
treats a pages/ folder as its older multipage layout, and a deep link opened right after the
server starts would then run the page without this script, so without the sidebar.)
"""

import streamlit as st

from ui import sidebar, state
from ui import training as training_run

st.set_page_config(page_title="GPT, step by step", layout="wide")
state.configure_torch()

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/overview.py", title="Overview", icon=":material/visibility:"),
    st.Page("app_pages/tokens.py", title="Tokens", icon=":material/token:"),
    st.Page("app_pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
    st.Page("app_pages/attention.py", title="Attention", icon=":material/hub:"),
    st.Page("app_pages/generation.py", title="Generation", icon=":material/edit_note:"),
    st.Page("app_pages/model.py", title="Model", icon=":material/account_tree:"),
    st.Page("app_pages/training.py", title="Training", icon=":material/model_training:"),
    st.Page("app_pages/evolution.py", title="Evolution", icon=":material/timeline:"),
    st.Page("app_pages/uses.py", title="Uses", icon=":material/lightbulb:"),
]

page = st.navigation(PAGES)
training_run.end_if_left(page.url_path)  # a Training run ends when its tab shows another page
sidebar.draw()
page.run()
