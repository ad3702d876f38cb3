"""A kernel manager whose kernels talk over Unix domain sockets in a private folder.

Headless runs (``medai run``, ``medai course check``, grading) start their kernels on this machine only;
IPC sockets keep kernel traffic off TCP ports altogether (ipykernel otherwise warns, on every start, that
it runs over TCP without encryption). Importable by name, so nbgrader's configuration can point at it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref

from jupyter_client.manager import AsyncKernelManager
from traitlets import default


class IpcKernelManager(AsyncKernelManager):
    """``AsyncKernelManager`` with ``transport="ipc"`` and sockets in a fresh folder removed afterwards."""

    @default("transport")
    def _default_transport(self):
        return "tcp" if os.name == "nt" else "ipc"  # Windows has no Unix domain sockets for ZeroMQ

    @default("ip")
    def _default_ip(self):
        if os.name == "nt":
            return "127.0.0.1"
        folder = tempfile.mkdtemp(prefix="medai-kernel-")
        weakref.finalize(self, shutil.rmtree, folder, True)
        return os.path.join(folder, "k")
