"""Home: what GPT does, in five steps, each linked to the page that shows it."""

import streamlit as st

from ui.text import section

ATTENTION = (
    r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}} + M\right) V,"
    r"\qquad M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i \end{cases}"
)

# (text section, page in app_pages/ that shows the step, link label): one line per step, so a
# step's link moves with one edit when its page changes.
STEPS = [
    ("tokens", "tokens", "Take text apart on the Tokens page"),
    ("vectors", "embeddings", "See your tokens' vectors on the Embeddings page"),
    ("attention", "attention", "See every head at work and the formula worked out on the Attention page"),
    ("mlp", "model", "See the block and its shapes on the Model page"),
    ("predict", "generation", "Watch the model choose, token by token, on the Generation page"),
]

st.title("GPT, step by step")
st.markdown(section("home"))

for name, target, label in STEPS:
    st.markdown(section("home", name))
    if name == "attention":
        st.latex(ATTENTION)
        st.markdown(section("home", "formula"))
    st.page_link(f"app_pages/{target}.py", label=label, icon=":material/arrow_forward:")

st.markdown(section("home", "training"))
st.page_link("app_pages/training.py", label="Watch a small GPT learn, live, on the Training page",
             icon=":material/arrow_forward:")
