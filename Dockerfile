# GPT, step by step: the app in one image, on the CPU, for a classroom server.
#   docker build -t gpt-step-by-step .
#   docker run --rm -p 8501:8501 gpt-step-by-step        then open http://localhost:8501
# GPT-2 weights, when wanted, go in a volume: -v gpt2-weights:/models (see README, "Running for a class").
# The two build arguments are for building from a mirror or a local base image; their defaults are the build above:
#   --build-arg BASE_IMAGE=... (a Python 3.11 image) --build-arg TORCH_INDEX_URL=... (an index that holds the CPU torch)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    GPT_EXPLAINER_MODELS_DIR=/models

WORKDIR /app

# torch comes from PyTorch's CPU index: the PyPI wheel of the same version pulls several GB of CUDA libraries.
# Its version is the one pinned in requirements.txt; everything else then comes from PyPI as pinned there.
COPY requirements.txt ./
RUN pip install --index-url "${TORCH_INDEX_URL}" "$(grep -E '^torch==' requirements.txt | cut -d' ' -f1)" \
 && pip install -r requirements.txt

# The app runs as an ordinary user that can write only its home (timings) and /models (GPT-2 downloads).
RUN useradd --create-home --uid 10001 app && mkdir /models && chown app:app /models

# The code and assets stay owned by root: the app can read them, not change them.
COPY .streamlit/config.toml .streamlit/config.toml
COPY app.py ./
COPY app_pages/ app_pages/
COPY ui/ ui/
COPY gpt_core/ gpt_core/
COPY viz/ viz/
COPY assets/ assets/

USER app
EXPOSE 8501
# The probe asks the port the server listens on: 8501, or STREAMLIT_SERVER_PORT where that is set (-e).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request as u; port = os.environ.get('STREAMLIT_SERVER_PORT', '8501'); sys.exit(u.urlopen(f'http://127.0.0.1:{port}/_stcore/health', timeout=4).read() != b'ok')"]
# --browser.serverAddress: the start-up message names localhost (the address with -p 8501:8501) instead of
# Streamlit looking the machine's public address up on the internet.
CMD ["streamlit", "run", "app.py", "--server.headless", "true", "--browser.serverAddress", "localhost", "--server.address", "0.0.0.0"]
