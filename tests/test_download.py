"""Downloading GPT-2 weights, without ever reaching the Hub: a local HTTP server plays its part.

The Hub's metadata call (gpt_core.download.remote_files) is replaced by a list of files on the local
server; the streaming, resuming, checking and the CLI run for real. The picker's offline message and
the whole click-to-download flow are driven through AppTest.
"""

import hashlib
import http.server
import json
import threading
import time

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

import gpt_core
from gpt_core import GPT, GPTConfig
from gpt_core import download as dl
from gpt_core.loading import NotEnoughMemory
from gpt_core.weights import to_hf_state_dict


class Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with byte ranges (or ignoring them), recording every Range header it gets."""

    files: dict[str, bytes] = {}
    ranges: list[str | None] = []
    honour_range = True

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        data = self.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        self.ranges.append(rng)
        start = int(rng.removeprefix("bytes=").rstrip("-")) if rng and self.honour_range else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A fake Hub holding a tiny GPT-2 in Hugging Face layout; downloads go to tmp_path/models."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=50257))
    state = to_hf_state_dict(model)
    state.pop("lm_head.weight")  # tied: stored once, as wte
    from safetensors.torch import save

    files = {
        "model.safetensors": save(state),
        "config.json": json.dumps({"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 32,
                                   "vocab_size": 50257}).encode(),
    }

    class Handler(Files):
        pass

    Handler.files, Handler.ranges, Handler.honour_range = files, [], True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    remote = [dl.RemoteFile(name, base + name, len(files[name]), hashlib.sha256(files[name]).hexdigest())
              for name in dl.FILES]
    monkeypatch.setattr(dl, "remote_files", lambda name, revision="main": list(remote))
    monkeypatch.setattr(dl, "CHUNK", 4096)  # many chunks, so cancelling and resuming happen mid-file
    monkeypatch.setenv("GPT_EXPLAINER_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GPT_EXPLAINER_CACHE_DIR", str(tmp_path / "cache"))
    yield Handler, remote
    server.shutdown()
    server.server_close()


def said_alike(e: Exception, reason: str) -> None:
    """The error names its case, and the app's English words for that case are the error's own message (the
    Chinese words have the same blanks: tests/test_i18n.py)."""
    from ui.text import _labels

    assert e.reason == reason
    assert _labels("common", "labels", "en")["error_" + reason].format(**e.details) == str(e)
    _labels("common", "labels", "zh")["error_" + reason].format(**e.details)  # every blank filled


def test_download_fetches_both_files_and_reports_progress(hub, tmp_path):
    handler, remote = hub
    seen = []
    folder = dl.download("gpt2", progress=lambda done, total, name: seen.append((done, total)))
    assert folder == tmp_path / "models" / "gpt2"
    for f in remote:
        assert (folder / f.filename).read_bytes() == handler.files[f.filename]
        assert not (folder / (f.filename + dl.PART)).exists()
    total = sum(f.size for f in remote)
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # never goes backwards
    assert gpt_core.find_weights("gpt2") == folder
    bundle = gpt_core.load_model("gpt2", device="cpu")  # what was downloaded is a working model
    assert bundle.model.config.n_embd == 16


def test_cancel_keeps_the_part_and_the_next_download_resumes(hub, tmp_path):
    handler, remote = hub
    calls = []
    with pytest.raises(dl.DownloadCancelled, match="start again to continue") as stopped:
        dl.download("gpt2", progress=lambda *a: calls.append(a), cancel=lambda: len(calls) > 3)
    said_alike(stopped.value, "cancelled")
    folder = tmp_path / "models" / "gpt2"
    part = folder / ("model.safetensors" + dl.PART)
    kept = part.stat().st_size
    assert 0 < kept < remote[0].size
    assert not (folder / "model.safetensors").exists() and not (folder / "config.json").exists()
    with pytest.raises(gpt_core.ModelNotAvailable):
        gpt_core.find_weights("gpt2")  # half a download is never picked up

    handler.ranges.clear()
    seen = []
    dl.download("gpt2", progress=lambda done, total, name: seen.append(done))
    assert handler.ranges[0] == f"bytes={kept}-"  # continued, not started over
    assert seen[0] == kept
    assert (folder / "model.safetensors").read_bytes() == handler.files["model.safetensors"]


def test_a_server_that_ignores_the_range_gives_a_clean_file(hub, tmp_path):
    handler, _ = hub
    calls = []
    with pytest.raises(dl.DownloadCancelled):
        dl.download("gpt2", progress=lambda *a: calls.append(a), cancel=lambda: len(calls) > 2)
    handler.honour_range = False
    folder = dl.download("gpt2")
    assert (folder / "model.safetensors").read_bytes() == handler.files["model.safetensors"]


def test_a_damaged_download_is_deleted_with_a_clear_message(hub, monkeypatch, tmp_path):
    _, remote = hub
    bad = [dl.RemoteFile(f.filename, f.url, f.size, "0" * 64) for f in remote]
    monkeypatch.setattr(dl, "remote_files", lambda name, revision="main": bad)
    with pytest.raises(dl.DownloadError, match="arrived damaged.*sha256") as damaged:
        dl.download("gpt2")
    said_alike(damaged.value, "damaged_sha")
    folder = tmp_path / "models" / "gpt2"
    assert not (folder / "model.safetensors").exists()
    assert not (folder / ("model.safetensors" + dl.PART)).exists()


def test_an_already_downloaded_model_is_not_fetched_again(hub):
    handler, _ = hub
    dl.download("gpt2")
    handler.ranges.clear()
    dl.download("gpt2")
    assert handler.ranges == []


def test_a_second_download_into_the_same_folder_is_refused(hub, tmp_path):
    folder = tmp_path / "models" / "gpt2"
    folder.mkdir(parents=True)
    with dl._only_one(folder), pytest.raises(dl.DownloadError, match="Another download") as busy:
        dl.download("gpt2")
    said_alike(busy.value, "busy")


def test_only_gpt2_models_can_be_downloaded(hub):
    with pytest.raises(ValueError, match="Only the GPT-2 models"):
        dl.download("gpt3-175b")


def test_offline_the_hub_call_fails_fast_with_the_command(monkeypatch):
    import httpx2
    import huggingface_hub

    def offline(url, **kwargs):
        raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", offline)
    with pytest.raises(dl.DownloadError) as err:
        dl.remote_files("gpt2-medium")
    message = str(err.value)
    assert "Could not reach the Hugging Face Hub" in message and "name resolution" in message
    assert "not on this machine" in message and "`python -m gpt_core.download gpt2-medium`" in message
    said_alike(err.value, "offline")


def test_remote_files_reads_size_and_checksum(monkeypatch):
    import huggingface_hub

    class Meta:
        def __init__(self, url):
            self.size, self.etag = (1234, "ab" * 32) if url.endswith("safetensors") else (56, "not-a-sha")

    urls = []
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url, **kw: urls.append(url) or Meta(url))
    files = dl.remote_files("gpt2")
    assert [f.filename for f in files] == ["model.safetensors", "config.json"]
    assert files[0].size == 1234 and files[0].sha256 == "ab" * 32 and files[1].sha256 is None
    assert all("openai-community/gpt2/resolve/main/" in u for u in urls)


def test_command_line_downloads_and_says_where(hub, tmp_path, capsys):
    assert dl.main(["gpt2", "--out", str(tmp_path / "class")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "class" / "gpt2" / "model.safetensors").is_file()
    assert "saved in" in out and "GPT_EXPLAINER_MODELS_DIR=" in out


def test_command_line_offline_exits_with_the_reason(monkeypatch, tmp_path, capsys):
    def offline(name, revision="main"):
        raise dl.offline_error(name, "no network")

    monkeypatch.setattr(dl, "remote_files", offline)
    assert dl.main(["gpt2", "--out", str(tmp_path)]) == 1
    assert "python -m gpt_core.download gpt2" in capsys.readouterr().err


def test_locate_says_here_or_how_large_the_download_is(hub):
    src = dl.locate("gpt2-xl")
    assert src.kind == "hub" and src.path is None
    assert 6.4e9 < src.size < 6.45e9  # the Hub's gpt2-xl model.safetensors is 6.43 GB
    dl.download("gpt2")
    here = dl.locate("gpt2")
    assert here.kind == "here" and here.size == hub[1][0].size


def test_a_model_too_large_for_free_memory_is_refused_before_loading(hub, monkeypatch):
    dl.download("gpt2")
    monkeypatch.setattr(gpt_core.loading, "available_memory", lambda: 10_000_000)
    monkeypatch.setattr(gpt_core.loading, "load_hf_folder", lambda folder: pytest.fail("loading started"))
    with pytest.raises(NotEnoughMemory, match="needs about .* GB of memory .* this machine has 0.0 GB free") as e:
        gpt_core.load_model("gpt2", device="cpu")
    said_alike(e.value, "memory")  # the sidebar says it in the session's language from these values


def test_the_memory_check_can_be_skipped(hub, monkeypatch):
    dl.download("gpt2")
    monkeypatch.setattr(gpt_core.loading, "available_memory", lambda: 10_000_000)
    monkeypatch.setenv("GPT_EXPLAINER_SKIP_MEMORY_CHECK", "1")
    assert gpt_core.load_model("gpt2", device="cpu").model.config.n_embd == 16


# --- the picker, through AppTest -------------------------------------------------------------------------


def _app() -> AppTest:
    return AppTest.from_file("../app.py", default_timeout=60).run()


def test_picker_offline_says_the_weights_are_not_here_and_the_command(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("GPT_EXPLAINER_MODELS_DIR", raising=False)
    at = _app()
    picker = at.selectbox(key="model")
    assert "GPT-2 small (124M) · 548 MB download" in picker.options
    picker.set_value("gpt2").run()
    assert not at.exception
    notice = " ".join(i.value for i in at.sidebar.info)
    assert "The gpt2 weights are not on this machine" in notice
    assert "`python -m gpt_core.download gpt2`" in notice
    assert at.selectbox(key="model").value == "default"  # it stays on the model it has
    assert any("tiny test model" in c.value for c in at.sidebar.caption)

    def offline(name, revision="main"):
        raise dl.offline_error(name, "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dl, "remote_files", offline)
    at.button(key="models.download.gpt2").click().run()
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "Could not reach the Hugging Face Hub" in errors and "python -m gpt_core.download gpt2" in errors
    assert not at.exception


def test_the_missing_weights_are_explained_in_the_sessions_language(tiny_model_dir, tmp_path, monkeypatch):
    """The core names the case (ModelNotAvailable.reason); the sidebar says it in Chinese, and again in English
    after a switch of language, since the words are looked up when the notice is drawn."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("GPT_EXPLAINER_MODELS_DIR", raising=False)
    at = _app()
    at.segmented_control(key="lang").set_value("zh").run()
    at.selectbox(key="model").set_value("gpt2").run()
    assert not at.exception
    notice = " ".join(i.value for i in at.sidebar.info)
    assert "这台机器上没有 gpt2 的权重" in notice and "`python -m gpt_core.download gpt2`" in notice
    assert "not on this machine" not in notice
    at.segmented_control(key="lang").set_value("en").run()
    assert "The gpt2 weights are not on this machine" in " ".join(i.value for i in at.sidebar.info)


