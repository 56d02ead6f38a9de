"""The shape of relay/, read from its imports with `ast` (nothing is imported): no import cycle, the wiring
only in the composition roots, nobody else's private names, and dependencies that point one way, down the
layers of the map in relay/__init__.py (LAYERS below).

Every import counts, at module level, inside a function or under TYPE_CHECKING: a lazy import is still a
dependency. An import by name (importlib) is not seen. Each rule is one function over the parsed imports;
the tests at the end show each rule failing on a small made-up tree.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import from its own layer and the ones before it, never from a later one.
# A module belongs to the layer of the longest prefix that names it (relay.agent.wire is a wire format,
# the rest of relay.agent a job on the pipeline; relay.calendar.feed a job, the rest of relay.calendar a stage).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("relay.model", "relay.text", "relay.runtime")),
    ("wire formats", ("relay.alerts", "relay.agent.wire")),
    ("routing", ("relay.routing",)),  # the routing tree and filters: what relay.config parses the YAML into
    ("config", ("relay.config",)),
    ("stages", ("relay.enrich", "relay.render", "relay.calendar", "relay.hold", "relay.remind.due")),
    ("notices", ("relay.notices",)),
    ("ports", ("relay.channels", "relay.store", "relay.inbox")),
    ("pipeline", ("relay.pipeline",)),
    ("jobs", ("relay.digest", "relay.backfill", "relay.maintain", "relay.provision", "relay.auth", "relay.agent",
              "relay.calendar.feed", "relay.remind", "relay.hold.release")),  # the calendar's entries are a stage;
    # its feed reads the ledger. Which deliveries wait and which reminder is due are stages; sending them, jobs.
    ("hosts", ("relay.hosts",)),
    ("cli", ("relay.cli", "relay.__main__")),
]

WIRING = "relay.hosts.wiring"
COMPOSITION_ROOTS = ("relay.hosts.function", "relay.cli")


@dataclass(frozen=True)
class Import:
    importer: str
    module: str  # relay.x.y for `from relay.x import y` when y is a module, else relay.x
    name: str | None  # the y of `from relay.x import y`; None for `import relay.x`
    line: int


def sources_in(root: Path) -> dict[str, str]:
    """Module name → source, for relay/, handlers/ and function_app.py; a package is its __init__.py."""
    files = [*(root / "relay").rglob("*.py"), *(root / "handlers").rglob("*.py"), root / "function_app.py"]
    sources = {}
    for path in files:
        parts = path.relative_to(root).with_suffix("").parts
        sources[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path.read_text(encoding="utf-8")
    return sources


def imports_in(sources: dict[str, str]) -> list[Import]:
    """Every import of one of `sources` by another, wherever it is written."""
    found = []
    for importer, source in sorted(sources.items()):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found += [Import(importer, target, None, node.lineno)
                          for alias in node.names if (target := _known(alias.name, sources))]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, importer, sources)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    target = submodule if submodule in sources else _known(base, sources)
                    if target:
                        found.append(Import(importer, target, alias.name, node.lineno))
    return found


def _known(name: str, sources) -> str | None:
    """The longest leading part of a dotted name that is one of ours: relay.x for `import relay.x.y` when
    relay.x.y is no module; None for anything else (the standard library, the SDKs)."""
    while name and name not in sources:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(node: ast.ImportFrom, importer: str, sources) -> str:
    if not node.level:
        return node.module or ""
    is_package = any(other.startswith(importer + ".") for other in sources)
    package = importer if is_package else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _in(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _relay(imports: list[Import]) -> list[Import]:
    """The imports of relay by relay, each dependency once and a module's import of itself left out."""
    return [i for i in imports if _in(i.importer, ["relay"]) and _in(i.module, ["relay"]) and i.importer != i.module]


# -- the rules: each returns what breaks it, in words


def cycles(imports: list[Import]) -> list[str]:
    """Chains of imports that come back to where they started: a → b → a."""
    graph: dict[str, set[str]] = {}
    for i in _relay(imports):
        graph.setdefault(i.importer, set()).add(i.module)
    found, done, path = [], set(), []

    def visit(module: str) -> None:
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if target in path:
                found.append(" → ".join(path[path.index(target):] + [target]))
            elif target not in done:
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return found


def wiring_outside_the_roots(imports: list[Import]) -> list[str]:
    return [f"{i.importer} imports {WIRING} (line {i.line})" for i in _relay(imports)
            if i.module == WIRING and not _in(i.importer, COMPOSITION_ROOTS)]


def private_names(imports: list[Import]) -> list[str]:
    """`from relay.x import _name`, in relay/, handlers/ and function_app.py (names of other packages aside)."""
    return [f"{i.importer} imports {i.name} from {i.module} (line {i.line})" for i in imports
            if i.name and i.name.startswith("_") and not i.name.startswith("__")]


