"""`relay teams-app`: the Teams app package (manifest.json, color.png, outline.png in a .zip) that installs the
relay's bot in a team. The icons are drawn here (a white gear) and written as PNG with zlib: no imaging library.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import re
import struct
import sys
import uuid
import zipfile
import zlib
from pathlib import Path

from relay.cli.common import EXIT_BAD_INPUT, EXIT_OK

MANIFEST_VERSION = "1.17"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
# The app id of a bot id: the same bot always gets the same app, so a package made again updates the app in
# Teams instead of adding a second one.
APP_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:azure-maintenance-relay:teams-app")
COLOR_SIZE, OUTLINE_SIZE = 192, 32  # the color icon's symbol sits in its middle 96x96, 48 px from each side
WHITE = (255, 255, 255)

DEFAULT_NAME = "Maintenance Relay"
DEFAULT_FULL_NAME = "Azure Maintenance Relay"
DEFAULT_SHORT = "Azure maintenance, incidents and VM health, posted to your team's channel"
DEFAULT_FULL = (
    "Posts Azure planned maintenance, service incidents and VM health alerts to this team's channel as cards, with "
    "the affected VMs and every time in JST (UTC beside). News of an event goes into its thread, and its first card "
    "is kept up to date; buttons on a card act on the event.\n"
    "Azure の計画メンテナンス、サービス障害、VM の正常性アラートを、影響を受ける VM と日本時間 (UTC 併記) の日時を添えて"
    "このチームのチャネルにカードで投稿します。続報は各イベントのスレッドに返信し、最初のカードを最新の状態に更新します。"
)
DEFAULT_DEVELOPER = "Azure Maintenance Relay"
DEFAULT_COLOR = "#0E6E8C"

# What the manifest schema (v1.17) and the Teams app package rules allow.
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
SEMVER = re.compile(r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)")
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
HTTPS_URL = re.compile(r"https://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?", re.IGNORECASE)
LIMITS = {"name": 30, "full_name": 100, "short_description": 80, "full_description": 4000, "developer_name": 32,
          "url": 2048, "version": 256}

DESCRIPTION = f"""\
Writes the Teams app package that installs the relay's bot in a team: a .zip holding manifest.json
(app manifest v{MANIFEST_VERSION}: one bot, team scope, no files), color.png (192x192, a white gear on
--accent-color) and outline.png (32x32, the same gear in white on a transparent background).

--bot-id is the bot's Microsoft App ID: the TEAMS_BOT_ID output of `azd provision` with teamsBot on
(`azd env get-value TEAMS_BOT_ID`): the relay's managed identity's client id, or the app registration's
client id. The app's own id is derived from it (the same bot always gets the same app id, so a new
version of the package updates the app already in Teams instead of adding another) unless --app-id
gives one.

Teams shows the website, privacy and terms pages in the app's details, and the manifest must have all
three, as https URLs: --website-url (an intranet page on the relay will do) is needed, and the other two
default to it. Limits: --name 30 characters, --full-name 100, --short-description 80,
--full-description 4000, --developer-name 32; --version is major.minor.patch, raised for each new
package of the same app. Anything out of bounds is refused, saying why (exit 2).

