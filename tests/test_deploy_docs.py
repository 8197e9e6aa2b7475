"""docs/deploy.md and the Dockerfile agree with the code: static checks, no network, no Docker.

What is checked: every variable in the deployment guide's configuration tables is one that load_settings reads, and
every variable it reads has a row there (but the simulated tenant's URL); every path the Dockerfile copies exists (and
.dockerignore lets it through); the Dockerfile runs app.py, which serves the health check path the Dockerfile and the
guide name; Graph permission names are spelled as Graph spells them.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests.support.settings_env import variables_load_settings_reads

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy.md"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Settings the guide documents before the code reads them; their rows must say so.
IN_PROGRESS: set[str] = set()
NOT_IMPLEMENTED = "(not implemented yet)"

# Microsoft Graph permission names (graph-pim-groups.md §5.1, §10): the exact spelling, case included.
GRAPH_PERMISSIONS = {
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "PrivilegedAssignmentSchedule.Read.AzureADGroup",
    "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
    "PrivilegedEligibilitySchedule.Read.AzureADGroup",
    "RoleManagementPolicy.ReadWrite.AzureADGroup",
    "RoleManagementPolicy.Read.AzureADGroup",
    "User.Read",
    "User.Read.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "AuditLog.Read.All",
    # Names of Conditional Access authentication contexts (least privileged first, per the Graph API page).
    "AuthenticationContext.Read.All",
    "Policy.Read.ConditionalAccess",
    "Policy.Read.All",
    # Installing the app for an approver who never opened it (teams-platform.md §6), and finding it in the catalog.
    "TeamsAppInstallation.ReadWriteSelfForUser.All",
    "AppCatalog.Read.All",
    # The PIM custom extension's setup, delegated (section 11.2; Graph privilegedaccessroot-post-customextensions).
    "PrivilegedAccess-CustomExt.ReadWrite.All",
    # A custom-extension rule's on-call check: List shifts (schedule-list-shifts, application, least privileged).
    "Schedule.Read.All",
}
# The exact shape of a Graph permission name: Resource.Operation[.Constraint][.AzureADGroup].
PERMISSION_SHAPE = re.compile(
    r"^[A-Z][A-Za-z]+(-[A-Z][A-Za-z]+)?\.(Read|ReadWrite|ReadBasic|Remove)([A-Z][A-Za-z]*)?(\.[A-Za-z]+)*$"
)
# What looks like one in prose, whatever its case (so `User.read.All` is caught, not skipped).
PERMISSION_LIKE = re.compile(
    r"^[A-Za-z]+(-[A-Za-z]+)?\.(read|readwrite|readbasic|remove)([a-z]+)?(\.[A-Za-z]+)*$", re.IGNORECASE
)


def section(text: str, number: int) -> str:
    match = re.search(rf"^## {number}\. .*?(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/deploy.md has no section '## {number}.'"
    return match.group(0)


def configuration_rows() -> list[tuple[str, str]]:
    """(variable, whole row) for each variable named in the first column of a table in section 6."""
    rows = []
    for line in section(DEPLOY.read_text(encoding="utf-8"), 6).splitlines():
        cells = line.split("|")
        if not line.startswith("|") or len(cells) < 3:
            continue
        for name in re.findall(r"`([^`]+)`", cells[1]):
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                rows.append((name, line))
    return rows


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        if current.strip():
            keyword, _, args = current.strip().partition(" ")
            joined.append((keyword.upper(), args.strip()))
        current = ""
    return joined


def test_the_configuration_tables_name_only_variables_load_settings_reads() -> None:
    rows = configuration_rows()
    assert len({name for name, _ in rows}) >= 20, "section 6 lost its tables"
    read = variables_load_settings_reads()
    unknown = sorted({name for name, line in rows if name not in read and name not in IN_PROGRESS})
    assert not unknown, f"docs/deploy.md section 6 names variables settings.load_settings never reads: {unknown}"
    for name, line in rows:
        if name in IN_PROGRESS:
            assert NOT_IMPLEMENTED in line or name in read, f"{name} is not read yet: mark its row {NOT_IMPLEMENTED}"


def test_every_variable_load_settings_reads_has_a_row_in_the_configuration_tables() -> None:
    documented = {name for name, _ in configuration_rows()}
    # SIMULATED_TENANT_URL and BOT_DEMO serve the demo and the tests (USER_TOKENS=simulated), never a deployment.
    missing = sorted(variables_load_settings_reads() - documented - {"SIMULATED_TENANT_URL", "BOT_DEMO"})
    assert not missing, f"docs/deploy.md section 6 has no row for {missing}"


def test_every_path_the_dockerfile_copies_exists_and_passes_dockerignore() -> None:
    copies = [args for keyword, args in dockerfile_instructions() if keyword in ("COPY", "ADD")]
    assert copies, "the Dockerfile copies nothing"
    allowed = {line.strip()[1:].rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")}
    sources = []
    for args in copies:
        parts = [p for p in args.split() if not p.startswith("--")]
        assert not any(p.startswith("--from") for p in args.split()), "multi-stage copies: extend this test"
        sources += parts[:-1]
    for source in sources:
        path = source.rstrip("/")
        assert (ROOT / path).exists(), f"Dockerfile copies {source}, which does not exist"
        assert path in allowed, f".dockerignore keeps {source} out of the build context"
    for package in ("core", "graph", "cards", "bot"):
        assert package in {s.rstrip("/") for s in sources}, f"the image lacks {package}/"
    for never in ("tests", "simtenant", "devtools", ".venv", "var"):
        assert never not in {s.rstrip("/") for s in sources}, f"the image must not contain {never}/"


def test_the_image_runs_app_py_as_a_non_root_user_on_all_interfaces() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")
    cmd = [json.loads(args) for keyword, args in instructions if keyword == "CMD"]
    assert cmd == [["python", "app.py"]]
    script = ROOT / cmd[0][1]
    tree = ast.parse(script.read_text(encoding="utf-8"))
    assert any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body), "app.py has no main()"
    assert 'if __name__ == "__main__":' in script.read_text(encoding="utf-8")
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "HOST=0.0.0.0" in env and "STATE_DB=/data/" in env
    assert ("VOLUME", '["/data"]') in instructions
    assert ("EXPOSE", "3978") in instructions
    run = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "pip install ." in run and "[test]" not in run


def test_the_health_check_path_is_the_one_app_py_serves() -> None:
    source = (ROOT / "app.py").read_text(encoding="utf-8")
    served = set(re.findall(r'add_get\("([^"]+)", healthz\)', source))
    assert served == {"/healthz"}
    health = [args for keyword, args in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0] and "urllib" in health[0]
    guide = DEPLOY.read_text(encoding="utf-8")
    assert "--health-check-path /healthz" in guide
    assert "WEBSITE_HEALTHCHECK_MAXPINGFAILURES" in guide
    assert 'add_post("/api/messages"' in source and "https://<BOT_HOST>/api/messages" in guide


@pytest.mark.parametrize("spelled", sorted(GRAPH_PERMISSIONS))
def test_permission_names_in_the_reference_list_are_well_formed(spelled: str) -> None:
    assert PERMISSION_SHAPE.match(spelled)


def test_graph_permissions_in_the_guide_are_spelled_as_graph_spells_them() -> None:
    guide = DEPLOY.read_text(encoding="utf-8")
    tokens = {token.rstrip(".") for token in re.findall(r"[A-Za-z][A-Za-z.]+(?:-[A-Za-z][A-Za-z.]+)?", guide)}
    named = {token for token in tokens if PERMISSION_LIKE.match(token)}
    misspelled = sorted(n for n in named if n not in GRAPH_PERMISSIONS)
    assert not misspelled, f"not a Graph permission as spelled (case matters): {misspelled}"
    for needed in (
        "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
        "PrivilegedAssignmentSchedule.Read.AzureADGroup",
        "PrivilegedEligibilitySchedule.Read.AzureADGroup",
        "RoleManagementPolicy.Read.AzureADGroup",
        "User.Read",
    ):
        assert needed in named, f"docs/deploy.md does not name {needed}"


def test_the_guide_marks_unbuilt_features_and_names_the_sso_constants() -> None:
    guide = DEPLOY.read_text(encoding="utf-8")
    # The marker is explained where the status of features is listed (approvals in Teams, step-up, the admin feed
    # and its discovery of PIM groups have shipped; what is added to the guide before it is built gets marked).
    assert NOT_IMPLEMENTED in guide
    for fact in (
        "api://botid-",
        "access_as_user",
        "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
        "5e3ce6c0-2b1f-4285-8d4b-75ee78787346",
        "https://token.botframework.com/.auth/web/redirect",
        "/auth/stepup/callback",
        "token.botframework.com",
    ):
        assert fact in guide, fact
