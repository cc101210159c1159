"""The README's balancer configurations for several servers (nginx by address, HAProxy by cookie), run as
written: two app servers behind the balancer, real browsers on a school-like address, each session kept on
one server, and a session that loses its server coming back on the other with its text (README, "Several
servers behind a load balancer")."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from conftest import READY, TINY, _free_port, chromium, require_chromium, settle, type_prompt

from gpt_core import GPT, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
NGINX = "/usr/sbin/nginx"
HAPROXY = "/usr/sbin/haproxy"
HOST = "gpt.school.test"  # resolved to 127.0.0.1 by the browser only: the app sees a name, as behind a real balancer
PROMPT = "Behind the balancer my text stays mine"


def require(program: str, package: str) -> None:
    if not os.path.exists(program):
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing; scripts/test.sh installs Debian's {package}")
        pytest.skip(f"Debian {package} not installed (scripts/test.sh installs it)")


def readme_block(language: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, f"README holds one {language} configuration"
    return blocks[0]


def localised(block: str, changes: list[tuple[str, str]]) -> str:
    """The README's block with ``changes`` made, each exactly once (the addresses made local)."""
    for old, new in changes:
        assert block.count(old) == 1, old
        block = block.replace(old, new)
    return block


def nginx_config(listen: int, servers: list[int], folder: Path) -> str:
    block = localised(readme_block("nginx"), [("listen 443 ssl;", f"listen 127.0.0.1:{listen};"),
                                              ("server 10.0.0.11:8501;", f"server 127.0.0.1:{servers[0]};"),
                                              ("server 10.0.0.12:8501;", f"server 127.0.0.1:{servers[1]};")])
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = " ".join(f"{kind}_temp_path {folder / kind};" for kind in kinds)
    return (f"worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            + ("user root;\n" if os.geteuid() == 0 else "")
            + "events { worker_connections 256; }\n"
            + f"http {{\naccess_log {folder / 'access.log'};\n{temp}\n{block}\n}}\n")


def haproxy_config(listen: int, servers: list[int]) -> str:
    """Addresses made local, and each server checked every second (HAProxy's default is every two), so that
    a stopped server is marked down sooner."""
    return localised(readme_block("haproxy"), [
        ("bind :443 ssl crt /etc/haproxy/gpt.pem", f"bind 127.0.0.1:{listen}"),
        ("server a 10.0.0.11:8501 check", f"server a 127.0.0.1:{servers[0]} check inter 1s"),
        ("server b 10.0.0.12:8501 check", f"server b 127.0.0.1:{servers[1]} check inter 1s")])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ok(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if get(url) == (200, b"ok"):
                return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer ok within {seconds} s")


class Servers:
    """Two `streamlit run app.py` servers with one cookie secret, as README tells; each can be stopped and restarted."""

    def __init__(self, folder: Path, model: Path):
        self.folder, self.ports, self.procs = folder, [_free_port(), _free_port()], [None, None]
        self.env = {**os.environ, "GPT_EXPLAINER_DEFAULT_MODEL": str(model),
                    "STREAMLIT_SERVER_COOKIE_SECRET": "one-secret-for-every-server"}

    def start(self, i: int) -> None:
        log = open(self.folder / f"app{i}.log", "a")
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.ports[i])], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGTERM)
        self.procs[i].wait(timeout=20)

    def running(self) -> None:
        """Start again any server an earlier test stopped, and wait until both answer."""
        for i, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self.start(i)
        for port in self.ports:
            wait_ok(f"http://127.0.0.1:{port}/_stcore/health")

    def close(self) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=20)


@pytest.fixture(scope="module", params=["nginx", "haproxy"])
def balanced(request, tmp_path_factory):
    """(balancer URL as the browser types it, its loopback URL, Servers): two app servers behind the balancer,
    run with the README's block."""
    require_chromium()
    kind = request.param
    require(NGINX if kind == "nginx" else HAPROXY, "nginx-light" if kind == "nginx" else "haproxy")
    folder = tmp_path_factory.mktemp(kind)
    torch.manual_seed(0)
    model = save_checkpoint(GPT(TINY), folder / "model", "shakespeare_bpe", {"name": "tiny test model"})
    servers = Servers(folder, model)
    lb_port = _free_port()
    conf = folder / f"{kind}.conf"
    if kind == "nginx":
        conf.write_text(nginx_config(lb_port, servers.ports, folder))
        command = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf), "-g", "daemon off;"]
    else:
        conf.write_text(haproxy_config(lb_port, servers.ports))
        command = [HAPROXY, "-f", str(conf), "-db"]
    balancer = None
    try:
        for i in (0, 1):
            servers.start(i)
        for port in servers.ports:
            wait_ok(f"http://127.0.0.1:{port}/_stcore/health")
        balancer = subprocess.Popen(command, stdout=open(folder / "balancer.log", "w"), stderr=subprocess.STDOUT)
        wait_ok(f"http://127.0.0.1:{lb_port}/_stcore/health", 20)
        yield f"http://{HOST}:{lb_port}", f"http://127.0.0.1:{lb_port}", servers
    finally:
        if balancer is not None:
            balancer.terminate()
            balancer.wait(timeout=20)
        servers.close()


