"""The Teams app manifest, its icons and the app package (manifest/).

Both validators are exercised: PyPI jsonschema on the bundled official schema, and Microsoft's own
AppManifestUtils.validateAgainstSchema through `node manifest/validate.mjs`. They need the npm dev tools
(`npm ci`); without node_modules these tests fail on purpose rather than skip.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from manifest import icons
from manifest.build import BuildError, build_manifest, default_teams_app_id, main, write_package
from manifest.validate import (
    EXPECTED_COMMANDS,
    PERSONAL_COMMANDS,
    SCHEMA_ROOT,
    TEAM_COMMANDS,
    color_icon_errors,
    outline_icon_errors,
    package_errors,
    validate,
)

REPO = Path(__file__).resolve().parents[1]
MANIFEST_DIR = REPO / "manifest"
BOT_ID = "8f2c1a3e-1234-4b5c-9d6e-0123456789ab"
TEAMS_ID = "5b0e6f4a-9c1d-4e2f-8a3b-7c6d5e4f3a2b"
DOMAIN = "pim-bot.contoso.com"


def sample_manifest() -> dict[str, Any]:
    return build_manifest(BOT_ID, teams_app_id=TEAMS_ID, domain=DOMAIN, version="1.2.3")


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def run_build(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}  # no MicrosoftAppId etc. leaking in from the caller
    return subprocess.run(
        [sys.executable, "-m", "manifest.build", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- both validators on the real template ---------------------------------------------------------------------------


def test_npm_dev_tools_are_installed() -> None:
    assert (SCHEMA_ROOT / "v1.24" / "MicrosoftTeams.schema.json").is_file(), "run `npm ci` in the repository root"


def test_template_uses_schema_v1_24_and_all_placeholders() -> None:
    text = (MANIFEST_DIR / "manifest.template.json").read_text(encoding="utf-8")
    template = json.loads(text)
    assert template["$schema"] == "https://developer.microsoft.com/json-schemas/teams/v1.24/MicrosoftTeams.schema.json"
    assert template["manifestVersion"] == "1.24"
    for name in ("BOT_APP_ID", "TEAMS_APP_ID", "BOT_DOMAIN", "APP_VERSION"):
        assert f"${{{{{name}}}}}" in text
    assert template["bots"][0]["botId"] == template["webApplicationInfo"]["id"] == "${{BOT_APP_ID}}"


def test_template_with_sample_values_passes_python_jsonschema_and_project_rules() -> None:
    assert validate(sample_manifest()) == []


@pytest.fixture(scope="module")
def node_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One `node manifest/validate.mjs` run over the good manifest and the broken variants (node start-up is slow)."""
    good = sample_manifest()
    lowercase_scope = copy.deepcopy(good)
    lowercase_scope["bots"][0]["scopes"] = ["personal", "team", "groupchat"]
    no_name = copy.deepcopy(good)
    del no_name["name"]
    v1_18 = copy.deepcopy(good)
    v1_18["$schema"] = "https://developer.microsoft.com/json-schemas/teams/v1.18/MicrosoftTeams.schema.json"
    v1_18["manifestVersion"] = "1.18"
    cases = {"good": good, "groupchat": lowercase_scope, "no_name": no_name, "v1_18": v1_18}
    folder = tmp_path_factory.mktemp("node")
    files = []
    for case, manifest in cases.items():
        files.append(folder / f"{case}.json")
        files[-1].write_text(json.dumps(manifest), encoding="utf-8")
    proc = subprocess.run(
        ["node", str(MANIFEST_DIR / "validate.mjs"), *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # some cases are invalid on purpose; 2 would mean setup trouble
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return {Path(line["file"]).stem: line for line in lines}


def test_template_with_sample_values_passes_microsofts_node_validator(node_verdicts: dict[str, Any]) -> None:
    assert node_verdicts["good"] == {"file": node_verdicts["good"]["file"], "valid": True, "errors": []}


def test_node_validator_rejects_lowercase_groupchat_scope(node_verdicts: dict[str, Any]) -> None:
    assert not node_verdicts["groupchat"]["valid"]
    assert any(
        e.startswith("/bots/0/scopes/2 must be equal to one of the allowed values")
        for e in node_verdicts["groupchat"]["errors"]
    )


def test_node_validator_rejects_missing_name(node_verdicts: dict[str, Any]) -> None:
    assert any("must have required property 'name'" in e for e in node_verdicts["no_name"]["errors"])


def test_node_validator_stays_offline_for_a_schema_it_does_not_bundle(node_verdicts: dict[str, Any]) -> None:
    assert any("no bundled schema" in e for e in node_verdicts["v1_18"]["errors"])


def test_python_validator_can_also_call_the_node_validator() -> None:
    bad = sample_manifest()
    bad["accentColor"] = "blue"
    errors = validate(bad, node=True)
    assert any(e.startswith("/accentColor:") for e in errors)
    assert any(e.startswith("node: /accentColor must match pattern") for e in errors)


# --- negative cases for the Python validator ------------------------------------------------------------------------


def test_lowercase_groupchat_scope_is_rejected() -> None:
    manifest = sample_manifest()
    manifest["bots"][0]["scopes"][2] = "groupchat"
    assert "/bots/0/scopes/2: 'groupchat' is not one of ['team', 'personal', 'groupChat', 'copilot']" in validate(
        manifest
    )


def test_missing_name_is_rejected() -> None:
    manifest = sample_manifest()
    del manifest["name"]
    assert "/: 'name' is a required property" in validate(manifest)


def test_unfilled_placeholder_is_rejected_even_where_the_schema_allows_any_string() -> None:
    manifest = sample_manifest()
    manifest["validDomains"][0] = "${{BOT_DOMAIN}}"
    assert validate(manifest) == ["/validDomains/0: unfilled placeholder in '${{BOT_DOMAIN}}'"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda m: m["bots"][0]["commandLists"][1]["commands"].pop(), "titles ['feed', 'approvals']"),
        (lambda m: m["bots"][0]["commandLists"][2]["commands"].pop(), "titles []"),
        (lambda m: m["bots"][0]["commandLists"][0]["commands"][0].update(title="Activate"), "must be exactly"),
        (lambda m: m["bots"][0]["commandLists"][0]["commands"].pop(3), "must be exactly"),  # 1:1 without `pending`
        (  # `status` in a team: it shows the user's access, which is answered in the 1:1 chat, not in the channel
            lambda m: m["bots"][0]["commandLists"][1]["commands"].append({"title": "status", "description": "x"}),
            "titles ['feed', 'approvals', 'help', 'status']",
        ),
        (  # `activate` in a group chat: it needs the user's token, and Teams has no bot SSO outside the 1:1 chat
            lambda m: m["bots"][0]["commandLists"][2]["commands"].append({"title": "activate", "description": "x"}),
            "titles ['help', 'activate']",
        ),
        (  # `feed` in a group chat: the admin feed and approvals channels are Teams channels
            lambda m: m["bots"][0]["commandLists"][2]["commands"].append({"title": "feed", "description": "x"}),
            "titles ['help', 'feed']",
        ),
        (lambda m: m["bots"][0]["commandLists"].pop(), "must equal bot scopes"),
        (lambda m: m["bots"][0]["commandLists"][2]["scopes"].append("team"), "appear in more than one list"),
        (lambda m: m["webApplicationInfo"].update(resource="api://other"), "/webApplicationInfo/resource"),
        (lambda m: m["validDomains"].remove("token.botframework.com"), "token.botframework.com"),
        (lambda m: m.update(version="1.0"), "MAJOR.MINOR.PATCH"),
    ],
)
def test_project_rules_bite(mutate: Any, expected: str) -> None:
    manifest = sample_manifest()
    mutate(manifest)
    errors = validate(manifest)
    assert any(expected in e for e in errors), errors


