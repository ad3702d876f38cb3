"""`make lab`'s JupyterLab server: localhost only, token required."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT
from medai_lib.course.kernel import lab_command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.server
def test_lab_server_requires_the_token(tmp_path):
    port = _free_port()
    token = "course-test-token"
    cmd, env = lab_command(ROOT, port=port, open_browser=False, token=token)
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--LabApp.news_url=None" in cmd
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        opener = urllib.request.build_opener(_NoRedirect)
        deadline = time.time() + 90
        status = None
        while time.time() < deadline:
            try:
                status = opener.open(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5).status
                break
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert status == 200, f"/lab with the token answered {status}"
        try:
            anonymous = opener.open(f"http://127.0.0.1:{port}/lab", timeout=10).status
        except urllib.error.HTTPError as exc:
            anonymous = exc.code
        assert anonymous in (302, 403), f"/lab without the token answered {anonymous}"
        try:
            api = opener.open(f"http://127.0.0.1:{port}/api/contents", timeout=10).status
        except urllib.error.HTTPError as exc:
            api = exc.code
        assert api == 403
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
