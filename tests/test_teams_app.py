"""`relay teams-app`: the package Teams takes (manifest.json, color.png, outline.png at the root of a .zip), its
manifest held to what the app manifest schema v1.17 requires, its icons read back from the PNG bytes, and bad
input refused with exit 2 and the reason.

The schema (developer.microsoft.com/json-schemas/teams/v1.17/MicrosoftTeams.schema.json) is not in any
installed package, so the rules it states for what the package uses are written out below: the required
fields, the properties allowed (it admits no others), the patterns and the lengths.
"""
import json
import re
import struct
import uuid
import zipfile
import zlib

import pytest

from relay.cli import main

BOT = "0a1b2c3d-1111-2222-3333-444455556666"
SITE = "https://wiki.contoso.com/relay"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SEMVER = re.compile(r"^([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)$")
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# The schema's own httpsUrl pattern admits http too; the package keeps to https.
HTTPS = re.compile(r"^https://")
# Schema v1.17: the root's required properties, and the properties each object used here may have.
REQUIRED = {"manifestVersion", "version", "id", "developer", "name", "description", "icons", "accentColor"}
ALLOWED = {
    "root": REQUIRED | {"$schema", "bots", "defaultInstallScope", "defaultGroupCapability", "validDomains",
                        "webApplicationInfo", "permissions", "localizationInfo", "staticTabs", "configurableTabs",
                        "composeExtensions", "supportedChannelTypes"},
    "developer": {"name", "mpnId", "websiteUrl", "privacyUrl", "termsOfUseUrl"},
    "bot": {"botId", "configuration", "needsChannelSelector", "isNotificationOnly", "supportsFiles",
            "supportsCalling", "supportsVideo", "scopes", "commandLists"},
}


