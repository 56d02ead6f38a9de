"""The Function App's config file, as its app settings name it. Light to import: the app reads it at
start-up to decide which triggers to register, before anything else loads."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from relay.config import Config, load_config

APP_ROOT = Path(__file__).resolve().parents[2] # where function_app.py is, as deployed


def config_from_environment(environ: Mapping[str, str]) -> Config | None:
    """The config RELAY_CONFIG names, or None when it is not set. A relative path is read from the app's
    own folder, where a deployment puts the file, whatever the worker's working directory."""
    if not environ.get("RELAY_CONFIG"):
        return None
    return load_config(APP_ROOT / environ["RELAY_CONFIG"])