# --- commands ---------------------------------------------------------------------------------------------------------


def test_each_scope_offers_only_what_works_there_help_everywhere_own_access_in_1_1_admin_commands_in_teams() -> None:
    bot = sample_manifest()["bots"][0]
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert sorted(s for lst in bot["commandLists"] for s in lst["scopes"]) == sorted(bot["scopes"])
    for command_list in bot["commandLists"]:
        expected = {"personal": PERSONAL_COMMANDS, "team": TEAM_COMMANDS}.get(
            command_list["scopes"][0], EXPECTED_COMMANDS
        )
        assert {c["title"] for c in command_list["commands"]} == expected
        for command in command_list["commands"]:
            assert "Example: " in command["description"]
            assert len(command["title"]) <= 128
    personal = {c["title"]: c["description"] for c in bot["commandLists"][0]["commands"]}
    assert personal["activate"].endswith("Example: activate Exchange-Admins 2h because INC-4711")
    assert personal["cancel"].endswith("Example: cancel Exchange-Admins")
    assert personal["pending"].endswith("Example: pending")
    assert personal["history"].endswith("Example: history")
    assert personal["audit export"].endswith("Example: audit export 2026-11-01 2026-11-30")
    assert len(bot["commandLists"][0]["commands"]) == 8
    assert bot["supportsFiles"] is True  # the audit export's file consent card needs it (bots-filesv4)
    team = {c["title"]: c["description"] for c in bot["commandLists"][1]["commands"]}
    assert bot["commandLists"][1]["scopes"] == ["team"]
    assert set(team) == {"feed", "approvals", "help"}
    assert [c["title"] for c in bot["commandLists"][2]["commands"]] == ["help"]
    assert "Example: @PIM Bot feed here" in team["feed"]
    assert team["approvals"].endswith("Example: @PIM Bot approvals here Exchange-Admins")


