"""A real ``redis-server`` of the tests' own, on a free loopback port.

CI installs the server (``.ci/services.sh``) and must never skip these tests, so a missing
``redis-server`` fails them when ``CI`` is set; on a developer machine without it they are
skipped with the install command.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

_BOOT_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` process of the test's own: no persistence, loopback only.

    Args:
        binary: Path of ``redis-server``.
        workdir: Its working directory (a temp dir).
        port: The port; a free one by default. `start` after `kill` reuses it.
    """

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:{port}/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--daemonize", "no",
                "--logfile", str(self.workdir / f"redis-{self.port}.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        give_up = time.monotonic() + _BOOT_TIMEOUT_S
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > give_up:
                log = (self.workdir / f"redis-{self.port}.log").read_text(errors="replace")
                self.kill()
                raise RuntimeError(f"redis-server did not start on {self.port}:\n{log}")
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL the server (what a crash looks like) and reap it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
        if process is not None:
            process.wait(timeout=10)

    def flush(self) -> None:
        """Forget every key and every cached script."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\nSCRIPT FLUSH\r\n")
            got = b""
            while got.count(b"\r\n") < 2:
                got += sock.recv(64)


def redis_binary() -> str:
    """The path of ``redis-server``; fails in CI and skips elsewhere when it is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/services.sh should have installed it")
        pytest.skip(message)
    return binary