def test_errors_name_their_case_for_other_languages(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("GPT_EXPLAINER_MODELS_DIR", raising=False)
    with pytest.raises(gpt_core.ModelNotAvailable) as missing:
        gpt_core.find_weights("gpt2-medium")
    said_alike(missing.value, "weights_missing")
    assert missing.value.details["name"] == "gpt2-medium"
    with pytest.raises(gpt_core.ModelNotAvailable) as unknown:
        gpt_core.find_weights("no-such-model")
    said_alike(unknown.value, "no_model")


def test_clicking_download_fetches_the_model_and_the_picker_can_load_it(tiny_model_dir, hub, monkeypatch):
    from ui import models

    at = _app()
    at.button(key="models.download.gpt2").click().run()
    job = models._jobs()["gpt2"]
    for _ in range(200):
        if job.finished:
            break
        time.sleep(0.05)
    assert job.finished and not job.error, job.error
    at.run()
    assert "GPT-2 small (124M) · on this machine" in at.selectbox(key="model").options
    assert any("Downloaded into" in s.value for s in at.sidebar.success)
    at.selectbox(key="model").set_value("gpt2").run()
    assert not at.exception
    assert at.selectbox(key="model").value == "gpt2"
    caption = " ".join(c.value for c in at.sidebar.caption)
    assert "GPT\\-2 \\(gpt2\\)" in caption and "Weights in memory" in caption and "on cpu" in caption
    st.cache_resource.clear()


def test_loading_a_large_model_shows_the_memory_check_and_its_time(tiny_model_dir, hub, monkeypatch, tmp_path):
    from ui import models

    dl.download("gpt2")
    monkeypatch.setattr(models, "ANNOUNCE_BYTES", 0)  # the fake GPT-2 is tiny; treat it as large
    at = _app()
    at.selectbox(key="model").set_value("gpt2").run()
    assert not at.exception
    status = at.sidebar.status[0]
    assert "loaded in" in status.label
    assert any("Memory needed while loading" in m.value for m in status.markdown)
    stored = json.loads((tmp_path / "cache" / "measurements.json").read_text())
    assert any(k.startswith("load:") for k in stored)
    at.run()
    assert not at.sidebar.status  # shown once, when the model is first loaded
    st.cache_resource.clear()


def test_picker_refuses_a_model_too_large_for_this_machine(tiny_model_dir, hub, monkeypatch):
    dl.download("gpt2")
    monkeypatch.setattr(gpt_core.loading, "available_memory", lambda: 10_000_000)
    at = _app()
    at.selectbox(key="model").set_value("gpt2").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "could not be loaded" in errors and "needs about" in errors and "GB free" in errors
    assert at.selectbox(key="model").value == "default"


def test_too_little_device_memory_names_its_case_too(monkeypatch):
    monkeypatch.setattr(gpt_core.loading, "available_memory", lambda: None)
    monkeypatch.setattr(gpt_core.loading, "free_device_memory", lambda device: 1_000)
    with pytest.raises(NotEnoughMemory) as e:
        gpt_core.loading.check_memory(GPTConfig(), torch.device("cpu"), "GPT-2 (gpt2)")
    said_alike(e.value, "device_memory")


def test_a_case_without_words_reads_as_the_errors_own_message():
    """A reason added to the core before its words are written still says something: the English message."""
    from ui.state import error_text, error_words

    kept = error_words(dl.DownloadError("The Hub is on fire.", "on_fire", how="very"))
    assert kept == ("on_fire", {"how": "very"}, "The Hub is on fire.")
    assert error_text(kept) == "The Hub is on fire."
    assert error_text(error_words(ValueError("plain"))) == "plain"
