"""Offline checks of the Bicep under infra/: every file parses (pycep-parser), and checkov's Bicep checks
pass, each skip carrying its reason. Needs requirements-infra.txt (`make infra-check` installs it).

No network: checkov runs with --skip-download and BC_SKIP_MAPPING=TRUE (no platform policy download)
and CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE (no version check), and without an API key. Exit 0 when clean.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parent
SKIP = re.compile(r"checkov:skip=([A-Za-z0-9_]+)(:\s*(\S.*))?")


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def parse_all(files: list[Path]) -> list[str]:
    from pycep import BicepParser

    problems = []
    for path in files:
        try:
            BicepParser(add_line_numbers=True).parse(text=path.read_text(encoding="utf-8"))
        except Exception as error:  # lark raises several kinds; each one is a file that does not parse
            first = str(error).strip().splitlines()[0]
            problems.append(f"{path.relative_to(INFRA.parent)}: does not parse: {first}")
    return problems


def skips_without_reason(files: list[Path]) -> list[str]:
    problems = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = SKIP.search(line)
            if match and not match.group(3):
                problems.append(f"{path.relative_to(INFRA.parent)}:{number}: {match.group(1)} is skipped without a reason")
    return problems


def parameters_file() -> list[str]:
    try:
        json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"infra/main.parameters.json: {error}"]
    return []


def checkov() -> int:
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE", CKV_PARSE_ERROR_FAIL="TRUE")
    for name in ("BC_API_KEY", "PRISMA_API_URL", "BC_API_URL"):
        env.pop(name, None)
    command = [str(Path(sys.executable).with_name("checkov")), "--directory", str(INFRA), "--framework", "bicep",
               "--skip-download", "--compact", "--quiet"]
    return subprocess.run(command, env=env).returncode


def main() -> int:
    files = bicep_files()
    problems = parse_all(files) + skips_without_reason(files) + parameters_file()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"infra: {len(files)} Bicep files parsed, {len(problems)} problems")
    status = checkov()
    if status:
        print(f"checkov failed (exit {status})", file=sys.stderr)
    return 1 if problems or status else 0


if __name__ == "__main__":
    sys.exit(main())
