"""`python app.py` with a rules file that has an error refuses to start, naming the file's line (issue 15 point 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.processes import app_env

ROOT = Path(__file__).resolve().parents[2]
TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"

BAD_RULES = """\
[[rule]]
name = "on call"
group = "Network-Admins"

[rule.auto_approve]
on_shift = "ops-team"
"""


def test_a_rules_file_with_an_error_refuses_to_start_naming_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(BAD_RULES, encoding="utf-8")
    env = app_env(
        {
            "MicrosoftAppId": APP,
            "MicrosoftAppPassword": "bot-secret-value",
            "MicrosoftAppTenantId": TENANT,
            "USER_TOKENS": "simulated",
            "SIMULATED_TENANT_URL": "https://127.0.0.1:9/_sim",
            "STATE_DB": str(tmp_path / "state.sqlite3"),
            "PUBLIC_BASE_URL": "https://bot.contoso.com",
            "PIM_EXTENSION_RULES": str(rules),
        }
    )
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cannot start" in result.stderr
    assert (
        "PIM_EXTENSION_RULES: rules.toml line 6: rule 'on call': on_shift must be the team's id (a GUID), not "
        "'ops-team'" in result.stderr
    ), result.stderr
    assert not (tmp_path / "state.sqlite3").exists()  # refused before anything was opened
    assert "bot-secret-value" not in result.stderr + result.stdout
