"""Frozen, typed configs: YAML only at the edge, unknown keys are errors."""

from recsys.config.loader import apply_overrides, from_dict, load_yaml, parse_set_args

__all__ = ["apply_overrides", "from_dict", "load_yaml", "parse_set_args"]
