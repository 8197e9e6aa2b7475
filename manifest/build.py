"""Build the Teams app package (``appPackage.zip``) from ``manifest.template.json``.

    python -m manifest.build --bot-app-id GUID [--teams-app-id GUID] [--domain HOST] [--version 1.0.0]
                             [--out build/appPackage.zip] [--no-node-check]

Defaults come from the environment: ``MicrosoftAppId`` (bot app id, the Azure Bot / Entra app registration),
``TEAMS_APP_ID``, ``BOT_DOMAIN``, ``APP_VERSION``.

Placeholders filled in the template: ``${{BOT_APP_ID}}`` (botId, webApplicationInfo id and ``api://botid-...``
resource), ``${{TEAMS_APP_ID}}`` (the manifest ``id``), ``${{BOT_DOMAIN}}`` (validDomains; a URL such as the messaging
endpoint is reduced to its host), ``${{APP_VERSION}}``.

The Teams app id defaults to ``uuid5(TEAMS_APP_ID_NAMESPACE, bot_app_id.lower())``: stable for a bot registration, so
rebuilding (e.g. a new version) updates the same Teams app instead of creating a second one, and different bot
registrations (dev/prod) get different Teams apps. Pass ``--teams-app-id`` to keep an id Teams already knows.

The result is validated (schema, project rules, icons and, unless ``--no-node-check``, Microsoft's node validator)
before anything is written. The zip holds ``manifest.json``, ``color.png`` and ``outline.png`` at its root with fixed
timestamps and permissions, so the same inputs give the same bytes.

Exit codes: 0 written (prints the path), 1 the manifest does not validate, 2 bad arguments or missing tooling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from manifest.validate import ValidationSetupError, validate

__all__ = [
    "TEAMS_APP_ID_NAMESPACE",
    "BuildError",
    "build_manifest",
    "default_teams_app_id",
    "main",
    "package_bytes",
    "write_package",
]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
TEMPLATE = HERE / "manifest.template.json"
DEFAULT_OUT = REPO_ROOT / "build" / "appPackage.zip"
DEFAULT_VERSION = "1.0.0"
PLACEHOLDER_DOMAIN = "pim-bot.example.com"
TEAMS_APP_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/pim-teams-bot/pim-teams-bot#teams-app-id")

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")  # the manifest schema's "guid"
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOST = re.compile(rf"^(?=.{{1,253}}(:|$)){LABEL}(\.{LABEL})*(:[0-9]{{1,5}})?$")  # host[:port], lower case
PLACEHOLDER = re.compile(r"\$\{\{([A-Z0-9_]+)\}\}")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # earliest date a zip can hold; fixed so builds are reproducible


class BuildError(ValueError):
    """Bad build input (exit 2), with a message meant for the person running the build."""


def _guid(value: str | None, what: str, source: str) -> str:
    if not value or not value.strip():
        raise BuildError(f"{what} is missing: pass {source}")
    value = value.strip()
    if not GUID.match(value):
        raise BuildError(f"{what} {value!r} is not a GUID like 00000000-0000-0000-0000-000000000000 ({source})")
    return value.lower()


def default_teams_app_id(bot_app_id: str) -> str:
    """The Teams app id derived from the bot app id (stable uuid5, see the module docstring)."""
    return str(uuid.uuid5(TEAMS_APP_ID_NAMESPACE, bot_app_id.strip().lower()))


def _host(value: str) -> str:
    raw = value.strip()
    host = urlsplit(raw).netloc if "://" in raw else raw.rstrip("/")
    host = host.lower()
    if not HOST.match(host):
        raise BuildError(f"bot domain {value!r} is not a host name like pim-bot.contoso.com (or https://host/...)")
    return host


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    # Substitute inside parsed JSON strings (not the raw text), so no input can break the JSON structure.
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise BuildError(f"template uses unknown placeholder ${{{{{name}}}}}")
            return values[name]

        return PLACEHOLDER.sub(sub, value)
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def build_manifest(
    bot_app_id: str | None,
    *,
    teams_app_id: str | None = None,
    domain: str | None = None,
    version: str = DEFAULT_VERSION,
    template: Path = TEMPLATE,
) -> dict[str, Any]:
    """The template with its placeholders filled. Raises ``BuildError`` for bad inputs; does not validate."""
    bot_id = _guid(bot_app_id, "bot app id", "--bot-app-id or env MicrosoftAppId")
    app_id = _guid(teams_app_id, "Teams app id", "--teams-app-id or env TEAMS_APP_ID") if teams_app_id else None
    if not SEMVER.match(version):
        raise BuildError(f"version {version!r} must be MAJOR.MINOR.PATCH, e.g. 1.0.0 (Teams accepts nothing else)")
    values = {
        "BOT_APP_ID": bot_id,
        "TEAMS_APP_ID": app_id or default_teams_app_id(bot_id),
        "BOT_DOMAIN": _host(domain or PLACEHOLDER_DOMAIN),
        "APP_VERSION": version,
    }
    filled: dict[str, Any] = _fill(json.loads(template.read_text(encoding="utf-8")), values)
    return filled


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, whatever the build host
    info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
    return info


def package_bytes(manifest: Mapping[str, Any], icon_dir: Path = HERE) -> list[tuple[str, bytes]]:
    """The package entries in zip order: manifest.json, then the icons the manifest names."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    entries = [("manifest.json", text.encode("utf-8"))]
    for key in ("color", "outline"):
        name = manifest["icons"][key]
        entries.append((name, (icon_dir / name).read_bytes()))
    return entries


def write_package(manifest: Mapping[str, Any], out: Path, icon_dir: Path = HERE) -> Path:
    """Write the app package zip (entries at the root, fixed metadata) atomically; returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in package_bytes(manifest, icon_dir):
            zf.writestr(_zip_entry(name), data, compresslevel=9)
    os.replace(tmp, out)
    return out


def _env(environ: Mapping[str, str], key: str) -> str | None:
    value = environ.get(key, "").strip()
    return value or None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m manifest.build",
        description=__doc__.split("\n\n")[0],
        epilog="Defaults come from env MicrosoftAppId, TEAMS_APP_ID, BOT_DOMAIN, APP_VERSION.",
    )
    parser.add_argument("--bot-app-id", default=_env(env, "MicrosoftAppId"), help="bot app id (GUID) [MicrosoftAppId]")
    parser.add_argument(
        "--teams-app-id", default=_env(env, "TEAMS_APP_ID"), help="Teams app id (GUID); default derived from the bot id"
    )
    parser.add_argument("--domain", default=_env(env, "BOT_DOMAIN"), help="bot host name for validDomains [BOT_DOMAIN]")
    parser.add_argument("--version", default=_env(env, "APP_VERSION") or DEFAULT_VERSION, help="app version X.Y.Z")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default {DEFAULT_OUT})")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help=argparse.SUPPRESS)
    parser.add_argument("--no-node-check", action="store_true", help="skip Microsoft's node validator")
    args = parser.parse_args(argv)

    try:
        manifest = build_manifest(
            args.bot_app_id,
            teams_app_id=args.teams_app_id,
            domain=args.domain,
            version=args.version,
            template=args.template,
        )
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.domain:
        print(
            f"warning: no --domain / BOT_DOMAIN; validDomains uses the placeholder {PLACEHOLDER_DOMAIN}",
            file=sys.stderr,
        )
    try:
        errors = validate(manifest, icon_dir=HERE, node=not args.no_node_check)
    except ValidationSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if errors:
        print("error: the manifest does not validate; nothing written:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(write_package(manifest, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
