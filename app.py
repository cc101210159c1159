"""GPT, step by step: entry point. Run with ``streamlit run app.py``.

Builds the navigation and the sidebar every page shares. To add a page, write
app_pages/<name>.py and add one line to PAGES. (The folder is not called pages/: Streamlit
treats a pages/ folder as its older multipage layout, and a deep link opened right after the
server starts would then run the page without this script, so without the sidebar.)
"""

import streamlit as st

from ui import lang, links, presenter, sidebar, state
from ui import training as training_run
from ui.text import label, labels

links.read()  # a link's prompt, model, language and presenter mode, before anything uses them
lang.init()  # the session's language, before anything is drawn
st.set_page_config(page_title=label("common", "app_title"), page_icon="🔬", layout="wide")
state.configure_torch()

TITLES = labels("common", "pages")  # page titles in the session's language; url paths follow the file names
PAGES = [
    st.Page("app_pages/home.py", title=TITLES["home"], icon=":material/home:", default=True),
    st.Page("app_pages/overview.py", title=TITLES["overview"], icon=":material/visibility:"),
    st.Page("app_pages/tokens.py", title=TITLES["tokens"], icon=":material/token:"),
    st.Page("app_pages/embeddings.py", title=TITLES["embeddings"], icon=":material/scatter_plot:"),
    st.Page("app_pages/attention.py", title=TITLES["attention"], icon=":material/hub:"),
    st.Page("app_pages/generation.py", title=TITLES["generation"], icon=":material/edit_note:"),
    st.Page("app_pages/model.py", title=TITLES["model"], icon=":material/account_tree:"),
    st.Page("app_pages/training.py", title=TITLES["training"], icon=":material/model_training:"),
    st.Page("app_pages/evolution.py", title=TITLES["evolution"], icon=":material/timeline:"),
    st.Page("app_pages/uses.py", title=TITLES["uses"], icon=":material/lightbulb:"),
]

page = st.navigation(PAGES)
training_run.end_if_left(page.url_path)  # a Training run ends when its tab shows another page
sidebar.draw()
links.read_page(page.url_path)  # the link's layer, head, ... checked against the loaded model
links.share_button(page.url_path)
presenter.frame(page.url_path)  # presenter mode: its toggle, its style, the story's step bar
try:
    page.run()
finally:
    links.write(page.url_path)  # the view as it is now, into the address (also after st.stop)
