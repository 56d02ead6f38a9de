"""The Function App's config file, as its app settings name it. Light to import: the app reads it at
start-up to decide which triggers to register, before anything else loads."""
from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from .config import Config, load_config

APP_ROOT = Path(__file__).resolve().parent.parent  # where function_app.py is, as deployed


def config_from_environment(environ: Mapping[str, str]) -> Config | None:
    """The config RELAY_CONFIG names, or None when it is not set. A relative path is read from the app's
    own folder, where a deployment puts the file, whatever the worker's working directory."""
    if not environ.get("RELAY_CONFIG"):
        return None
    return _load(APP_ROOT / environ["RELAY_CONFIG"])


@functools.cache
def _load(path: Path) -> Config:
    # Read once a process: the app decides which triggers to register from it, and each trigger's relay is
    # built from it again. A deployment that changes the file restarts the app.
    return load_config(path)