@pytest.fixture(scope="module")
def browser():
    """Chromium that alone resolves the school's name to this machine; the servers only ever see the name.
    (conftest's ``page`` fixture opens its pages in this browser.)"""
    with chromium(f"--host-resolver-rules=MAP {HOST} 127.0.0.1") as b:
        yield b


def test_the_balancer_serves_health_and_keeps_the_counters_private(balanced):
    _, direct, _ = balanced
    assert get(direct + "/_stcore/health") == (200, b"ok")
    assert get(direct + "/_stcore/metrics")[0] == 403


def reload_until_ready(page, seconds: float = 60) -> None:
    """Reload as a student would after the page lost its server, until the app is drawn again."""
    deadline = time.time() + seconds
    while True:
        try:
            page.reload()
            page.wait_for_selector(READY, timeout=15_000)
            if page.get_by_role("textbox", name="Your text").count():
                return
        except Exception:
            if time.time() > deadline:
                raise
        if time.time() > deadline:
            pytest.fail(f"the app was not drawn again within {seconds} s of losing its server")
        time.sleep(1)


def test_a_session_runs_through_the_balancer_and_survives_losing_its_server(balanced, page):
    url, _, servers = balanced
    servers.running()
    page.goto(url + "/")
    page.wait_for_selector(READY, timeout=60_000)
    type_prompt(page, PROMPT)  # a rerun over the websocket, through the balancer
    page.get_by_role("link", name="Attention").first.click()  # same session: the page switch is a websocket message
    settle(page)
    assert page.get_by_role("heading", name="Attention").count() > 0
    assert page.get_by_role("textbox", name="Your text").input_value() == PROMPT
    assert page.locator('[data-testid="stException"]').count() == 0

    # The session's server goes away (a restart, a crash). Which of the two held it is the balancer's choice, so
    # stop one, come back, then stop the other: the second time the session is surely on the stopped one.
    typed = PROMPT
    for stop, restart in ((0, None), (1, 0)):
        if restart is not None:
            servers.start(restart)
            wait_ok(f"http://127.0.0.1:{servers.ports[restart]}/_stcore/health")
        servers.stop(stop)
        reload_until_ready(page)
        assert page.get_by_role("textbox", name="Your text").input_value() == typed  # back from the page address
        assert page.get_by_role("heading", name="Attention").count() > 0
        assert page.locator('[data-testid="stException"]').count() == 0
        typed = f"{PROMPT}, server {stop} gone"
        type_prompt(page, typed)  # and the new session works: a rerun over its own websocket
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_role("textbox", name="Your text").input_value() == typed


@pytest.mark.parametrize("balanced", ["haproxy"], indirect=True)  # nginx's ip_hash keeps one address on one server
def test_cookie_stickiness_spreads_one_address_over_the_servers_and_keeps_each_browser_on_its_own(balanced, browser):
    """HAProxy's block: two students behind one address (one school's NAT) get a server each and keep it."""
    url, _, servers = balanced
    servers.running()
    students = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        chosen = []
        for n, context in enumerate(students):
            page = context.new_page()
            page.goto(url + "/")
            page.wait_for_selector(READY, timeout=60_000)
            type_prompt(page, f"{PROMPT}, student {n}")
            page.get_by_role("link", name="Attention").first.click()
            settle(page)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.get_by_role("textbox", name="Your text").input_value() == f"{PROMPT}, student {n}"
            chosen.append({c["name"]: c["value"] for c in context.cookies()}.get("SRV"))
        assert sorted(chosen) == ["a", "b"]  # one address, both servers in use
        for n, context in enumerate(students):  # and each browser stays where it is
            context.pages[0].reload()
            context.pages[0].wait_for_selector(READY, timeout=60_000)
            assert {c["name"]: c["value"] for c in context.cookies()}.get("SRV") == chosen[n]
    finally:
        for context in students:
            context.close()