Then, in Teams: Apps > Manage your apps > Upload an app > Upload a custom app, choose the .zip and add
it to the team whose channel the bot posts to (uploading custom apps must be allowed in the tenant)."""

EPILOG = """\
examples:
  relay teams-app --bot-id "$(azd env get-value TEAMS_BOT_ID)" --website-url https://wiki.contoso.com/relay
  relay teams-app --bot-id 0a1b2c3d-1111-2222-3333-444455556666 --website-url https://wiki.contoso.com/relay \\
      --privacy-url https://contoso.com/privacy --terms-url https://contoso.com/terms \\
      --developer-name "Contoso Platform Team" --version 1.0.1 --out relay-teams-app.zip"""


def register(command) -> None:
    p = command("teams-app", help="write the Teams app package (.zip) that installs the relay's bot in a team",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bot-id", required=True, metavar="GUID",
                   help="the bot's Microsoft App ID (azd output TEAMS_BOT_ID)")
    p.add_argument("--app-id", metavar="GUID", help="the Teams app's id; default: derived from --bot-id")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"the app's name in Teams (default {DEFAULT_NAME!r})")
    p.add_argument("--full-name", metavar="NAME", help="its full name; default: --name, or "
                                       f"{DEFAULT_FULL_NAME!r} with the default --name")
    p.add_argument("--short-description", default=DEFAULT_SHORT, metavar="TEXT", help="one line, at most 80 characters")
    p.add_argument("--full-description", default=DEFAULT_FULL, metavar="TEXT",
                   help="at most 4000 characters (default: a line in English and one in Japanese)")
    p.add_argument("--developer-name", default=DEFAULT_DEVELOPER, metavar="NAME",
                   help=f"who provides the app (default {DEFAULT_DEVELOPER!r})")
    p.add_argument("--website-url", metavar="URL", help="https page about the app (needed)")
    p.add_argument("--privacy-url", metavar="URL", help="https privacy statement; default: --website-url")
    p.add_argument("--terms-url", metavar="URL", help="https terms of use; default: --website-url")
    p.add_argument("--version", default="1.0.0", help="the package's version, major.minor.patch (default 1.0.0)")
    p.add_argument("--accent-color", default=DEFAULT_COLOR, metavar="#RRGGBB",
                   help=f"background of the color icon and the app's accent (default {DEFAULT_COLOR})")
    p.add_argument("--notification-only", action="store_true",
                   help="mark the bot notification-only: nobody can message or @mention it")
    p.add_argument("--out", type=Path, default=Path("relay-teams-app.zip"), metavar="FILE",
                   help="where to write the package (default relay-teams-app.zip)")
    p.set_defaults(run=run)


def run(args) -> int:
    manifest, problems = build_manifest(args)
    if problems:
        for problem in problems:
            print(f"relay teams-app: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        args.out.write_bytes(package(manifest, args.accent_color))
    except OSError as e:
        print(f"relay teams-app: {args.out}: cannot write: {e.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{args.out}: Teams app {manifest['name']['short']!r} {manifest['version']}, app id {manifest['id']}, "
          f"bot {manifest['bots'][0]['botId']}", file=sys.stderr)
    print("Upload it in Teams: Apps > Manage your apps > Upload an app > Upload a custom app, then add it to the "
          "team whose channel the bot posts to.", file=sys.stderr)
    return EXIT_OK


def build_manifest(args) -> tuple[dict, list[str]]:
    """The manifest for these arguments, and every problem with them (the manifest is not usable if any)."""
    problems: list[str] = []

    def guid(option: str, value: str) -> str:
        if not GUID.fullmatch(value.strip()):
            problems.append(f"{option}: not a GUID: {value!r} (like 0a1b2c3d-1111-2222-3333-444455556666)")
        return value.strip().lower()

    def text(option: str, value: str, limit: int) -> str:
        value = value.strip()
        if not value:
            problems.append(f"{option}: empty")
        elif len(value) > limit:
            problems.append(f"{option}: {len(value)} characters; Teams allows at most {limit}")
        return value

    def url(option: str, value: str) -> str:
        value = value.strip()
        if not HTTPS_URL.fullmatch(value):
            problems.append(f"{option}: not an https URL with a host name: {value!r} (like https://contoso.com/relay)")
        elif len(value) > LIMITS["url"]:
            problems.append(f"{option}: {len(value)} characters; Teams allows at most {LIMITS['url']}")
        return value

    bot_id = guid("--bot-id", args.bot_id)
    app_id = guid("--app-id", args.app_id) if args.app_id else str(uuid.uuid5(APP_NAMESPACE, bot_id))
    name = text("--name", args.name, LIMITS["name"])
    full_name = args.full_name or (DEFAULT_FULL_NAME if args.name == DEFAULT_NAME else args.name)
    if args.website_url is None:
        problems.append("--website-url is needed: Teams shows it (and --privacy-url, --terms-url, which default to it)"
                        " in the app's details; an https page on the relay, such as an intranet page, will do")
        website = privacy = terms = ""
    else:
        website = url("--website-url", args.website_url)
        privacy = url("--privacy-url", args.privacy_url) if args.privacy_url else website
        terms = url("--terms-url", args.terms_url) if args.terms_url else website
    version = args.version.strip()
    if not SEMVER.fullmatch(version) or len(version) > LIMITS["version"]:
        problems.append(f"--version: not major.minor.patch: {args.version!r} (like 1.0.0)")
    if not HEX_COLOR.fullmatch(args.accent_color):
        problems.append(f"--accent-color: not a #RRGGBB color: {args.accent_color!r} (like {DEFAULT_COLOR})")
    manifest = {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id,
        "developer": {
            "name": text("--developer-name", args.developer_name, LIMITS["developer_name"]),
            "websiteUrl": website,
            "privacyUrl": privacy,
            "termsOfUseUrl": terms,
        },
        "name": {"short": name, "full": text("--full-name", full_name, LIMITS["full_name"])},
        "description": {
            "short": text("--short-description", args.short_description, LIMITS["short_description"]),
            "full": text("--full-description", args.full_description, LIMITS["full_description"]),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": args.accent_color.upper(),
        "bots": [{
            "botId": bot_id,
            "scopes": ["team"],
            "supportsFiles": False,
            "isNotificationOnly": bool(args.notification_only),
        }],
        "defaultInstallScope": "team",
        "defaultGroupCapability": {"team": "bot"},
    }
    return manifest, problems


def package(manifest: dict, accent_color: str) -> bytes:
    """The .zip Teams takes: the three files at its root, the same bytes for the same manifest."""
    files = {
        "manifest.json": (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode(),
        "color.png": color_icon(accent_color),
        "outline.png": outline_icon(),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, body)
    return out.getvalue()


# --- the icons -------------------------------------------------------------------------------------------------

TEETH, TOOTH_HALF_WIDTH, BODY, HOLE = 8, 0.18, 0.62, 0.27  # in units of the symbol's half width
TOOTH_AXES = [(math.cos(2 * math.pi * k / TEETH), math.sin(2 * math.pi * k / TEETH)) for k in range(TEETH)]


def in_gear(x: float, y: float) -> bool:
    """Whether the point (x, y), in a square from -1 to 1, is on the gear: a ring with eight square teeth, the
    four on the axes reaching the middle of the square's sides."""
    r = math.hypot(x, y)
    if r < HOLE:
        return False
    return r <= BODY or any(0 < x * c + y * s <= 1.0 and abs(y * c - x * s) <= TOOTH_HALF_WIDTH for c, s in TOOTH_AXES)


