"""A real local Ray cluster for the tests: `ray start --head` bound to 127.0.0.1 with two worker CPUs, in its own
temp folder, stopped (and its folder removed) when the tests are done.

RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps the node on 127.0.0.1: without it Ray on Linux moves the node to the
host's address and a driver that was given 127.0.0.1 waits forever.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CLUSTER_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _ray_or_skip() -> str:
    """The `ray` command, or a skip; on CI (env CI set) a missing Ray fails, as the test extra installs it."""
    ray = shutil.which("ray")
    if ray is None:
        reason = "Ray is needed: pip install 'quantflow[ray]'"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (the test extra installs it)")
        pytest.skip(reason)
    return ray


def cluster_env(address: str) -> dict[str, str]:
    """The environment a driver of this cluster runs in."""
    return {**os.environ, **CLUSTER_ENV, "RAY_ADDRESS": address}


@contextlib.contextmanager
def local_head(cpus: int = 2, ray: str = "ray") -> Iterator[str]:
    """A head node with `cpus` CPUs (what tasks are scheduled against) on 127.0.0.1; its address. `ray start
    --block` keeps every process of the node in one process group, so stopping it touches no other Ray."""
    temp = Path(tempfile.mkdtemp(prefix="qf-ray-"))
    head = subprocess.Popen([ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", "--port=0",
                             f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp}"], env={**os.environ, **CLUSTER_ENV}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        address_file = temp / "ray_current_cluster"
        deadline = time.monotonic() + 60
        while not address_file.is_file():
            assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.2)
        yield address_file.read_text().strip()
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # the node's daemons, if any outlived their parent
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address of a running head node with two worker CPUs, for the whole session."""
    with local_head(2, _ray_or_skip()) as address:
        yield address
