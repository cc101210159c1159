"""The Dockerfile and .dockerignore, checked without Docker: what the image would hold is copied into a
folder, and the app is run from there exactly as the image's CMD and HEALTHCHECK run it.

(Building the image needs a Docker daemon; these tests check every part of it that can be checked without one.)
"""

import fnmatch
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from gpt_core import GPT, save_checkpoint
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each line of the Dockerfile, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        lines.append((word.upper(), rest.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return lines


def with_defaults(text: str) -> str:
    """``text`` with each build argument (``ARG NAME=default``, written ``${NAME}``) replaced by its default."""
    for word, args in instructions():
        if word == "ARG" and "=" in args:
            name, _, default = args.partition("=")
            text = text.replace(f'"${{{name}}}"', default).replace(f"${{{name}}}", default)
    return text


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, with /) out of the build context."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(pre, pat.removeprefix("**/")) or fnmatch.fnmatch(parts[i], pat.removeprefix("**/"))
               for pat in patterns for i, pre in enumerate(prefixes))


def copies() -> list[tuple[str, str]]:
    out = []
    for word, args in instructions():
        if word == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            out += [(src, words[-1]) for src in words[:-1]]
    return out


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), "use the exec (JSON) form"
    return value


def test_dockerfile_parses_and_has_every_part():
    found = instructions()
    words = [w for w, _ in found]
    assert set(words) <= {"FROM", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "HEALTHCHECK", "CMD", "ARG",
                          "LABEL"}
    froms = [a for w, a in found if w == "FROM"]
    assert len(froms) == 1 and with_defaults(froms[0]) == "python:3.11-slim"  # by default; ARG BASE_IMAGE for a mirror
    assert words.count("CMD") == 1 and words.count("HEALTHCHECK") == 1 and words[-1] == "CMD"
    assert ("EXPOSE", "8501") in found
    cmd = exec_form(dict(found)["CMD"])
    assert cmd == ["streamlit", "run", "app.py", "--server.headless", "true", "--browser.serverAddress", "localhost",
                   "--server.address", "0.0.0.0"]  # a named address: no look-up of a public one at start


def test_the_app_runs_as_a_user_that_is_not_root():
    found = instructions()
    users = [i for i, (w, _) in enumerate(found) if w == "USER"]
    assert users, "no USER: the app would run as root"
    last = found[users[-1]][1]
    assert last not in ("root", "0") and users[-1] < [w for w, _ in found].index("CMD")
    assert any(w == "RUN" and "useradd" in a and last in a for w, a in found)
    # everything the app itself copies in is owned by root, so the app cannot change its own code
    assert not any(w == "COPY" and "--chown" in a for w, a in found)


