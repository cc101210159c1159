"""GPT, step by step: entry point. Run with ``streamlit run app.py``.

Builds the navigation over pages/ and the sidebar every page shares. To add a page, write
pages/<name>.py and add one line to PAGES.
"""

import streamlit as st

from ui import sidebar

st.set_page_config(page_title="GPT, step by step", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/overview.py", title="Overview", icon=":material/visibility:"),
    st.Page("pages/model.py", title="Model", icon=":material/account_tree:"),
]

page = st.navigation(PAGES)
sidebar.draw()
page.run()
