"""PyTorch sources (TorchScript, torch.export, python: factories) become OpenVINO models that compute what
torch computes, with inputs and outputs named from the config; broken ones are refused with one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from quantflow.backends.openvino.runner import compile_exact
from quantflow.backends.openvino.sources import load_model, output_infos, source_format
from quantflow.config.schema import ModelConfig
from quantflow.core.errors import UserInputError

pytestmark = pytest.mark.slow  # each test converts in a worker process that imports torch (5-20 s)

NET = textwrap.dedent('''
    import torch
    from torch import nn


    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.mask = nn.Conv2d(8, 1, 1)
            self.score = nn.Linear(8, 4)

        def forward(self, x):
            h = self.body(x)
            return torch.sigmoid(self.mask(h)), self.score(h.mean((2, 3)))


    def build():
        torch.manual_seed(0)
        net = TwoHeads()
        net.body[1].running_mean.uniform_(-0.5, 0.5)
        return net
''')
INPUT = np.random.default_rng(2).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)


def model_config(tmp_path: Path, source: str, **extra) -> ModelConfig:
    return ModelConfig.model_validate({"name": "net", "source": source, **extra}, context={"base_dir": tmp_path})


EXPORT = textwrap.dedent('''
    import sys

    import numpy as np
    import torch
    from two_heads import build

    folder = sys.argv[1]
    net = build().eval()
    x = torch.from_numpy(np.load(f"{folder}/input.npy"))
    with torch.no_grad():
        np.savez(f"{folder}/reference.npz", *[t.numpy() for t in net(x)])
    torch.jit.save(torch.jit.trace(net, (x,)), f"{folder}/net.pt")
    torch.export.save(torch.export.export(net, (x,)), f"{folder}/net.pt2")
    torch.save(net.state_dict(), f"{folder}/weights.pt")
''')


@pytest.fixture()
def package(tmp_path: Path) -> tuple[list[np.ndarray], str]:
    """A package beside the config holding the net's code (named after the test: one process imports each
    package once), the net saved by torch in a process of its own (torch.export crashes where TensorFlow is
    loaded, as it is in this one), and torch's outputs."""
    folder = tmp_path / f"nets_{tmp_path.name}"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "two_heads.py").write_text(NET)
    np.save(tmp_path / "input.npy", INPUT)
    subprocess.run([sys.executable, "-c", EXPORT, str(tmp_path)], cwd=folder, check=True, capture_output=True)
    with np.load(tmp_path / "reference.npz") as saved:
        reference = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    return reference, folder.name


def outputs_of(model) -> list[np.ndarray]:
    compiled = compile_exact(model, "CPU")
    result = compiled(INPUT)
    return [result[port] for port in compiled.outputs]


def test_torchscript_and_torch_export_equal_torch(tmp_path: Path, package) -> None:
    reference, _ = package
    scripted = load_model(model_config(tmp_path, "net.pt", inputs={"image": [1, 3, 16, 16]},
                                       outputs=["mask", "scores"]))
    assert [sorted(o.names) for o in output_infos(scripted)] == [["mask"], ["scores"]]
    assert scripted.inputs[0].get_any_name() == "image"
    exported = load_model(model_config(tmp_path, "net.pt2"))
    for model in (scripted, exported):
        for got, want in zip(outputs_of(model), reference):
            np.testing.assert_allclose(got, want, atol=1e-5)
    assert source_format(tmp_path / "net.pt2") == "torch.export"


def test_python_factory_equals_torch(tmp_path: Path, package) -> None:
    reference, nets = package
    config = model_config(tmp_path, f"python:{nets}.two_heads:build", inputs={"x": [1, 3, 16, 16]})
    assert config.source == (tmp_path / nets / "two_heads.py").resolve()
    assert config.factory == f"{nets}.two_heads:build"
    for got, want in zip(outputs_of(load_model(config)), reference):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_broken_pytorch_sources_are_refused(tmp_path: Path, package) -> None:
    _, nets = package
    with pytest.raises(ValueError, match=f"python:{nets}.missing: no such Python module"):
        model_config(tmp_path, f"python:{nets}.missing:build")
    with pytest.raises(ValueError, match="expected python:package.module:factory"):
        model_config(tmp_path, f"python:{nets}.two_heads")
    (tmp_path / nets / "broken.py").write_text("import not_installed_anywhere\n\ndef build():\n    pass\n")
    with pytest.raises(UserInputError, match=f"python:{nets}.broken:build failed: ModuleNotFoundError: No module named "
                                             "'not_installed_anywhere'"):
        load_model(model_config(tmp_path, f"python:{nets}.broken:build", inputs={"x": [1, 3, 16, 16]}))
    (tmp_path / nets / "wrong.py").write_text("def build():\n    return 42\n")
    with pytest.raises(UserInputError, match="returned int, expected a torch.nn.Module"):
        load_model(model_config(tmp_path, f"python:{nets}.wrong:build", inputs={"x": [1, 3, 16, 16]}))
    with pytest.raises(UserInputError, match="the module has no function absent"):
        load_model(model_config(tmp_path, f"python:{nets}.wrong:absent", inputs={"x": [1, 3, 16, 16]}))
    with pytest.raises(UserInputError, match="model.inputs: a python factory needs its input shapes"):
        load_model(model_config(tmp_path, f"python:{nets}.two_heads:build"))
    with pytest.raises(UserInputError, match="weights.pt is not a TorchScript archive"):
        load_model(model_config(tmp_path, "weights.pt", inputs={"x": [1, 3, 16, 16]}))
    with pytest.raises(UserInputError, match="model.outputs: names 1 outputs, the PyTorch model has 2"):
        load_model(model_config(tmp_path, "net.pt", inputs={"x": [1, 3, 16, 16]}, outputs=["only"]))
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(UserInputError, match="junk.pt2 is not a torch.export archive"):
        load_model(model_config(tmp_path, "junk.pt2"))
