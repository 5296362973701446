"""quantflow on a real local Ray cluster (`tests/ray_head.py`: a head on 127.0.0.1 with two worker CPUs).

Sharded evaluation, accuracy-aware candidates and zoo builds on Ray give exactly what the local executor
gives; a worker killed mid-task is retried; a path the workers cannot read is refused before anything is
written; Ctrl-C cancels the outstanding tasks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FAST_SPEED, ROOT, assert_user_error
from tests.e2e.test_zoo import second_config
from tests.ray_head import cluster_env, ray_cluster  # noqa: F401  (the fixture)

QUICK = ["--set", FAST_SPEED, "--set", "quantization.tflite={variants: [dynamic]}"]
NO_CACHE = ["--set", "evaluation.cache_dir=null"]  # the FP32 pass must run, not come from the cache
TIMED_FILES = {"README.md", "report.json", "report.md"}  # they hold speed figures and dates


def run_on(cluster: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quantflow", *args], cwd=cwd, env=cluster_env(cluster),
                          capture_output=True, text=True, timeout=1200)


def start_on(cluster: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "quantflow", *args], cwd=ROOT, env=cluster_env(cluster),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def entry_processes() -> dict[int, int]:
    """Running zoo entry processes: pid → parent pid."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"quantflow.zoo.entry" in (proc / "cmdline").read_bytes():
                found[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
    return found


def wait_for_entry(process: subprocess.Popen, timeout: float = 120) -> dict[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = entry_processes()
        if found:
            return found
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("no zoo entry process started")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ray_driver(ray_cluster: str):  # noqa: F811
    """This process as a driver of the test cluster (for the in-process checks), disconnected afterwards."""
    os.environ.update(cluster_env(ray_cluster))
    yield ray_cluster
    import ray

    ray.shutdown()


@pytest.mark.parametrize("config,images", [("ssd.yml", 60), ("segmentation.yml", 24), ("stereo.yml", 12),
                                           ("pose.yml", 20)])
def test_sharded_passes_give_the_single_process_rows_and_figures(ray_driver: str, config: str, images: int) -> None:
    """Rows and metric of a pass split into 3 uneven shards (and of two models at once) equal one local pass
    exactly: COCO matches, confusion matrices and error counts all come from the same rows in the same order."""
    from quantflow.config import load_config
    from quantflow.pipeline.sharded import ShardedPasses
    from quantflow.pipeline.workflow import Run, prepare_model

    cfg = load_config(ROOT / "configs" / config, [f"evaluation.max_images={images}", "executor.type=ray",
                                                  "executor.shards=6", "output=/nonexistent/out"])
    run = Run(cfg)
    s = run.stages
    model = prepare_model(cfg, s)
    ground_truth = s.dataset.ground_truth()
    local_session = s.metric.session(ground_truth, s.evaluation_ids)
    local = run.predict(model, s.evaluation_ids, "local pass", local_session)
    passes = ShardedPasses(cfg)
    sessions = [s.metric.session(ground_truth, s.evaluation_ids) for _ in range(2)]
    sharded = passes.predict_many([model, model], s.evaluation_ids, "sharded pass", s.dataset.row_width, sessions)
    expected = local_session.result()
    for predictions, session in zip(sharded, sessions):
        assert np.array_equal(predictions.rows, local.rows)
        assert predictions.sizes == local.sizes
        got = session.result()
        assert got.summary == expected.summary and got.breakdown == expected.breakdown


def test_quantize_on_ray_equals_local(ray_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    """The whole run with --executor ray: every figure of FP32 and INT8 and the INT8 model are the local run's."""
    config = str(ROOT / "configs" / "ssd.yml")
    common = ["--set", FAST_SPEED, *NO_CACHE, "--json"]
    local = run_on(ray_cluster, "quantize", "--config", config, "--set", f"output={tmp_path / 'local'}", *common)
    ray = run_on(ray_cluster, "quantize", "--config", config, "--set", f"output={tmp_path / 'ray'}", *common,
                 "--executor", "ray", "--ray-address", ray_cluster)
    assert local.returncode == 0 and ray.returncode == 0, local.stderr[-2000:] + ray.stderr[-2000:]
    assert "FP32 evaluation (" in ray.stderr and "Ray tasks)" in ray.stderr  # the passes did run on Ray
    reports = [json.loads((tmp_path / name / "report.json").read_text()) for name in ("local", "ray")]
    for precision in ("FP32", "INT8"):
        a, b = (r["results"][precision] for r in reports)
        assert a["metrics"] == b["metrics"] and a["breakdown"] == b["breakdown"] and a["results"] == b["results"]
    assert reports[0]["config_hash"] == reports[1]["config_hash"]  # where it ran is not part of the recipe
    assert sha256(tmp_path / "local/INT8/ssd-shapes.bin") == sha256(tmp_path / "ray/INT8/ssd-shapes.bin")


def test_accuracy_aware_search_on_ray_takes_the_local_path(ray_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    """Candidates scored as Ray tasks: the same candidates in the same order, ending at the same model with the
    same figures. Per-step scores are not compared: in one process OpenVINO's CPU plugin can compute a candidate
    differently after compiling others (the local side; seen on one step of this search), while every Ray task
    reads its candidate fresh. The batched judge itself takes the sequential path exactly
    (tests/unit/test_accuracy_search.py)."""
    config = str(ROOT / "configs" / "segmentation.yml")
    common = ["--set", FAST_SPEED, *NO_CACHE, "--set", "quantization.openvino.time_budget=null"]
    local = run_on(ray_cluster, "quantize", "--config", config, "--set", f"output={tmp_path / 'local'}", *common)
    ray = run_on(ray_cluster, "quantize", "--config", config, "--set", f"output={tmp_path / 'ray'}", *common,
                 "--executor", "ray", "--ray-address", ray_cluster)
    assert local.returncode == 0 and ray.returncode == 0, local.stderr[-2000:] + ray.stderr[-2000:]
    reports = [json.loads((tmp_path / name / "report.json").read_text()) for name in ("local", "ray")]
    together = [r["quantization"]["search"]["scored_together"] for r in reports]
    assert together[0] == [] and max(together[1]) > 1, together  # batches of candidates went to the cluster
    paths = [[(s["phase"], s["candidate"], s["base"]) for s in r["quantization"]["steps"]] for r in reports]
    assert len(paths[0]) > 3 and paths[0] == paths[1]
    for key in ("reverted", "target", "quantized_operations"):
        assert reports[0]["quantization"][key] == reports[1]["quantization"][key], key
    for precision in ("FP32", "INT8"):
        assert reports[0]["results"][precision]["metrics"] == reports[1]["results"][precision]["metrics"]
    name = reports[0]["model"]["name"]
    assert sha256(tmp_path / f"local/INT8/{name}.bin") == sha256(tmp_path / f"ray/INT8/{name}.bin")


def test_zoo_build_on_ray_equals_the_local_build(ray_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    """One task per entry, unpacked into the same layout by the driver: every model file, metric and verify
    figure of each manifest is the local build's; timings, dates and the host may differ."""
    configs = [str(ROOT / "configs" / "ssd.yml"), str(ROOT / "configs" / "classification.yml")]
    local = run_on(ray_cluster, "zoo", "build", *configs, "--zoo", str(tmp_path / "local"), "--jobs", "2", *QUICK)
    ray = run_on(ray_cluster, "zoo", "build", *configs, "--zoo", str(tmp_path / "ray"), *QUICK, "--executor", "ray",
                 "--cpus-per-entry", "1")
    assert local.returncode == 0 and ray.returncode == 0, local.stderr[-2000:] + ray.stderr[-2000:]
    assert ray.stdout.count(" on ") >= 2  # each outcome names the node that built it
    for entry in ("detection/ssd-shapes", "classification/shapes-classifier"):
        a, b = (json.loads((tmp_path / zoo / entry / "manifest.json").read_text()) for zoo in ("local", "ray"))
        for key in ("key", "config_hash", "config", "calibration", "metric", "quantization", "verify"):
            assert a[key] == b[key], (entry, key)
        assert {f: h for f, h in a["files"].items() if f not in TIMED_FILES} == \
               {f: h for f, h in b["files"].items() if f not in TIMED_FILES}
        for precision, figures in a["precisions"].items():
            other = b["precisions"][precision]
            assert (figures["metrics"], figures["quick_check"], figures["bytes"]) == \
                   (other["metrics"], other["quick_check"], other["bytes"])
        assert b["host"] in (tmp_path / "ray" / entry / "README.md").read_text()
        assert oct((tmp_path / "ray" / entry).stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    verify = run_on(ray_cluster, "zoo", "verify", str(tmp_path / "ray"))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_worker_killed_mid_entry_is_retried(ray_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    """SIGKILL to the Ray worker running an entry: its entry process dies with it, Ray runs the task again and
    the entry is built, and the outcome says it was retried."""
    process = start_on(ray_cluster, "zoo", "build", str(ROOT / "configs" / "classification.yml"), "--zoo",
                       str(tmp_path / "zoo"), *QUICK, "--executor", "ray", "--cpus-per-entry", "1")
    first = wait_for_entry(process)
    time.sleep(3)  # mid-task: the entry is quantizing
    for parent in set(first.values()):
        os.kill(parent, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-2000:]
    assert "retried once" in stdout, stdout
    assert not set(first) & set(entry_processes())  # the first attempt's process did not outlive its worker
    assert (tmp_path / "zoo" / "classification" / "shapes-classifier" / "manifest.json").is_file()


def test_ctrl_c_cancels_the_outstanding_tasks(ray_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    process = start_on(ray_cluster, "zoo", "build", str(ROOT / "configs" / "ssd.yml"),
                       str(ROOT / "configs" / "classification.yml"), "--zoo", str(tmp_path / "zoo"), *QUICK,
                       "--executor", "ray", "--cpus-per-entry", "1")
    wait_for_entry(process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    deadline = time.monotonic() + 30
    while entry_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not entry_processes()
    assert not (tmp_path / "zoo").exists() or sorted(p.name for p in (tmp_path / "zoo").iterdir()) == []


def test_a_path_the_workers_cannot_read_is_refused(ray_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    """The driver sees the data in a private mount (its own mount namespace); the cluster's nodes do not. One line
    names the input and the node, exit code 2, and no zoo folder is made."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("needs unshare -m (root) to give the driver a mount the workers do not have")
    private = tmp_path / "private"
    private.mkdir()
    config = second_config(tmp_path, annotations=private / "val.json")
    zoo = tmp_path / "zoo"
    script = (f'mount -t tmpfs tmpfs "{private}" && cp "{ROOT / "datasets/shapes/val.json"}" "{private}/" && '
              f'exec "{sys.executable}" -m quantflow zoo build "{config}" --zoo "{zoo}" --executor ray')
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, env=cluster_env(ray_cluster),
                            capture_output=True, text=True, timeout=300)
    assert_user_error(result, "dataset.annotations", "cannot read it", str(private / "val.json"))
    assert not zoo.exists()


def test_a_task_no_node_can_hold_is_refused(ray_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    result = run_on(ray_cluster, "zoo", "build", str(ROOT / "configs" / "ssd.yml"), "--zoo", str(tmp_path / "zoo"),
                    "--executor", "ray", "--cpus-per-entry", "64")
    assert_user_error(result, "--cpus-per-entry", "64 CPUs", "largest Ray node has 2 CPUs")
    assert not (tmp_path / "zoo").exists()
