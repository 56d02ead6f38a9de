"""The config file as YAML: read as UTF-8, composed into nodes (they know each value's line) and built into
data, every failure a ConfigError that names the file and, where it can, the line.

YAML aliases (`*name`, and `<<: *name`) are refused where they appear, before anything is built: the config
never needs them, and a few lines of nested aliases ("billion laughs") expand to gigabytes.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from yaml.constructor import ConstructorError

from relay.config.checks import ConfigError, shown

ALIASES = "YAML aliases (*name) are not supported in the relay config; write the value out in each place"


class _AliasRefused(Exception):
    def __init__(self, mark: yaml.Mark):
        self.mark = mark


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused(self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        # PyYAML's own builders raise these, unmarked, for 2027-02-30, !!int x, !!bool x or a 5,000-digit number.
        except (ValueError, KeyError, AttributeError, TypeError):
            kind = node.tag.rsplit(":", 1)[-1]
            raise ConstructorError(None, None, f"YAML reads {shown(node.value)} as a {kind}, but it is not one;"
                                   " quote it to keep it as text", node.start_mark) from None


def read_document(path: Path) -> tuple[yaml.Node | None, object]:
    """(the document's node tree, its data); both None for an empty file."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: the file is not UTF-8 text (byte 0x{raw[e.start]:02X} on this line);"
                          " save it as UTF-8") from None
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:
        line = text[:e.position].count("\n") + 1
        raise ConfigError(f"{path}:{line}: not valid YAML: the character #x{e.character:04x} is not allowed in YAML;"
                          " remove it") from None
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    except _AliasRefused as e:
        raise ConfigError(f"{path}:{e.mark.line + 1}: {ALIASES}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML: {e.problem or e.context}") from None
    except RecursionError:
        raise ConfigError(f"{path}: the YAML is nested hundreds of levels deep; a config needs a few") from None
    finally:
        loader.dispose()
