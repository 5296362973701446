"""Every registry holds the built-ins, and every registered provider honours the provider contract."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from quantflow.core.adapter import ADAPTERS
from quantflow.core.decoder import DECODERS
from quantflow.core.errors import UserInputError
from quantflow.core.metric import METRICS
from quantflow.core.registry import Registry
from quantflow.preprocessing import STEPS
from quantflow.quantizers import QUANTIZERS

BUILT_INS = {
    "ADAPTERS": (ADAPTERS, {"coco_detection", "image_folder"}),
    "STEPS": (STEPS, {"resize", "color", "normalize", "layout", "dtype"}),
    "DECODERS": (DECODERS, {"ssd_raw", "tf_od_api", "detection_output"}),
    "METRICS": (METRICS, {"coco_ap"}),
    "QUANTIZERS": (QUANTIZERS, {"default"}),
}


def every_provider() -> list[tuple[str, str, type]]:
    """(registry, name, provider) for everything registered at import time."""
    return [(label, name, registry.get(name, "test"))
            for label, (registry, _) in BUILT_INS.items() for name in registry.names()]


@pytest.mark.parametrize("label", BUILT_INS)
def test_registry_holds_built_ins(label: str) -> None:
    registry, expected = BUILT_INS[label]
    assert expected <= set(registry.names())
    assert registry.names() == sorted(registry.names())
    for name in expected:
        assert name in registry


@pytest.mark.parametrize(("label", "name", "provider"), every_provider(),
                         ids=[f"{label}.{name}" for label, name, _ in every_provider()])
def test_provider_contract(label: str, name: str, provider: type) -> None:
    config = provider.__dict__.get("Config")
    assert isinstance(config, type) and issubclass(config, BaseModel), f"{name} lacks its own nested pydantic Config"
    assert (provider.__dict__.get("__doc__") or "").strip(), f"{name} has no docstring"
    assert config.model_fields, f"{name}.Config has no fields"
    for field_name, field in config.model_fields.items():
        assert field.annotation not in (None, Any), f"{name}.Config.{field_name} has no type annotation"
    annotated = {k for cls in config.__mro__ for k in getattr(cls, "__annotations__", {})}
    assert set(config.model_fields) <= annotated


def test_provider_configs_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        STEPS.get("layout", "x").Config(type="layout", order="nchw", colour="rgb")


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(UserInputError) as error:
        DECODERS.get("yolo", "decoder.type")
    message = str(error.value)
    assert message.startswith("decoder.type: unknown decoder 'yolo'; known: ")
    for name in ("detection_output", "ssd_raw", "tf_od_api"):
        assert name in message


def test_unknown_name_in_each_registry() -> None:
    for label, (registry, expected) in BUILT_INS.items():
        with pytest.raises(UserInputError, match=r"^where: unknown .* 'nope'; known: ") as error:
            registry.get("nope", "where")
        assert all(name in str(error.value) for name in expected), label


def test_empty_registry_says_none() -> None:
    with pytest.raises(UserInputError, match=r"^w: unknown widget 'a'; known: none$"):
        Registry("widget").get("a", "w")


def test_register_and_later_registration_wins(caplog) -> None:
    registry: Registry = Registry("widget")
    registry.register("a")(int)
    assert registry.get("a", "w") is int and "a" in registry and registry.names() == ["a"]
    registry.register("a")(float)
    assert registry.get("a", "w") is float
    assert "registered twice" in caplog.text
