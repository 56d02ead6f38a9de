"""The README's pictures of messages, taken from the demo's preview page.

Runs `relay demo` into a temporary folder, opens outbox/index.html?only=<message> in headless Chromium
(once to measure the message, once to photograph it) and writes:

  docs/images/teams-card.png      the database team's Teams card of the planned maintenance (Japanese)
  docs/images/manager-email.png   the managers' email of the planned maintenance, its Japanese part

Run it from the repository with the project's Python after any change to the messages:

  .venv/bin/python docs/images/capture.py
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = Path(__file__).resolve().parent
# picture name → the message in the demo's outbox (a glob under outbox/), and what else the page is asked
PICTURES = {
    "teams-card.png": ("db-team/*-XY12-3ZQ-*-Planned.json", ""),
    "manager-email.png": ("managers/*-XY12-3ZQ-*-Planned.eml", "&lang=ja"),
}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
PAGE_HEIGHT = re.compile(r'data-page-height="(\d+)"')


def installed_chromium() -> str:
    """The first Chromium on the PATH."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((found for name in names if (found := shutil.which(name))), "chromium")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chromium", default=installed_chromium(), help="the browser (default: %(default)s)")
    p.add_argument("--width", type=int, default=1000, help="page width in pixels (default: %(default)s)")
    p.add_argument("--out", type=Path, default=IMAGES, help="where the pictures go (default: docs/images)")
    return p.parse_args(argv)


def run_demo(outbox: Path) -> None:
    subprocess.run([sys.executable, "-m", "relay", "demo", "--outbox", str(outbox)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def chromium(args: argparse.Namespace, scratch: Path, height: int, *what: str) -> str:
    profile = tempfile.mkdtemp(dir=scratch)
    command = [args.chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={args.width},{height}",
               *what]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout


def capture(args: argparse.Namespace, scratch: Path, url: str, picture: Path) -> None:
    """The page at `url` photographed whole: measured first (the page writes its height), then taken."""
    found = PAGE_HEIGHT.search(chromium(args, scratch, 800, "--dump-dom", url))
    if found is None:
        raise SystemExit(f"{url}: the page did not say how tall it is")
    chromium(args, scratch, int(found.group(1)), f"--screenshot={picture}", url)
    print(f"{picture}: {args.width}x{found.group(1)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as temp:
        scratch = Path(temp)
        outbox = scratch / "outbox"
        run_demo(outbox)
        for name, (pattern, also) in PICTURES.items():
            message = next(outbox.glob(pattern), None)
            if message is None:
                raise SystemExit(f"the demo wrote no {pattern}")
            url = f"{(outbox / 'index.html').as_uri()}?only={message.relative_to(outbox).as_posix()}{also}"
            capture(args, scratch, url, args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
