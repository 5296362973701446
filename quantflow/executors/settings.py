"""The `executor:` section of a config (and the `--executor`/`--ray-address` options that set it)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from quantflow.core.config_base import StrictModel

ADDRESS_ENV = "RAY_ADDRESS"


class ExecutorConfig(StrictModel):
    type: Literal["local", "ray"] = Field(
        default="local", description="local: this machine; ray: evaluation passes and accuracy-aware candidates run "
        "as tasks on a Ray cluster (pip install quantflow[ray]); results equal the local run's.")
    address: str | None = Field(
        default=None, description="Ray cluster: host:port, ray://host:port or auto; unset: $RAY_ADDRESS, else a Ray "
        "instance started on this machine for the run.")
    cpus_per_task: int = Field(default=1, gt=0, description="CPUs each Ray task declares; OpenVINO runs that many "
                               "threads.")
    memory_gb: float | None = Field(default=None, gt=0, description="Memory each Ray task declares (GB).")
    shards: int | None = Field(default=None, gt=0, description="Ray tasks an evaluation pass is split into; unset: "
                               "the cluster's CPUs / cpus_per_task.")

    def ray_address(self) -> str | None:
        """The cluster to join: the config's, else RAY_ADDRESS's, else None (start one here)."""
        return self.address or os.environ.get(ADDRESS_ENV) or None