def test_1_1_command_descriptions_say_what_the_help_card_says() -> None:
    from cards.text import EXAMPLES

    help_meanings = {command.split()[0]: meaning for command, meaning in EXAMPLES}
    personal = {c["title"]: c["description"] for c in sample_manifest()["bots"][0]["commandLists"][0]["commands"]}
    for title in ("cancel", "pending", "history"):
        assert personal[title].startswith(help_meanings[title] + " Example: "), title


# --- build ------------------------------------------------------------------------------------------------------------


def test_cli_builds_a_valid_package_with_the_ids_filled_in(tmp_path: Path) -> None:
    out = tmp_path / "appPackage.zip"
    proc = run_build(
        "--bot-app-id", BOT_ID.upper(), "--domain", f"https://{DOMAIN}/", "--version", "2.0.1", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["manifest.json", "color.png", "outline.png"]
        raw = zf.read("manifest.json").decode("utf-8")
        assert zf.read("color.png") == (MANIFEST_DIR / "color.png").read_bytes()
        assert zf.read("outline.png") == (MANIFEST_DIR / "outline.png").read_bytes()
    assert "${{" not in raw
    manifest = json.loads(raw)
    assert manifest["id"] == default_teams_app_id(BOT_ID)
    assert manifest["bots"][0]["botId"] == BOT_ID  # normalised to lower case
    assert manifest["webApplicationInfo"] == {"id": BOT_ID, "resource": f"api://botid-{BOT_ID}"}
    assert manifest["validDomains"] == [DOMAIN, "token.botframework.com"]
    assert manifest["version"] == "2.0.1"
    assert package_errors(out) == []


def test_package_bytes_are_reproducible(tmp_path: Path) -> None:
    first = write_package(sample_manifest(), tmp_path / "a.zip").read_bytes()
    second = write_package(sample_manifest(), tmp_path / "b.zip").read_bytes()
    assert first == second
    other = build_manifest(str(uuid.UUID(int=1)), teams_app_id=TEAMS_ID, domain=DOMAIN, version="1.2.3")
    assert write_package(other, tmp_path / "c.zip").read_bytes() != first
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("bad", ["not-a-guid", BOT_ID.replace("-", ""), "{" + BOT_ID + "}"])
def test_cli_refuses_a_non_guid_bot_id(tmp_path: Path, bad: str) -> None:
    out = tmp_path / "appPackage.zip"
    proc = run_build("--bot-app-id", bad, "--out", str(out))
    assert proc.returncode == 2
    assert f"error: bot app id {bad!r} is not a GUID" in proc.stderr
    assert not out.exists()


def test_cli_refuses_a_missing_bot_id(tmp_path: Path) -> None:
    proc = run_build("--out", str(tmp_path / "appPackage.zip"))
    assert proc.returncode == 2
    assert "error: bot app id is missing: pass --bot-app-id or env MicrosoftAppId" in proc.stderr


def test_cli_reads_its_defaults_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "appPackage.zip"
    env = {"MicrosoftAppId": BOT_ID, "TEAMS_APP_ID": TEAMS_ID, "BOT_DOMAIN": DOMAIN, "APP_VERSION": "3.1.4"}
    assert main(["--out", str(out), "--no-node-check"], environ=env) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert (manifest["id"], manifest["bots"][0]["botId"], manifest["validDomains"][0], manifest["version"]) == (
        TEAMS_ID,
        BOT_ID,
        DOMAIN,
        "3.1.4",
    )


def test_a_messaging_endpoint_url_is_reduced_to_its_host() -> None:
    manifest = build_manifest(BOT_ID, domain="https://PIM-Bot.contoso.com/api/messages")
    assert manifest["validDomains"] == ["pim-bot.contoso.com", "token.botframework.com"]


def test_default_teams_app_id_is_a_stable_uuid5_of_the_bot_id() -> None:
    derived = default_teams_app_id(BOT_ID)
    assert uuid.UUID(derived).version == 5
    assert derived == default_teams_app_id(BOT_ID.upper()) != default_teams_app_id(str(uuid.UUID(int=1)))
    assert derived != BOT_ID
    assert build_manifest(BOT_ID, domain=DOMAIN)["id"] == derived


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"domain": "bot.contoso.com/api/messages"}, "is not a host name"),
        ({"domain": "bot contoso"}, "is not a host name"),
        ({"version": "1.0.0-beta"}, "must be MAJOR.MINOR.PATCH"),
        ({"teams_app_id": "xyz"}, "Teams app id 'xyz' is not a GUID"),
    ],
)
def test_build_refuses_bad_inputs(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build_manifest(BOT_ID, **kwargs)


def test_build_validates_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = json.loads((MANIFEST_DIR / "manifest.template.json").read_text(encoding="utf-8"))
    template["bots"][0]["scopes"][2] = "groupchat"
    broken = tmp_path / "manifest.template.json"
    broken.write_text(json.dumps(template), encoding="utf-8")
    args = ["--bot-app-id", BOT_ID, "--template", str(broken), "--out", str(tmp_path / "x.zip"), "--no-node-check"]
    assert main(args, environ={}) == 1
    assert "'groupchat' is not one of" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_package_check_rejects_files_in_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "nested.zip"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("appPackage/manifest.json", json.dumps(sample_manifest()))
    assert package_errors(out) == [f"{out}: no manifest.json at the zip root (entries: ['appPackage/manifest.json'])"]


# --- icons ------------------------------------------------------------------------------------------------------------


def test_icons_have_the_right_sizes_and_modes() -> None:
    with Image.open(MANIFEST_DIR / "color.png") as color, Image.open(MANIFEST_DIR / "outline.png") as outline:
        assert (color.format, color.size, color.mode) == ("PNG", (192, 192), "RGB")
        assert (outline.format, outline.size, outline.mode) == ("PNG", (32, 32), "RGBA")
        rgba = outline.tobytes()
    visible = [rgba[i : i + 4] for i in range(0, len(rgba), 4) if rgba[i + 3]]
    assert visible and all(p[:3] == b"\xff\xff\xff" for p in visible)
    assert color_icon_errors((MANIFEST_DIR / "color.png").read_bytes()) == []
    assert outline_icon_errors((MANIFEST_DIR / "outline.png").read_bytes()) == []


def test_committed_icons_are_what_icons_py_draws() -> None:
    for name, image in (("color.png", icons.make_color()), ("outline.png", icons.make_outline())):
        with Image.open(MANIFEST_DIR / name) as committed:
            assert committed.mode == image.mode and committed.tobytes() == image.tobytes(), (
                f"{name} is stale: run `python -m manifest.icons`"
            )


def test_outline_with_an_opaque_background_is_rejected() -> None:
    opaque = Image.new("RGBA", (32, 32), (31, 78, 121, 255))
    ImageDraw.Draw(opaque).rectangle((8, 8, 23, 23), outline=(255, 255, 255, 255), width=2)
    errors = outline_icon_errors(png(opaque))
    assert any("background must be transparent" in e for e in errors)
    assert any("visible pixels are not white" in e for e in errors)
    assert any(
        "background must be transparent" in e for e in outline_icon_errors(png(Image.new("RGBA", (32, 32), "white")))
    )


def test_outline_without_alpha_or_with_colour_or_wrong_size_is_rejected() -> None:
    assert "needs an alpha channel" in outline_icon_errors(png(Image.new("RGB", (32, 32), "white")))[0]
    coloured = icons.make_outline()
    coloured.putpixel((16, 3), (255, 0, 0, 255))
    assert outline_icon_errors(png(coloured)) == [
        "outline icon: 1 visible pixels are not white; only white with varying alpha is allowed"
    ]
    assert outline_icon_errors(png(icons.make_outline().resize((64, 64)))) == [
        "outline icon: must be 32x32 pixels, is 64x64"
    ]
    small = png(icons.make_color().resize((96, 96)))
    assert color_icon_errors(small) == ["color icon: must be 192x192 pixels, is 96x96"]
    assert color_icon_errors(b"not a png")[0].startswith("color icon: not a readable image")


def test_validate_checks_the_icons_the_manifest_names(tmp_path: Path) -> None:
    opaque = Image.new("RGBA", (32, 32), (31, 78, 121, 255))
    (tmp_path / "outline.png").write_bytes(png(opaque))
    (tmp_path / "color.png").write_bytes((MANIFEST_DIR / "color.png").read_bytes())
    errors = validate(sample_manifest(), icon_dir=tmp_path)
    assert errors and all(e.startswith("/icons/outline (outline.png): ") for e in errors)
    nested = sample_manifest()
    nested["icons"]["color"] = "img/color.png"
    assert "/icons/color: 'img/color.png' must be a file name at the package root" in validate(nested)


# --- hygiene ----------------------------------------------------------------------------------------------------------


def test_manifest_tooling_does_not_import_botbuilder() -> None:
    for source in MANIFEST_DIR.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] in {"botbuilder", "botframework"} for n in names), source


def test_manifest_commands_are_words_the_command_parser_knows() -> None:
    from core.commands import (
        Activate,
        ApprovalChannel,
        AuditExport,
        Cancel,
        Deactivate,
        Feed,
        Help,
        History,
        Pending,
        Status,
        parse,
    )

    examples = {
        "activate": "activate Exchange-Admins 2h",
        "deactivate": "deactivate Exchange-Admins",
        "cancel": "cancel Exchange-Admins",
        "feed": "feed here",
        "approvals": "approvals here Exchange-Admins",
        "audit export": "audit export 2026-11-01 2026-11-30",
    }
    kinds = {
        "activate": Activate,
        "deactivate": Deactivate,
        "status": Status,
        "help": Help,
        "cancel": Cancel,
        "pending": Pending,
        "feed": Feed,
        "approvals": ApprovalChannel,
        "history": History,
        "audit export": AuditExport,
    }
    for title in PERSONAL_COMMANDS | TEAM_COMMANDS:
        command = parse(examples.get(title, title))
        assert isinstance(command, kinds[title]), (title, command)
        assert not (isinstance(command, Help) and command.reason), (title, command)
