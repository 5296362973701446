"""Joining a Ray cluster and the driver's side of its tasks: declared resources checked before anything is
submitted, input paths probed on every node, progress relayed from the workers, outstanding tasks cancelled
when the driver is interrupted.

Ray is imported only here and in the modules that run on it, and only when `executor: ray` is chosen.
quantflow's own code is shipped with the job (Ray's `py_modules`); OpenVINO, NNCF and the rest must be
installed on the nodes. Inputs (configs, models, data) are read where they are: every node must see them at the
same absolute path (shared storage: NFS, a mounted bucket, a volume in every pod). Results come back to the
driver through Ray's object store, so outputs need no shared storage.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import quantflow
from quantflow.core.errors import UserInputError, shown
from quantflow.executors.settings import ExecutorConfig

POLL_S = 0.25
CONNECT_TIMEOUT_S = 10


def ray_module():
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserInputError("executor ray: Ray is not installed; pip install 'quantflow[ray]'") from None
    return ray


def connect(settings: ExecutorConfig) -> None:
    """Join the cluster once per process (or start a Ray instance on this machine when no address is given),
    shipping quantflow's code with the job. Ray's own logs reach the terminal only with -v."""
    address = settings.ray_address()
    if address is not None:
        _check_reachable(address)  # before Ray is imported: it reads its settings from the environment then
    ray = ray_module()
    if ray.is_initialized():
        return
    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
    if not verbose:  # Ray warns about its own setup (token auth on a local instance): not the user's business
        logging.getLogger("ray").setLevel(logging.ERROR)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose,
                               "logging_level": logging.DEBUG if verbose else logging.WARNING,
                               "runtime_env": {"py_modules": [str(Path(quantflow.__file__).parent)],
                                               "excludes": ["__pycache__"]}}
    if address is None:
        options["num_cpus"] = os.cpu_count()
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UserInputError(f"executor.address: cannot join the Ray cluster at {shown(address)}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _check_reachable(address: str) -> None:
    """Ray keeps retrying an address where nothing listens: find that out in seconds instead."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not port.isdigit():
        return
    if host in ("localhost", "127.0.0.1"):  # else Ray swaps in this host's outward address and waits forever
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UserInputError(f"executor.address: no Ray cluster answers at {shown(address)} "
                             f"({exc.strerror or exc}); start one with `ray start --head` or fix the address") from None


def alive_nodes() -> list[dict]:
    return [node for node in ray_module().nodes() if node.get("Alive")]


def task_resources(cpus: int, memory_gb: float | None) -> dict[str, int]:
    """What a task declares, as Ray's `options` take it (memory in bytes)."""
    return {"num_cpus": cpus, **({"memory": int(memory_gb * 1e9)} if memory_gb else {})}


def check_resources(cpus: int, memory_gb: float | None, what: str) -> None:
    """A task no node can hold would wait forever: refuse it before submitting."""
    nodes = alive_nodes()
    memory = (memory_gb or 0) * 1e9
    if not any(n["Resources"].get("CPU", 0) >= cpus and n["Resources"].get("memory", 0) >= memory for n in nodes):
        largest = max(nodes, key=lambda n: n["Resources"].get("CPU", 0), default={"Resources": {}})["Resources"]
        asked = f"{cpus} CPUs" + (f" and {memory_gb:g} GB" if memory_gb else "")
        raise UserInputError(f"{what}: a task asks for {asked}, but the largest Ray node has "
                             f"{largest.get('CPU', 0):g} CPUs and {largest.get('memory', 0) / 1e9:.1f} GB")


def _unreadable(paths: list[tuple[str, str, int | None]]) -> tuple[str, str] | None:
    """On a node: the first path (key, what is wrong) it cannot read as the driver does, or None."""
    for key, path, size in paths:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as handle:
                    handle.read(1)
                if size is not None and os.path.getsize(path) != size:
                    return key, f"{path} has {os.path.getsize(path)} bytes there, {size} here"
        except OSError as exc:
            return key, f"{path}: {exc.strerror or exc}"
    return None


def probe_paths(paths: Iterable[tuple[str, Path]]) -> None:
    """Refuse, with one line, when any node of the cluster cannot read an input (key, path) at the path the
    driver uses."""
    ray = ray_module()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    listed = [(key, str(path.resolve()), path.stat().st_size if path.is_file() else None)
              for key, path in paths]
    probe = ray.remote(num_cpus=0, max_retries=0)(_unreadable)
    refs = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
            .remote(listed): node for node in alive_nodes()}
    for ref, node in refs.items():
        problem = ray.get(ref)
        if problem:
            key, reason = problem
            raise UserInputError(f"{key}: the Ray node {node.get('NodeManagerHostname', node['NodeID'])} "
                                 f"({node.get('NodeManagerAddress', '?')}) cannot read it: {reason}; inputs must "
                                 f"be on storage every node mounts at the same path")


class _Board:
    """An actor the tasks post their progress to and the driver takes it from."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def post(self, key: str, text: str) -> None:
        self.items.append((key, text))

    def take(self) -> list[tuple[str, str]]:
        items, self.items = self.items, []
        return items


def progress_board():
    """A new board (an actor with no CPU of its own)."""
    return ray_module().remote(num_cpus=0)(_Board).remote()


def gather(refs: Mapping[Any, Any], on_done: Callable[[Any, Any], None], board=None,
           on_progress: Callable[[str, str], None] = lambda key, text: None) -> None:
    """Wait for every task (ref → key), calling `on_done(key, result)` as each ends (a Ray error as the result
    when it failed) and relaying the board's progress; on any exception (Ctrl-C) the outstanding tasks are
    cancelled, their processes killed, before it propagates."""
    ray = ray_module()
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
            if board is not None:
                for key, text in ray.get(board.take.remote()):
                    on_progress(key, text)
            for ref in ready:
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    value = exc
                on_done(refs[ref], value)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