def layer_of(module: str) -> int | None:
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS)
               for prefix in prefixes if _in(module, [prefix])]
    return max(matches)[1] if matches else None


def without_a_layer(sources: dict[str, str]) -> list[str]:
    return sorted(m for m in sources if _in(m, ["relay"]) and m != "relay" and layer_of(m) is None)


def upward_imports(imports: list[Import]) -> list[str]:
    found = []
    for i in _relay(imports):
        low, high = layer_of(i.importer), layer_of(i.module)
        if low is not None and high is not None and high > low:
            found.append(f"{i.importer} ({LAYERS[low][0]}) imports {i.module} ({LAYERS[high][0]}), line {i.line}")
    return found


# -- the relay as it is

SOURCES = sources_in(ROOT)
IMPORTS = imports_in(SOURCES)


def test_the_tree_is_read():
    assert {"relay.pipeline", "relay.render", "relay.render.teams", WIRING, "handlers", "function_app"} <= set(SOURCES)
    assert any(i.importer == "relay.pipeline" and (i.module, i.name) == ("relay.render", "render") for i in IMPORTS)


def test_no_import_cycles():
    found = cycles(IMPORTS)
    assert found == [], "import cycles:\n" + "\n".join(found)


def test_only_the_composition_roots_import_the_wiring():
    found = wiring_outside_the_roots(IMPORTS)
    assert found == [], f"only {', '.join(COMPOSITION_ROOTS)} may import the wiring:\n" + "\n".join(found)


def test_no_module_imports_another_ones_private_name():
    found = private_names(IMPORTS)
    assert found == [], "private names imported:\n" + "\n".join(found)


def test_every_relay_module_has_a_layer():
    assert without_a_layer(SOURCES) == []


def test_imports_point_down_the_layers():
    found = upward_imports(IMPORTS)
    assert found == [], "imports from a later layer:\n" + "\n".join(found)


# -- each rule can fail: made-up trees


def test_a_cycle_is_shown_as_a_chain_even_through_an_import_inside_a_function():
    tree = {"relay.a": "from relay.b import thing\n",
            "relay.b": "def later():\n    import relay.c.d\n",
            "relay.c": "", "relay.c.d": "from relay import a\n"}
    assert cycles(imports_in(tree)) == ["relay.a → relay.b → relay.c.d → relay.a"]


def test_a_package_may_import_its_submodule_but_not_the_other_way_round_too():
    package = {"relay.render": "from relay.render.teams import card\n", "relay.render.teams": "card = 1\n"}
    assert cycles(imports_in(package)) == []
    for back in ("from relay.render import budget\n", "from . import budget\n", "import relay.render\n"):
        tree = package | {"relay.render.teams": back}
        assert cycles(imports_in(tree)) == ["relay.render → relay.render.teams → relay.render"], back


def test_the_wiring_imported_anywhere_but_a_root_is_reported():
    tree = {WIRING: "", "relay.hosts": "",
            "relay.hosts.function": "def relay():\n    from relay.hosts.wiring import function_relay\n",
            "relay.cli": "", "relay.cli.process": "from relay.hosts import wiring\n",
            "relay.hosts.serve": "from relay.hosts.wiring import Paths\n",
            "relay.pipeline": "def f():\n    import relay.hosts.wiring\n"}
    assert wiring_outside_the_roots(imports_in(tree)) == [
        f"relay.hosts.serve imports {WIRING} (line 1)", f"relay.pipeline imports {WIRING} (line 2)"]


def test_a_private_name_is_reported_wherever_it_is_imported():
    tree = {"relay.text": "_hidden = 1\nshown = 2\n", "relay.render": "", "relay.render.view": "",
            "relay.render.teams": "from relay.text import shown, __doc__\nfrom relay.render.view import _rows\n",
            "handlers.ingest": "def f():\n    from relay.text import _hidden\n"}
    assert private_names(imports_in(tree)) == [
        "handlers.ingest imports _hidden from relay.text (line 2)",
        "relay.render.teams imports _rows from relay.render.view (line 2)"]


def test_an_import_from_a_later_layer_and_a_module_without_one_are_reported():
    tree = {"relay.model": "def f():\n    from relay.pipeline import Relay\n",
            "relay.pipeline": "from relay.model import Event\n", "relay.hosts": "", "relay.hosts.queue": "",
            "relay.enrich": "from relay.hosts.queue import relay_once\nfrom relay.config import load\n",
            "relay.config": "", "relay.gadgets": ""}
    assert upward_imports(imports_in(tree)) == [
        "relay.enrich (stages) imports relay.hosts.queue (hosts), line 1",
        "relay.model (base) imports relay.pipeline (pipeline), line 2"]
    assert without_a_layer(tree) == ["relay.gadgets"]