def outline_icon() -> bytes:
    """32x32: the gear in pure white on a fully transparent background (alpha 0 or 255, nothing between), filling
    the square with no padding, as Teams asks of an outline icon."""
    size = OUTLINE_SIZE
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            on = in_gear((i + 0.5) / size * 2 - 1, (j + 0.5) / size * 2 - 1)
            row += bytes((*WHITE, 255)) if on else bytes(4)
        rows.append(bytes(row))
    return png(size, size, rows, alpha=True)


def color_icon(accent_color: str, samples: int = 4) -> bytes:
    """192x192: a square of the accent colour (Teams rounds the corners itself) with the white gear in its middle
    96x96, smoothed by sampling each pixel samples x samples times."""
    size, inner = COLOR_SIZE, COLOR_SIZE // 2
    margin = (size - inner) // 2
    background = tuple(int(accent_color[k:k + 2], 16) for k in (1, 3, 5))
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            hits = 0
            if margin <= i < margin + inner and margin <= j < margin + inner:
                for sj in range(samples):
                    for si in range(samples):
                        x = (i - margin + (si + 0.5) / samples) / inner * 2 - 1
                        y = (j - margin + (sj + 0.5) / samples) / inner * 2 - 1
                        hits += in_gear(x, y)
            share = hits / (samples * samples)
            row += bytes(round(b + (w - b) * share) for b, w in zip(background, WHITE, strict=True))
        rows.append(bytes(row))
    return png(size, size, rows, alpha=False)


def png(width: int, height: int, rows: list[bytes], alpha: bool) -> bytes:
    """An 8-bit RGB or RGBA PNG of these rows (each width x 3 or 4 bytes), every row unfiltered."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
