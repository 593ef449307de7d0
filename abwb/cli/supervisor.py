"""``abwb serve --workers N``: N uvicorn processes, each listening on a socket of its own.

Why not uvicorn's own ``workers=N``: it binds one socket in the parent and every worker
accepts from that one socket. asyncio accepts every pending connection when it wakes,
so the first worker to wake takes a whole burst. A service's pool of keep-alive
connections is opened in such a burst: ``wrk -c16`` against two workers put all 16
connections on one worker, and two workers served 1.0× one worker.

Here each worker binds its own socket to the port with ``SO_REUSEPORT``, and the
kernel hands each new connection to one of the listening sockets by a hash of its
addresses, so connections spread over the workers whenever they arrive (64 connections
measured 28 / 36 over two sockets). The parent holds one more socket on the port,
bound but never listening: it gets no connections, and it keeps the port ours while a
worker restarts. Linux only lets processes of the same user join the port's group.

The parent restarts a worker that dies, stops every worker on ``SIGINT`` / ``SIGTERM``
(each finishes its requests: uvicorn's graceful shutdown), and gives up, returning 1,
when a worker *exits* with an error before it ever listened: that is a broken
configuration or store, not a crash that a restart mends. A worker *killed* by a signal
(the OOM killer, an operator) is restarted even then, up to :data:`KILLED_AT_START`
times in a row.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from abwb.errors import InvalidInput

__all__ = ["listening_sockets", "reuse_port_supported", "serve_workers"]

#: Restarts of a worker killed before it listened, in a row, before the parent gives up.
KILLED_AT_START = 3
#: How long stopping waits for workers to finish their requests before killing them.
STOP_TIMEOUT_S = 30.0

log = logging.getLogger(__name__)


def reuse_port_supported() -> bool:
    """Whether the kernel spreads connections over ``SO_REUSEPORT`` listeners (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` in the port's ``SO_REUSEPORT`` group (not listening).

    Raises:
        InvalidInput: the port cannot be bound (in use by another program, or not ours).
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        problem = "is in use by another program" if exc.errno == errno.EADDRINUSE else str(exc)
        raise InvalidInput(f"cannot listen on {host}:{port}: {problem}", path="--port") from exc
    return sock


def listening_sockets(port: int) -> int:
    """How many TCP sockets of this machine listen on ``port`` (from ``/proc/net``).

    With ``--workers N``, N once every worker listens: what a load test waits for
    before it opens its connections.
    """
    found = 0
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                found += 1
    return found


def _worker(host: str, port: int, options: dict[str, Any], ready: Connection) -> None:
    """One worker process: its own socket on the port, then uvicorn until stopped."""
    import uvicorn

    sock = _socket(host, port)
    config = uvicorn.Config("abwb.cli.serve:worker_app", factory=True, **options)
    server = uvicorn.Server(config)

    def tell_when_listening() -> None:
        while not server.started:
            time.sleep(0.05)
        ready.send(True)

    threading.Thread(target=tell_when_listening, daemon=True).start()
    server.run(sockets=[sock])


@dataclass
class _Workers:
    host: str
    port: int
    options: dict[str, Any]
    processes: list[Any] = field(default_factory=list)
    #: The parent's end of each worker's pipe: a message once the worker listens.
    #: (A pipe, not an Event: an Event's semaphore starts a resource-tracker process.)
    ready: list[Connection] = field(default_factory=list)
    listening: list[bool] = field(default_factory=list)

    def start(self, index: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        ours, theirs = spawn.Pipe(duplex=False)
        process = spawn.Process(target=_worker, args=(self.host, self.port, self.options, theirs),
                                name=f"abwb-worker-{index}")
        process.start()
        theirs.close()
        if index < len(self.processes):
            self.ready[index].close()
            self.processes[index], self.ready[index] = process, ours
            self.listening[index] = False
        else:
            self.processes.append(process)
            self.ready.append(ours)
            self.listening.append(False)

    def heard(self) -> None:
        """Note the workers that said they listen."""
        for index, conn in enumerate(self.ready):
            if not self.listening[index] and conn.poll():
                with contextlib.suppress(EOFError):  # EOF: it exited without a word
                    self.listening[index] = conn.recv()

    def stop(self) -> None:
        for process in self.processes:
            if process.exitcode is None and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.warning("worker %s did not stop in %.0f s: killed", process.pid,
                            STOP_TIMEOUT_S)
                process.kill()
                process.join()


def serve_workers(workers: int, host: str, port: int, options: dict[str, Any]) -> int:
    """Run ``workers`` processes of ``abwb.cli.serve:worker_app`` until stopped.

    Args:
        workers: How many worker processes.
        host: The address to listen on.
        port: The port every worker listens on.
        options: Keyword arguments of ``uvicorn.Config`` (log level, proxy headers, ...).

    Returns:
        0 when stopped by a signal, 1 when a worker failed to start (see the module doc).

    Raises:
        InvalidInput: the port cannot be bound.
    """
    reserved = _socket(host, port)  # fails here, clearly, when the port is taken
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    pool = _Workers(host, port, options)
    try:
        for index in range(workers):
            pool.start(index)
        killed_at_start = [0] * workers
        while not stopping:
            wait([p.sentinel for p in pool.processes] + pool.ready, timeout=0.5)
            pool.heard()
            for index, process in enumerate(pool.processes):
                code = process.exitcode
                if code is None or stopping:
                    continue
                if pool.listening[index]:
                    killed_at_start[index] = 0
                else:  # a negative exit code: killed by a signal
                    killed_at_start[index] += 1
                    if code >= 0 or killed_at_start[index] > KILLED_AT_START:
                        print(f"abwb serve: worker {process.pid} exited with code {code} "
                              "before it listened; stopping", file=sys.stderr, flush=True)
                        return 1
                print(f"abwb serve: worker {process.pid} died (exit code {code}); starting "
                      "another", file=sys.stderr, flush=True)
                pool.start(index)
        return 0
    finally:
        pool.stop()
        reserved.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