def teams_app(capsys, *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `relay teams-app ARGS`."""
    try:
        status = main(["teams-app", *args])
    except SystemExit as e:  # argparse: --help, or an argument it refused
        status = e.code
    said = capsys.readouterr()
    return status, said.out, said.err


def made(capsys, tmp_path, *args: str) -> zipfile.ZipFile:
    out = tmp_path / "app.zip"
    status, _, err = teams_app(capsys, "--bot-id", BOT, "--website-url", SITE, "--out", str(out), *args)
    assert status == 0, err
    return zipfile.ZipFile(out)


def manifest_of(package: zipfile.ZipFile) -> dict:
    return json.loads(package.read("manifest.json").decode("utf-8"))


# --- reading a PNG back, as an image viewer would -----------------------------------------------------------


def read_png(data: bytes) -> tuple[int, int, int, list[list[tuple[int, ...]]]]:
    """Width, height, colour type and pixel rows of an 8-bit RGB or RGBA PNG, every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, compression, filtering, interlace) == (8, 0, 0, 0) and colour in (2, 6)
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride, rows, previous = width * channels, [], bytearray(width * channels)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            guess = left + up - corner
            paeth = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))[2]
            row[i] = (row[i] + (0, left, up, (left + up) // 2, paeth)[kind]) % 256
        rows.append([tuple(row[x:x + channels]) for x in range(0, stride, channels)])
        previous = row
    return width, height, colour, rows


# --- the package ---------------------------------------------------------------------------------------------


def test_the_package_holds_the_manifest_and_both_icons_at_its_root(capsys, tmp_path):
    package = made(capsys, tmp_path)
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    manifest = manifest_of(package)
    assert set(manifest["icons"].values()) == {"color.png", "outline.png"}
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_the_manifest_has_what_schema_1_17_requires_and_nothing_it_forbids(capsys, tmp_path):
    manifest = manifest_of(made(capsys, tmp_path))
    assert REQUIRED <= set(manifest) <= ALLOWED["root"]
    assert manifest["$schema"] == "https://developer.microsoft.com/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
    assert manifest["manifestVersion"] == "1.17"
    assert SEMVER.match(manifest["version"]) and manifest["version"] == "1.0.0"
    assert GUID.match(manifest["id"])
    developer = manifest["developer"]
    assert set(developer) == {"name", "websiteUrl", "privacyUrl", "termsOfUseUrl"} <= ALLOWED["developer"]
    assert 0 < len(developer["name"]) <= 32
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert HTTPS.match(developer[key]) and len(developer[key]) <= 2048
    assert developer["websiteUrl"] == developer["privacyUrl"] == developer["termsOfUseUrl"] == SITE
    assert set(manifest["name"]) == {"short", "full"}  # both required in v1.17
    assert 0 < len(manifest["name"]["short"]) <= 30 and 0 < len(manifest["name"]["full"]) <= 100
    assert set(manifest["description"]) == {"short", "full"}
    assert 0 < len(manifest["description"]["short"]) <= 80 and 0 < len(manifest["description"]["full"]) <= 4000
    assert HEX_COLOR.match(manifest["accentColor"])
    [bot] = manifest["bots"]  # at most one bot per app
    assert set(bot) <= ALLOWED["bot"] and {"botId", "scopes"} <= set(bot)
    assert bot == {"botId": BOT, "scopes": ["team"], "supportsFiles": False, "isNotificationOnly": False}
    assert manifest["defaultInstallScope"] == "team" and manifest["defaultGroupCapability"] == {"team": "bot"}


def test_the_default_wording_is_english_with_a_japanese_line_in_the_full_description(capsys, tmp_path):
    manifest = manifest_of(made(capsys, tmp_path))
    assert manifest["name"] == {"short": "Maintenance Relay", "full": "Azure Maintenance Relay"}
    english, japanese = manifest["description"]["full"].split("\n")
    assert english.isascii() and "JST" in english
    assert "計画メンテナンス" in japanese and "日本時間" in japanese
    assert manifest["description"]["short"].isascii()


def test_the_app_id_follows_the_bot_id_unless_given(capsys, tmp_path):
    first = manifest_of(made(capsys, tmp_path))["id"]
    assert uuid.UUID(first).version == 5
    assert manifest_of(made(capsys, tmp_path, "--bot-id", BOT.upper()))["id"] == first  # the last --bot-id counts
    other = "9f8e7d6c-5555-4444-3333-222211110000"
    assert manifest_of(made(capsys, tmp_path, "--bot-id", other))["id"] not in (first, other)
    given = "11111111-2222-3333-4444-555555555555"
    manifest = manifest_of(made(capsys, tmp_path, "--app-id", given.upper()))
    assert manifest["id"] == given and manifest["bots"][0]["botId"] == BOT


def test_the_same_arguments_make_the_same_bytes(capsys, tmp_path):
    made(capsys, tmp_path)
    first = (tmp_path / "app.zip").read_bytes()
    made(capsys, tmp_path)
    assert (tmp_path / "app.zip").read_bytes() == first


def test_every_option_reaches_the_manifest(capsys, tmp_path):
    manifest = manifest_of(made(
        capsys, tmp_path, "--name", "Relay", "--full-name", "Contoso maintenance relay", "--short-description",
        "Maintenance news", "--full-description", "All of it.", "--developer-name", "Contoso Platform Team",
        "--privacy-url", "https://contoso.com/privacy", "--terms-url", "https://contoso.com/terms",
        "--version", "2.10.0", "--accent-color", "#12ab34", "--notification-only"))
    assert manifest["name"] == {"short": "Relay", "full": "Contoso maintenance relay"}
    assert manifest["description"] == {"short": "Maintenance news", "full": "All of it."}
    assert manifest["developer"] == {"name": "Contoso Platform Team", "websiteUrl": SITE,
                                     "privacyUrl": "https://contoso.com/privacy",
                                     "termsOfUseUrl": "https://contoso.com/terms"}
    assert manifest["version"] == "2.10.0" and manifest["accentColor"] == "#12AB34"
    assert manifest["bots"][0]["isNotificationOnly"] is True
    assert manifest_of(made(capsys, tmp_path, "--name", "Relay"))["name"]["full"] == "Relay"


def test_the_longest_texts_teams_allows_are_taken(capsys, tmp_path):
    manifest = manifest_of(made(capsys, tmp_path, "--name", "n" * 30, "--short-description", "s" * 80,
                                "--full-description", "f" * 4000, "--developer-name", "d" * 32))
    assert len(manifest["name"]["short"]) == 30 and len(manifest["description"]["full"]) == 4000


# --- the icons -----------------------------------------------------------------------------------------------


def test_the_outline_icon_is_32_pixels_of_white_on_transparent_without_padding(capsys, tmp_path):
    width, height, colour, rows = read_png(made(capsys, tmp_path).read("outline.png"))
    assert (width, height, colour) == (32, 32, 6)  # RGBA: the background must be transparent
    pixels = [pixel for row in rows for pixel in row]
    white, clear = (255, 255, 255, 255), [p for p in pixels if p[3] == 0]
    assert all(p == white or p[3] == 0 for p in pixels)  # white, or alpha 0: no other colour, no half alpha
    assert clear and len(clear) < len(pixels)
    assert white in rows[0] and white in rows[-1]  # the symbol reaches every side
    assert any(row[0] == white for row in rows) and any(row[-1] == white for row in rows)
    assert rows[16][16][3] == 0  # the gear's hole
    assert rows[0][0][3] == rows[-1][-1][3] == 0


def test_the_color_icon_is_a_192_pixel_square_with_its_symbol_in_the_middle_96(capsys, tmp_path):
    width, height, colour, rows = read_png(made(capsys, tmp_path, "--accent-color", "#12AB34").read("color.png"))
    assert (width, height) == (192, 192)
    background = (0x12, 0xAB, 0x34)
    rgb = [[pixel[:3] for pixel in row] for row in rows]
    if colour == 6:
        assert all(pixel[3] == 255 for row in rows for pixel in row)  # a solid background
    for corner in (rgb[0][0], rgb[0][-1], rgb[-1][0], rgb[-1][-1]):
        assert corner == background  # square: Teams rounds the corners itself
    outside = [rgb[y][x] for y in range(192) for x in range(192) if not (48 <= x < 144 and 48 <= y < 144)]
    assert set(outside) == {background}  # 48 pixels of padding on every side
    inside = [rgb[y][x] for y in range(48, 144) for x in range(48, 144)]
    assert (255, 255, 255) in inside and background in inside
    assert rgb[96][96] == background  # the gear's hole


# --- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, said", [
    (["--bot-id", "not-a-guid"], "--bot-id: not a GUID: 'not-a-guid'"),
    (["--app-id", "1234"], "--app-id: not a GUID: '1234'"),
    (["--name", "n" * 31], "--name: 31 characters; Teams allows at most 30"),
    (["--name", "  "], "--name: empty"),
    (["--full-name", "f" * 101], "--full-name: 101 characters; Teams allows at most 100"),
    (["--short-description", "s" * 81], "--short-description: 81 characters; Teams allows at most 80"),
    (["--full-description", "f" * 4001], "--full-description: 4001 characters; Teams allows at most 4000"),
    (["--developer-name", "d" * 33], "--developer-name: 33 characters; Teams allows at most 32"),
    (["--website-url", "http://wiki.contoso.com/relay"], "--website-url: not an https URL"),
    (["--privacy-url", "contoso.com/privacy"], "--privacy-url: not an https URL"),
    (["--terms-url", "https://"], "--terms-url: not an https URL"),
    (["--version", "1.0"], "--version: not major.minor.patch: '1.0'"),
    (["--version", "01.0.0"], "--version: not major.minor.patch"),
    (["--accent-color", "blue"], "--accent-color: not a #RRGGBB color: 'blue'"),
])
def test_bad_input_is_refused_with_exit_2_saying_why(capsys, tmp_path, args, said):
    out = tmp_path / "app.zip"
    status, stdout, err = teams_app(capsys, "--bot-id", BOT, "--website-url", SITE, "--out", str(out), *args)
    assert status == 2
    assert f"relay teams-app: {said}" in err and "Traceback" not in err
    assert stdout == "" and not out.exists()


