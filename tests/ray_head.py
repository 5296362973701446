"""A real local Ray cluster for the tests: `ray start --head` bound to 127.0.0.1 with two worker CPUs, in its own
temp folder, stopped (and its folder removed) when the tests are done.

RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps the node on 127.0.0.1: without it Ray on Linux moves the node to the
host's address and a driver that was given 127.0.0.1 waits forever.
"""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address of a running head node with 2 CPUs (num-cpus is what tasks are scheduled against)."""
    ray = _ray_or_skip()
    temp = Path(tempfile.mkdtemp(prefix="qf-ray-"))
    env = {**os.environ, **CLUSTER_ENV}
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", "--port=0", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                   env=env, check=True, capture_output=True, text=True, timeout=120)
    try:
        address_file = temp / "ray_current_cluster"
        deadline = time.monotonic() + 30
        while not address_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield address_file.read_text().strip()
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
