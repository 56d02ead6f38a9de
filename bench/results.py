"""bench/RESULTS.md: the figures each benchmark printed last, one section a benchmark.

A benchmark run with --write-results replaces its own section of RESULTS.md, from its heading `## <name>`
up to the next `## ` heading, with the date (UTC), the command line and the lines the run printed (the
last JSON line left out). The other sections stay as they are; a section not in the file yet is added at
the end. Nothing is written when the run raised.

    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("pipeline", args.write_results):
        ...                         # print as usual; what reaches stdout is also kept
"""
from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")
ROOT = RESULTS.parent.parent


def add_option(parser) -> None:
    parser.add_argument("--write-results", action="store_true",
                        help="after the run, replace this benchmark's section of bench/RESULTS.md with the date, "
                             "this command and the lines printed")


def command_line(argv: list[str] | None = None) -> str:
    """The command as it was typed, with the script's path relative to the project root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    shown = script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT) else argv[0]
    return shlex.join(["python", shown, *argv[1:]])


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in the lines, so no line can close it."""
    longest = 0
    for line in lines:
        run = 0
        for char in line:
            run = run + 1 if char == "`" else 0
            longest = max(longest, run)
    return "`" * max(3, longest + 1)


def section(name: str, command: str, lines: list[str], today: str) -> list[str]:
    fence = _fence(lines)
    return [f"## {name}", "", f"{today} (UTC), `{command}`:", "", fence, *lines, fence, ""]


def write_section(name: str, command: str, lines: list[str], path: Path = RESULTS,
                  today: str | None = None) -> Path:
    """Replace the section `## <name>` of the results file (or add it at the end) and return the file's path."""
    today = today or datetime.now(UTC).strftime("%Y-%m-%d")
    old = path.read_text(encoding="utf-8").splitlines() if path.exists() else ["# Benchmark results", ""]
    start = end = None
    fence = None
    for i, line in enumerate(old):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            run = len(stripped) - len(stripped.lstrip(marker[0]))
            if fence is None:
                fence = marker[0] * run
            elif stripped.startswith(fence) and not stripped.lstrip(fence[0]):
                fence = None
            continue
        if fence is not None or not line.startswith("## "):
            continue
        if start is None and line[3:].strip() == name:
            start = i
        elif start is not None:
            end = i
            break
    new = section(name, command, [line.rstrip("\n") for line in lines], today)
    if start is None:
        while old and not old[-1].strip():
            old.pop()
        text = old + [""] + new
    else:
        text = old[:start] + new + old[end if end is not None else len(old):]
    while text and not text[-1].strip():
        text.pop()
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


class _Tee:
    """Writes go to the stream as before, and are kept."""

    def __init__(self, stream):
        self.stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def lines(self) -> list[str]:
        return "".join(self.parts).splitlines()


def human_lines(lines: list[str]) -> list[str]:
    """The printed lines without the last JSON line (every benchmark ends with one)."""
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    if lines:
        try:
            if isinstance(json.loads(lines[-1]), dict):
                lines.pop()
        except ValueError:
            pass
    return lines


@contextlib.contextmanager
def recorded(name: str, enabled: bool) -> Iterator[None]:
    """Keep what the block prints to stdout and, when enabled and the block did not raise, write it as the
    section `name` of RESULTS.md. The output itself is unchanged."""
    if not enabled:
        yield
        return
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        yield
    finally:
        sys.stdout = tee.stream
    path = write_section(name, command_line(), human_lines(tee.lines()))
    shown = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    print(f"{shown}: the {name} section is rewritten", file=sys.stderr, flush=True)
