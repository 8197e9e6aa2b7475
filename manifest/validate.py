"""Offline checks for the Teams app manifest and package.

``validate(manifest)`` returns a list of problems (empty = valid):

* the official JSON schema for the manifest's ``manifestVersion``, bundled by the npm package
  ``@microsoft/app-manifest`` under ``node_modules`` (PyPI ``jsonschema``, Draft 4, formats checked);
* project rules the schema cannot express: ``$schema`` matches ``manifestVersion``, ``version`` is MAJOR.MINOR.PATCH,
  no ``${{...}}`` placeholder left, the bot's command lists offer exactly what works in each scope (help everywhere;
  1:1 also activate/deactivate/status/cancel/pending, which act as the user; teams also the channel admin commands
  feed/approvals), SSO ``webApplicationInfo`` points at the bot,
  ``token.botframework.com`` is a valid domain;
* the icons the manifest names: ``color`` a 192x192 PNG, ``outline`` a 32x32 PNG that is white on a transparent
  background (every visible pixel white, only alpha varies);
* with ``node=True``, also Microsoft's own validator, ``AppManifestUtils.validateAgainstSchema`` (ajv), through
  ``node manifest/validate.mjs``.

``python -m manifest.validate FILE...`` checks manifest JSON files (icons looked up next to them) or built app
packages (``.zip``: also the zip layout). Exit 0 when clean, 1 on problems, 2 when the tooling is missing.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
from PIL import Image, UnidentifiedImageError

__all__ = [
    "EXPECTED_COMMANDS",
    "PERSONAL_COMMANDS",
    "ValidationSetupError",
    "color_icon_errors",
    "node_errors",
    "outline_icon_errors",
    "package_errors",
    "rule_errors",
    "schema_errors",
    "validate",
]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
SCHEMA_ROOT = REPO_ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
NODE_VALIDATOR = HERE / "validate.mjs"
SCHEMA_URL = "https://developer.microsoft.com/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"

# Offered in every scope: the usage.
EXPECTED_COMMANDS = frozenset({"help"})
# 1:1: everything about the user's own access. It needs the user's token, and Teams has no bot SSO in channels:
# typed in a channel or group chat it continues in the 1:1 chat, so those lists do not offer it (teams-platform.md
# §4.1).
# `audit export` too: Teams' bots send files only in personal scope ("Send and receive files using bot").
PERSONAL_COMMANDS = EXPECTED_COMMANDS | {
    "activate",
    "deactivate",
    "status",
    "cancel",
    "pending",
    "history",
    "audit export",
}
# Teams channels only: an admin points the admin feed or a group's approval requests at the channel it is typed in.
TEAM_COMMANDS = EXPECTED_COMMANDS | {"feed", "approvals"}
PACKAGE_FILES = ("manifest.json", "color.png", "outline.png")
COLOR_SIZE = (192, 192)
OUTLINE_SIZE = (32, 32)
# Teams only accepts MAJOR.MINOR.PATCH (the schema's own "semver" definition, which v1.24 does not apply to "version").
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
PLACEHOLDER = "${{"
TOKEN_DOMAIN = "token.botframework.com"


class ValidationSetupError(RuntimeError):
    """The validation tooling itself is missing (node_modules, node): not a verdict on the manifest."""


# --- JSON schema (Python) -------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _validator(manifest_version: str) -> jsonschema.Draft4Validator | None:
    if not SCHEMA_ROOT.is_dir():
        raise ValidationSetupError(
            f"Teams manifest schemas not found at {SCHEMA_ROOT}: the npm dev tools are not installed; "
            f"run `npm ci` in {REPO_ROOT}"
        )
    path = SCHEMA_ROOT / f"v{manifest_version}" / "MicrosoftTeams.schema.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))  # the bundled files start with a BOM
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(p) for p in path)


def schema_errors(manifest: Mapping[str, Any]) -> list[str]:
    """Errors of ``manifest`` against the bundled official schema for its ``manifestVersion``."""
    version = manifest.get("manifestVersion")
    if not isinstance(version, str):
        return ["/manifestVersion: missing or not a string; cannot pick a schema"]
    validator = _validator(version)
    if validator is None:
        bundled = sorted(p.name for p in SCHEMA_ROOT.iterdir() if p.is_dir())
        return [f"/manifestVersion: no bundled schema for {version!r} (bundled: {', '.join(bundled)})"]
    try:
        errors = sorted(validator.iter_errors(manifest), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    except re.error as exc:  # v1.23+ use \p{L} (only in extensionFunction.name), which Python's re cannot compile
        return [f"schema pattern not supported by Python re ({exc}); use the node validator for this manifest"]
    return [f"{_pointer(e.absolute_path)}: {e.message}" for e in errors]


# --- project rules ----------------------------------------------------------------------------------------------------


def _strings(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key, (*path, "<key>"))
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def rule_errors(manifest: Mapping[str, Any]) -> list[str]:
    """Project rules beyond the schema (see the module docstring)."""
    leftovers = [(path, text) for path, text in _strings(manifest) if PLACEHOLDER in text]
    errors = [f"{_pointer(path)}: unfilled placeholder in {text!r}" for path, text in leftovers]
    version = manifest.get("manifestVersion")
    if isinstance(version, str) and manifest.get("$schema") != SCHEMA_URL.format(version=version):
        errors.append(f"/$schema: expected {SCHEMA_URL.format(version=version)!r} for manifestVersion {version!r}")
    app_version = manifest.get("version")
    if isinstance(app_version, str) and not SEMVER.match(app_version):
        errors.append(f"/version: {app_version!r} is not MAJOR.MINOR.PATCH (Teams rejects other forms)")
    bots = manifest.get("bots")
    if not isinstance(bots, list) or len(bots) != 1 or not isinstance(bots[0], Mapping):
        return [*errors, "/bots: exactly one bot expected"]
    bot = bots[0]
    errors += _command_errors(bot)
    bot_id = bot.get("botId")
    sso = manifest.get("webApplicationInfo")
    if not isinstance(sso, Mapping):
        errors.append("/webApplicationInfo: missing (needed for Teams SSO)")
    else:
        if sso.get("id") != bot_id:
            errors.append(f"/webApplicationInfo/id: {sso.get('id')!r} differs from the botId {bot_id!r}")
        resource = sso.get("resource")
        if not (isinstance(resource, str) and resource.startswith("api://") and resource.endswith(f"botid-{bot_id}")):
            errors.append(f"/webApplicationInfo/resource: {resource!r} should be 'api://botid-{bot_id}' (bot SSO)")
    domains = manifest.get("validDomains")
    if not isinstance(domains, list) or TOKEN_DOMAIN not in domains:
        errors.append(f"/validDomains: must include {TOKEN_DOMAIN!r} (OAuth/SSO sign-in)")
    return errors


def commands_for(scopes: object) -> frozenset[str]:
    """The command titles a command list of these scopes must offer."""
    if scopes == ["personal"]:
        return PERSONAL_COMMANDS
    if scopes == ["team"]:
        return TEAM_COMMANDS
    return EXPECTED_COMMANDS


def _command_errors(bot: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    lists = bot.get("commandLists")
    if not isinstance(lists, list) or not lists:
        return ["/bots/0/commandLists: missing"]
    covered: list[str] = []
    for i, command_list in enumerate(lists):
        if not isinstance(command_list, Mapping):
            continue  # the schema reports it
        titles = [c.get("title") for c in command_list.get("commands", []) if isinstance(c, Mapping)]
        expected = commands_for(command_list.get("scopes"))
        if sorted(map(str, titles)) != sorted(expected):
            errors.append(f"/bots/0/commandLists/{i}/commands: titles {titles} must be exactly {sorted(expected)}")
        covered += [s for s in command_list.get("scopes", []) if isinstance(s, str)]
    duplicated = sorted({s for s in covered if covered.count(s) > 1})
    if duplicated:
        errors.append(f"/bots/0/commandLists: scopes {duplicated} appear in more than one list")
    bot_scopes = [s for s in bot.get("scopes", []) if isinstance(s, str)]
    if set(covered) != set(bot_scopes):
        errors.append(f"/bots/0/commandLists: list scopes {sorted(set(covered))} must equal bot scopes {bot_scopes}")
    return errors


# --- icons ------------------------------------------------------------------------------------------------------------


def _open_png(data: bytes, label: str, size: tuple[int, int]) -> tuple[Image.Image | None, list[str]]:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        return None, [f"{label}: not a readable image ({exc})"]
    errors = []
    if image.format != "PNG":
        errors.append(f"{label}: must be a PNG, is {image.format}")
    if image.size != size:
        errors.append(f"{label}: must be {size[0]}x{size[1]} pixels, is {image.size[0]}x{image.size[1]}")
    return image, errors


def color_icon_errors(data: bytes, label: str = "color icon") -> list[str]:
    """The full-colour icon: a 192x192 PNG."""
    _, errors = _open_png(data, label, COLOR_SIZE)
    return errors


def outline_icon_errors(data: bytes, label: str = "outline icon") -> list[str]:
    """The outline icon: a 32x32 PNG, white on a fully transparent background (white + alpha only)."""
    image, errors = _open_png(data, label, OUTLINE_SIZE)
    if image is None:
        return errors
    if "A" not in image.getbands() and "transparency" not in image.info:
        return [*errors, f"{label}: needs an alpha channel (transparent background), mode is {image.mode}"]
    rgba = image.convert("RGBA")
    raw = rgba.tobytes()
    pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
    coloured = sum(1 for r, g, b, a in pixels if a and (r, g, b) != (255, 255, 255))
    if coloured:
        errors.append(f"{label}: {coloured} visible pixels are not white; only white with varying alpha is allowed")
    width, height = rgba.size
    corner_alpha = [
        pixels[y * width + x][3] for x, y in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1))
    ]
    transparent = sum(1 for p in pixels if p[3] == 0)
    if any(corner_alpha) or transparent < len(pixels) // 4:
        errors.append(f"{label}: background must be transparent ({transparent}/{len(pixels)} pixels transparent)")
    if transparent == len(pixels):
        errors.append(f"{label}: is empty (fully transparent)")
    return errors


def _icon_errors(manifest: Mapping[str, Any], read: Any) -> list[str]:
    icons = manifest.get("icons")
    if not isinstance(icons, Mapping):
        return []  # the schema reports it
    errors: list[str] = []
    for key, check in (("color", color_icon_errors), ("outline", outline_icon_errors)):
        name = icons.get(key)
        if not isinstance(name, str):
            continue
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            errors.append(f"/icons/{key}: {name!r} must be a file name at the package root")
            continue
        data = read(name)
        if data is None:
            errors.append(f"/icons/{key}: {name!r} not found")
            continue
        errors += check(data, f"/icons/{key} ({name})")
    return errors


# --- node (Microsoft's validator) -------------------------------------------------------------------------------------


def node_errors(manifest: Mapping[str, Any]) -> list[str]:
    """Errors reported by ``AppManifestUtils.validateAgainstSchema`` (``node manifest/validate.mjs -``)."""
    node = shutil.which("node")
    if node is None:
        raise ValidationSetupError("`node` not found on PATH (node 20 is needed for the npm dev tools)")
    proc = subprocess.run(
        [node, str(NODE_VALIDATOR), "-"],
        input=json.dumps(manifest),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise ValidationSetupError(f"{NODE_VALIDATOR.name} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return [f"node: {e}" for e in result["errors"]]


# --- entry points -----------------------------------------------------------------------------------------------------


def validate(manifest: Mapping[str, Any], *, icon_dir: Path | None = HERE, node: bool = False) -> list[str]:
    """All problems of ``manifest``: schema, project rules, icons in ``icon_dir`` (None skips them), and with
    ``node=True`` Microsoft's validator too. An empty list means valid."""
    errors = schema_errors(manifest) + rule_errors(manifest)
    if icon_dir is not None:

        def read(name: str) -> bytes | None:
            path = icon_dir / name
            return path.read_bytes() if path.is_file() else None

        errors += _icon_errors(manifest, read)
    if node:
        errors += node_errors(manifest)
    return errors


