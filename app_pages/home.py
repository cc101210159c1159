"""Home: what GPT does, in five steps, each linked to the page that shows it."""

import streamlit as st

from ui.text import label, section

ATTENTION = (
    r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}} + M\right) V,"
    r"\qquad M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i \end{cases}"
)

# (text section, page in app_pages/ that shows the step): one line per step, so a step's link moves
# with one edit when its page changes. The link's words are the label "link_<section>".
STEPS = [("tokens", "tokens"), ("vectors", "embeddings"), ("attention", "attention"), ("mlp", "model"),
         ("predict", "generation")]

st.title(label("common", "app_title"))
st.markdown(section("home"))

for name, target in STEPS:
    st.markdown(section("home", name))
    if name == "attention":
        st.latex(ATTENTION)
        st.markdown(section("home", "formula"))
    st.page_link(f"app_pages/{target}.py", label=label("home", f"link_{name}"), icon=":material/arrow_forward:")

st.markdown(section("home", "training"))
st.page_link("app_pages/training.py", label=label("home", "link_training"), icon=":material/arrow_forward:")
