"""Server settings (.streamlit/config.toml) and what the running server answers: the app, its health
endpoint and nothing else (no file of the project, no directory listing, no path outside it)."""

import json
import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from streamlit import config as st_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".streamlit" / "config.toml"
EXPECTED = {
    "server": {"maxUploadSize": 5, "enableXsrfProtection": True, "enableCORS": True, "enableStaticServing": False,
               "runOnSave": False, "enableAgentApi": False},
    "browser": {"gatherUsageStats": False},
    "client": {"showErrorDetails": "none", "toolbarMode": "minimal"},
    "runner": {"postScriptGC": False},  # a full collection after every run was half the CPU of a class
}


def test_config_file_holds_the_hardened_settings():
    settings = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    for section, values in EXPECTED.items():
        for name, value in values.items():
            assert settings[section][name] == value, f"{section}.{name}"


def test_streamlit_reads_the_file_and_applies_every_setting():
    """Streamlit itself, started in the project folder, reports the values (an unknown name would be ignored)."""
    names = [f"{section}.{name}" for section, values in EXPECTED.items() for name in values]
    code = ("import json; from streamlit import config; config.get_config_options(force_reparse=True); "
            f"print(json.dumps({{n: config.get_option(n) for n in {names!r}}}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    applied = json.loads(out.stdout.strip().splitlines()[-1])
    assert applied == {f"{section}.{name}": v for section, values in EXPECTED.items() for name, v in values.items()}
    assert "none" in {str(o) for o in st_config.ShowErrorDetailsConfigOptions}
    assert set(st_config._config_options_template) >= set(names)  # each is a known option of this Streamlit


def test_no_secrets_file_sits_next_to_the_config():
    assert not (CONFIG.parent / "secrets.toml").exists()


# --- the running server --------------------------------------------------------------------------------------


def get(url: str, origin: str | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Origin": origin} if origin else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture(scope="module")
def shell(app_url) -> bytes:
    """The page every browser first loads: Streamlit's index.html."""
    status, _, body = get(app_url + "/")
    assert status == 200 and b"<div id=\"root\">" in body
    return body


def test_health_endpoint_answers_ok(app_url):
    assert get(app_url + "/_stcore/health")[:1] == (200,)
    assert get(app_url + "/_stcore/health")[2] == b"ok"


@pytest.mark.parametrize("path", [
    "/static/", "/app/static/", "/app/static/app.py", "/static/app.py", "/assets/", "/assets/models/default/gpt.json",
    "/.streamlit/config.toml", "/app.py", "/app_pages/", "/tests/", "/.git/config", "/_stcore/", "/media/",
])
def test_no_project_file_or_directory_listing_is_served(app_url, shell, path):
    status, headers, body = get(app_url + path)
    # Streamlit answers unknown paths with its own index page (the app routes pages in the browser) or 404
    assert status in (200, 404), status
    assert status == 404 or body == shell
    for leak in (b"Index of", b"Directory listing", b"[server]", b"import streamlit", b"gpt-explainer-checkpoint"):
        assert leak not in body


@pytest.mark.parametrize("path", ["/../", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/../app.py",
                                  "/app/static/..%2fapp.py", "/media/../app.py", "/component/..%2f..%2fapp.py"])
def test_paths_that_climb_out_are_refused(app_url, shell, path):
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(app_url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.request("GET", path)  # sent as written: urllib would normalise the dots away
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status in (400, 404) or body == shell, r.status
    assert b"root:" not in body and b"import streamlit" not in body


def test_a_foreign_origin_gets_no_cors_permission(app_url):
    _, headers, _ = get(app_url + "/_stcore/health", origin="http://evil.example")
    assert "access-control-allow-origin" not in {k.lower() for k in headers}


def test_uploads_without_an_xsrf_token_are_refused(app_url):
    request = urllib.request.Request(app_url + "/_stcore/upload_file/session/file", data=b"x", method="PUT")
    try:
        status = urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as e:
        status = e.code
    assert status in (400, 403, 404, 405)