def test_torch_is_the_pinned_cpu_build_and_requirements_stay_pinned():
    run = " ".join(a for w, a in instructions() if w == "RUN")
    assert "--index-url https://download.pytorch.org/whl/cpu" in with_defaults(run)  # by default; ARG TORCH_INDEX_URL
    assert "pip install -r requirements.txt" in run
    # the shell expression in the Dockerfile picks the torch pin from requirements.txt
    expr = run.split('"$(', 1)[1].split(')"', 1)[0]
    picked = subprocess.run(["sh", "-c", expr], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    pins = {line.split("==")[0]: line.split()[0] for line in (ROOT / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    assert picked == pins["torch"] and picked.startswith("torch==")


def test_every_copied_path_exists_and_is_in_the_build_context():
    pairs = copies()
    assert {src.rstrip("/") for src, _ in pairs} >= {"requirements.txt", "app.py", "app_pages", "ui", "gpt_core",
                                                      "viz", "assets", ".streamlit/config.toml"}
    for src, _ in pairs:
        assert (ROOT / src).exists(), f"COPY {src}: no such path"
        assert not ignored(src.rstrip("/")), f"COPY {src}: .dockerignore leaves it out of the build context"
    assert (ROOT / "assets/models/default/model.safetensors").is_file()  # the shipped model goes in the image
    for secret in (".streamlit/secrets.toml", ".git", "tests", "gpt_core/__pycache__/x.pyc"):
        assert ignored(secret)


def test_every_module_the_app_imports_is_copied():
    """The app's own packages are exactly the top-level ones the image holds."""
    copied = {src.rstrip("/").split("/")[0] for src, _ in copies()}
    imported = set()
    packages = ("app_pages", "ui", "gpt_core", "viz")
    sources = [ROOT / "app.py", *(py for d in packages for py in (ROOT / d).rglob("*.py"))]
    for py in sources:
        for line in py.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) > 1 and words[0] in ("import", "from") and words[1][0] != "." \
                    and (ROOT / words[1].split(".")[0]).is_dir():
                imported.add(words[1].split(".")[0])
    assert imported <= copied, imported - copied


# --- the image's contents, run as the image runs them ------------------------------------------------------


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    """A folder holding what the Dockerfile copies into /app, and nothing else."""
    app = tmp_path_factory.mktemp("image") / "app"
    for src, dest in copies():
        target = app / dest / Path(src).name if dest.endswith("/") and not src.endswith("/") else app / dest
        if (ROOT / src).is_dir():
            shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / src, target)
    return app


def image_env(home: Path, extra: dict | None = None) -> dict:
    """The image's environment: its ENV lines, a fresh home, and no path back to this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "GPT_EXPLAINER_", "PYTHONPATH"))}
    for word, args in instructions():
        if word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env | {"HOME": str(home), "GPT_EXPLAINER_MODELS_DIR": str(home / "models")} | (extra or {})


RUN_PAGES = """
import os, sys
sys.path = [os.getcwd()] + [p for p in sys.path[1:] if p.rstrip("/") != sys.argv[1]]  # the image, not the checkout
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(os.path.join(os.getcwd(), "app.py"), default_timeout=120).run()
for page in sys.argv[2:]:
    at.switch_page("app_pages/" + page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
import ui
assert ui.__file__.startswith(os.getcwd()), ui.__file__
print("pages ok")
"""


def test_every_page_runs_from_the_image_contents_alone(image_dir, tmp_path):
    """Run each page from the copied folder (nothing of this checkout on sys.path); the app writes nothing there."""
    torch.manual_seed(0)
    tiny = save_checkpoint(GPT(TINY), tmp_path / "tiny", "shakespeare_bpe", {"name": "tiny"})
    before = sorted(p for p in image_dir.rglob("*"))
    pages = sorted(p.name for p in (image_dir / "app_pages").glob("*.py"))
    runner = tmp_path / "run_pages.py"
    runner.write_text(RUN_PAGES)
    env = image_env(tmp_path / "home", {"GPT_EXPLAINER_DEFAULT_MODEL": str(tiny)})
    done = subprocess.run([sys.executable, str(runner), str(ROOT), *pages], cwd=image_dir, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "pages ok" in done.stdout, done.stderr[-3000:]
    assert sorted(p for p in image_dir.rglob("*")) == before  # read-only in the image: nothing may be written


def test_the_image_command_serves_the_app_and_the_healthcheck_sees_it(image_dir, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    found = dict(instructions())
    cmd = exec_form(found["CMD"])
    cmd = [sys.executable, "-m", *cmd[:-1], "127.0.0.1"]  # the CMD, on loopback
    probe = exec_form(found["HEALTHCHECK"].split("CMD", 1)[1].strip())
    probe = [sys.executable if w == "python" else w for w in probe]
    # on a free port, set as README tells (-e STREAMLIT_SERVER_PORT=...): the server and the probe both follow it
    env = image_env(tmp_path / "home", {"STREAMLIT_SERVER_PORT": str(port)})
    server = subprocess.Popen(cmd, cwd=image_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            if subprocess.run(probe, env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the HEALTHCHECK command never succeeded")
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
        assert b'<div id="root">' in page
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert subprocess.run(probe, env=env, capture_output=True).returncode != 0  # and it notices a stopped server
