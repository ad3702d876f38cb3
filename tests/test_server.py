"""`make lab`'s JupyterLab server: localhost only, token required; the link it prints opens the course
index; a learner sees the course folders, not nbgrader's instructor tools, and one kernel."""
from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT
from medai_lib.course.kernel import KERNEL_NAME, LEARNER_FOLDERS, NBGRADER_LAB_EXTENSION, lab_command

TOKEN = "course-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _api(base: str, path: str):
    status, body = _get(f"{base}{path}?token={TOKEN}")
    assert status == 200, f"{path} answered {status}"
    return json.loads(body)


@contextlib.contextmanager
def _server(tmp_path, **options):
    """Start JupyterLab as `medai serve` does; yield (base URL, log file) once it answers."""
    port = _free_port()
    cmd, env = lab_command(ROOT, port=port, open_browser=False, token=TOKEN, **options)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 90
            while time.time() < deadline:
                try:
                    if _get(f"{base}/api/status?token={TOKEN}")[0] == 200:
                        break
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                if proc.poll() is not None:
                    pytest.fail(f"JupyterLab exited:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            else:
                pytest.fail(f"JupyterLab did not answer:\n{log_path.read_text()[-3000:]}")
            yield base, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _page_config(html: bytes) -> dict:
    """The configuration JupyterLab's page hands to the browser (extensions, tree path, ...)."""
    match = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no jupyter-config-data in the JupyterLab page"
    return json.loads(match.group(1))


@pytest.mark.server
def test_lab_server_requires_the_token(tmp_path):
    cmd, _ = lab_command(ROOT, port=8888, open_browser=False, token=TOKEN, config_dir=tmp_path / "learner")
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--LabApp.news_url=None" in cmd
    with _server(tmp_path, config_dir=tmp_path / "learner") as (base, _):
        assert _get(f"{base}/lab?token={TOKEN}")[0] == 200
        anonymous = _get(f"{base}/lab")[0]
        assert anonymous in (302, 403), f"/lab without the token answered {anonymous}"
        assert _get(f"{base}/api/contents")[0] == 403


@pytest.mark.server
def test_the_printed_link_opens_the_course_index_with_one_kernel_and_no_instructor_tools(tmp_path):
    with _server(tmp_path, config_dir=tmp_path / "learner") as (base, log_path):
        # The link the server prints (what a learner clicks) names the course index.
        deadline = time.time() + 30
        while not (links := re.findall(r"http://127\.0\.0\.1:\d+/\S+", log_path.read_text())):
            assert time.time() < deadline, f"no link printed:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        link = urllib.parse.urlsplit(links[0])
        assert link.path == "/lab/tree/course/README.md", f"the printed link opens {link.path}"
        status, page = _get(f"{base}{link.path}?token={TOKEN}")
        assert status == 200
        config = _page_config(page)
        assert config["treePath"] == "course/README.md"
        index = _api(base, "/api/contents/course/README.md")
        assert index["content"].startswith("# MedAI course")

        # The file browser's top level: the learner's folders only, none of the developer tree.
        top = {item["name"] for item in _api(base, "/api/contents")["content"]}
        assert {"course", "labs"} <= top <= set(LEARNER_FOLDERS), top
        assert (ROOT / "solutions").is_dir() and (ROOT / "medai_lib").is_dir()  # there, but not listed

        # One kernel, the project's, which is also the default.
        specs = _api(base, "/api/kernelspecs")
        assert set(specs["kernelspecs"]) == {KERNEL_NAME} and specs["default"] == KERNEL_NAME

        # nbgrader's instructor tools: no lab extension in the page, no server handlers.
        assert NBGRADER_LAB_EXTENSION in config["disabledExtensions"]
        assert _get(f"{base}/formgrader?token={TOKEN}")[0] == 404
        assert _get(f"{base}/assignments?token={TOKEN}")[0] == 404
        assert not re.search(r"nbgrader\S* \| extension was successfully", log_path.read_text())


@pytest.mark.server
def test_the_instructor_server_keeps_nbgrader_and_the_whole_checkout(tmp_path):
    """The same probes answer differently with instructor=True: they do detect the learner's restrictions."""
    with _server(tmp_path, instructor=True) as (base, _):
        top = {item["name"] for item in _api(base, "/api/contents")["content"]}
        assert {"solutions", "medai_lib", "tests"} <= top
        status, page = _get(f"{base}/lab/tree/course/README.md?token={TOKEN}")
        assert status == 200 and NBGRADER_LAB_EXTENSION not in _page_config(page)["disabledExtensions"]
        assert _get(f"{base}/formgrader?token={TOKEN}")[0] != 404
        assert KERNEL_NAME in _api(base, "/api/kernelspecs")["kernelspecs"]
