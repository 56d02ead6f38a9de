"""Two tiers. A test is `integration` when it needs something outside its own process: a child process
(`relay` as a subprocess, Azurite, Node's card validator), a loopback server (the sinks, the ARM emulator,
`relay serve`), or time passing (`time.sleep`, `wait_for`). Everything else is the fast unit tier that
`make check` runs with `-m "not integration"`; `make test` runs both.

Nobody marks a test by hand: the mark follows from what the test's code reaches. The test function, the
fixtures it asks for and every helper of tests/ they call are read (their bytecode, not run), and a test
that reaches `subprocess`, a socket server class, aiosmtpd, aiohttp's web server or `time.sleep` is
marked. A guard keeps the rule honest: a test left in the fast tier that, while it is set up or run,
starts a process, binds, listens on or connects a network socket, or sleeps fails at once, saying so.
"""
from __future__ import annotations

import contextlib
import dis
import importlib
import inspect
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import types

import pytest
from hypothesis import settings

# No per-example deadline: a loaded CI machine must not turn a slow example into a failure.
# In CI, the same examples every run, so a result does not depend on the draw.
# `make check` (RELAY_HYPOTHESIS_PROFILE=check) runs every property with a tenth of its examples
# (tests/properties.py); `make test` and CI run them all.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None)
settings.register_profile("check", deadline=None)
PROFILE = os.environ.get("RELAY_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)

pytest_plugins = ["tests.logscan"]

# azure-identity reads platform.platform() when first imported, and Python answers it once per process by
# running `uname -p`: asked here, before any test, so that the guard below does not see it as the test's.
platform.platform()

INTEGRATION = "integration"  # registered in pyproject.toml

# What makes a test an integration test when its code reaches it: modules (everything defined in them or
# derived from their classes), and a few objects (a raw socket is a loopback server or a port to refuse).
SERVICE_MODULES = ("subprocess", "socketserver", "http.server", "aiosmtpd", "aiohttp.web", "relay.hosts.serve")
SERVICE_OBJECTS = (time.sleep, socket.socket, socket.create_connection, socket.create_server)
# A fixture parameter that needs a service the code asks for by name (request.getfixturevalue), so reading
# the code cannot tell, is marked by hand: pytest.param("tables", marks=pytest.mark.integration).


@pytest.fixture(scope="module")
def ca():
    """A certificate authority of the test's own, which the loopback sinks' TLS certificates come from."""
    from tests.sinks.server import TestCA

    return TestCA()


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marks
def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if not item.get_closest_marker(INTEGRATION) and needs_services(item):
            item.add_marker(INTEGRATION)


def pytest_report_header() -> str | None:
    if PROFILE == "check":
        return "hypothesis: each property runs a tenth of its examples (tests/properties.py); make test runs all"
    return None


def needs_services(item) -> bool:
    fixtures = [d.func for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs]
    return any(reaches_services(code) for code in [getattr(item, "function", None), *fixtures])


def reaches_services(obj, seen: set[int] | None = None) -> bool:
    """True when `obj`, or what its code refers to down through the helpers in tests/, is a service."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if is_service(obj):
        return True
    if not _in_tests(_module_name(obj)):  # the relay's own code and libraries are not followed
        return False
    return any(reaches_services(ref, seen) for ref in _referenced_by(obj))


def is_service(obj) -> bool:
    if any(obj is service for service in SERVICE_OBJECTS):
        return True
    classes = inspect.getmro(obj) if inspect.isclass(obj) else (obj,)
    return any(_under(_module_name(c), SERVICE_MODULES) for c in classes)


def _under(module: str, roots) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _in_tests(module: str) -> bool:
    return _under(module, ["tests"])


def _module_name(obj) -> str:
    return obj.__name__ if inspect.ismodule(obj) else str(getattr(obj, "__module__", None) or "")


_REFERENCES: dict[int, tuple] = {}  # id(obj) → (obj, what it refers to)


def _referenced_by(obj) -> tuple:
    if id(obj) not in _REFERENCES:
        _REFERENCES[id(obj)] = (obj, tuple(_references(obj)))  # obj kept: its id is not given to another
    return _REFERENCES[id(obj)][1]


def _references(obj):
    """What a function, or a class's methods, refer to."""
    if inspect.isclass(obj):
        yield from obj.__bases__
        for member in vars(obj).values():
            member = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if inspect.isfunction(member):
                yield from _references(member)
        return
    function = getattr(getattr(obj, "hypothesis", None), "inner_test", None) or inspect.unwrap(obj)
    if inspect.isfunction(function):
        yield from _names_in(function.__code__, function.__globals__)


def _names_in(code: types.CodeType, namespace: dict):
    """The objects a code object loads: globals, attributes of modules (`time.sleep`, `f.make_vm`), imports."""
    previous = imported = None
    for instruction in dis.get_instructions(code):
        found, name = None, instruction.argval
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            found = namespace.get(name)
        elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD") and inspect.ismodule(previous):
            found = getattr(previous, name, None)
        elif instruction.opname == "IMPORT_NAME":  # an import inside the function
            found = imported = _import(name)
        elif instruction.opname == "IMPORT_FROM" and imported is not None:
            found = getattr(imported, name, None)
        if found is not None:
            yield found
        previous = found
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):  # nested functions, lambdas, comprehensions
            yield from _names_in(constant, namespace)


def _import(name: str):
    if _in_tests(name) or _under(name, SERVICE_MODULES):
        return importlib.import_module(name)
    return sys.modules.get(name)  # anything else matters only if it is loaded already (time, for time.sleep)


# -- the guard: what a fast test must not do, on the thread that runs it


class NeedsIntegrationTier(AssertionError):
    pass


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _guarded(item):
        return (yield)


@contextlib.contextmanager
def _guarded(item):
    if item.get_closest_marker(INTEGRATION):
        yield
        return
    test_thread = threading.get_ident()

    def refusing(what: str, original, applies=lambda *args, **kwargs: True):
        def refuse(*args, **kwargs):
            if threading.get_ident() == test_thread and applies(*args, **kwargs):
                raise NeedsIntegrationTier(
                    f"{item.nodeid} {what}, which a test of the fast tier may not do. tests/conftest.py marks a "
                    f"test `integration` by what its code reaches: call it where the rules can see it (not through "
                    f"getattr or an import by name), or extend the rules")
            return original(*args, **kwargs)
        return refuse

    def inet(sock, *args, **kwargs) -> bool:
        return sock.family in (socket.AF_INET, socket.AF_INET6)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", refusing("starts a process", subprocess.Popen.__init__))
        patch.setattr(os, "system", refusing("starts a process", os.system))
        patch.setattr(os, "fork", refusing("forks", os.fork))
        for method in ("bind", "listen", "connect", "connect_ex"):
            patch.setattr(socket.socket, method,
                          refusing(f"uses a network socket ({method})", getattr(socket.socket, method), inet))
        patch.setattr(time, "sleep", refusing("sleeps", time.sleep, lambda seconds: seconds > 0))
        yield
