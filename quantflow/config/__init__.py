"""The config: its schema (`schema`) and how a YAML file becomes one (`loader`)."""

from quantflow.config.loader import format_validation_error, load_config, parse_yaml
from quantflow.config.schema import Config

__all__ = ["Config", "format_validation_error", "load_config", "parse_yaml"]