def test_every_problem_is_told_at_once(capsys, tmp_path):
    status, _, err = teams_app(capsys, "--bot-id", "x", "--name", "n" * 31, "--out", str(tmp_path / "app.zip"))
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("relay teams-app: ") for line in lines)
    assert "--bot-id" in lines[0] and "--name" in lines[1]
    assert "--website-url is needed" in lines[2] and "--privacy-url, --terms-url, which default to it" in lines[2]


def test_a_missing_bot_id_or_an_unwritable_file_is_exit_2(capsys, tmp_path):
    status, _, err = teams_app(capsys, "--website-url", SITE)
    assert status == 2 and "the following arguments are required: --bot-id" in err
    status, _, err = teams_app(capsys, "--bot-id", BOT, "--website-url", SITE, "--out", str(tmp_path / "no" / "a.zip"))
    assert status == 2 and "a.zip: cannot write" in err


def test_help_teaches_with_an_example(capsys):
    status, out, _ = teams_app(capsys, "--help")
    assert status == 0
    for needed in ("relay teams-app --bot-id", "TEAMS_BOT_ID", "azd env get-value", "Manage your apps",
                   "Upload a custom app", "192x192", "32x32", "transparent", "30 characters", "80",
                   "4000", "https", "exit 2", "examples:"):
        assert needed in out, needed
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "relay teams-app --bot-id" in capsys.readouterr().out
