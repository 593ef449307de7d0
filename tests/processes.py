"""Processes a fault test starts itself: ``abwb serve`` and ``redis-server`` on free ports.

Each helper kills only the processes it started, by pid (never by name). Import with a
relative import, e.g. ``from ..processes import ServeProcess, start_redis``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .waiting import wait_for

__all__ = ["ServeProcess", "free_port", "start_redis"]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """Start a ``redis-server`` without persistence on ``port`` and wait until it answers.

    Raises:
        RuntimeError: it did not start within 5 s (the process is killed).
    """
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc
        except OSError:
            time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise RuntimeError("redis-server did not start")


class ServeProcess:
    """``abwb serve`` processes on one workspace (``ABWB_HOME``), started one at a time.

    Args:
        home: The workspace directory (also where each process's log goes).
        env: Extra environment variables (``ABWB_*``).
    """

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = env or {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.url = ""

    def launch(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a new process on a free port (``self.url``) without waiting for it."""
        port = free_port()
        with open(self.home / f"serve-{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "abwb.cli.main",
                    "serve",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env={**os.environ, "ABWB_HOME": str(self.home), **self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        self.url = f"http://127.0.0.1:{port}"
        return proc

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """:meth:`launch`, then wait until ``/health`` answers (fails if the process exits)."""
        proc = self.launch(env)
        wait_for(
            lambda: proc.poll() is not None or _answers(self.url),
            60,
            interval_s=0.1,
            what="abwb serve to answer /health",
        )
        assert proc.poll() is None, self.log()
        return proc

    def log(self, index: int = -1) -> str:
        """What process ``index`` (default: the last) wrote."""
        index = index % len(self.procs)
        return (self.home / f"serve-{index}.log").read_text(errors="replace")

    def stop(self) -> None:
        """Stop every process still running (SIGTERM, then SIGKILL after 20 s)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