def package_errors(package: Path, *, node: bool = False) -> list[str]:
    """Problems of a built app package: exactly manifest.json + the two icons at the zip root, and ``validate``."""
    try:
        with zipfile.ZipFile(package) as zf:
            files = {info.filename: zf.read(info) for info in zf.infolist()}
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{package}: not a readable zip ({exc})"]
    if "manifest.json" not in files:
        return [f"{package}: no manifest.json at the zip root (entries: {sorted(files)})"]
    try:
        manifest = json.loads(files["manifest.json"].decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"manifest.json: not valid JSON ({exc})"]
    errors = []
    if not isinstance(manifest, Mapping):
        return ["manifest.json: not a JSON object"]
    icons = manifest.get("icons")
    names = {v for v in icons.values() if isinstance(v, str)} if isinstance(icons, Mapping) else set()
    expected = {"manifest.json", *names}
    if set(files) != expected:
        errors.append(f"{package}: entries {sorted(files)} must be exactly {sorted(expected)}, at the zip root")
    errors += schema_errors(manifest) + rule_errors(manifest) + _icon_errors(manifest, files.get)
    if node:
        errors += node_errors(manifest)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="manifest JSON files or app package zips")
    parser.add_argument("--no-node", action="store_true", help="skip Microsoft's node validator")
    args = parser.parse_args(argv)
    status = 0
    try:
        for path in args.files:
            if path.suffix == ".zip":
                errors = package_errors(path, node=not args.no_node)
            else:
                manifest = json.loads(path.read_text(encoding="utf-8-sig"))
                errors = validate(manifest, icon_dir=path.resolve().parent, node=not args.no_node)
            print(f"{path}: {'OK' if not errors else f'{len(errors)} problem(s)'}")
            for error in errors:
                print(f"  {error}")
            status = status or (1 if errors else 0)
    except ValidationSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
