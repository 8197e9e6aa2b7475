"""Settings are read once, validated with every bad key named, and never show secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import AppType, Secret, SettingsError, UserTokenMode, load_settings

TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"


def production(**overrides: str) -> dict[str, str]:
    env = {
        "MicrosoftAppId": APP,
        "MicrosoftAppPassword": "s3cret-value",
        "MicrosoftAppTenantId": TENANT,
        "USER_TOKENS": "simulated",
        "SIMULATED_TENANT_URL": "https://127.0.0.1:9/_sim",
    }
    env.update(overrides)
    return env


def test_a_complete_configuration_loads_with_graph_defaults_from_the_bot_app() -> None:
    s = load_settings(production())
    assert s.app_type is AppType.SINGLE_TENANT and not s.anonymous
    assert s.graph_client_id == APP and s.graph_tenant_id == TENANT
    assert s.graph_client_secret.reveal() == "s3cret-value"
    assert s.graph_scope == "https://graph.microsoft.com/.default"
    assert s.allowed_tenants == (TENANT,)
    assert s.user_tokens is UserTokenMode.SIMULATED


def test_no_app_id_refuses_to_start_unless_anonymous_mode_is_asked_for() -> None:
    env = production(MicrosoftAppId="")
    with pytest.raises(SettingsError) as e:
        load_settings(env)
    assert any("MicrosoftAppId is missing" in p and "BOT_ALLOW_ANONYMOUS" in p for p in e.value.problems)
    s = load_settings(dict(env, BOT_ALLOW_ANONYMOUS="1", GRAPH_CLIENT_ID=APP, GRAPH_TENANT_ID=TENANT))
    assert s.anonymous


def test_every_bad_key_is_named_at_once() -> None:
    env = production(
        PORT="http",
        MicrosoftAppId="not-a-guid",
        MicrosoftAppType="Galactic",
        GRAPH_BASE_URL="http://graph.example",
        GRAPH_TIMEOUT_SECONDS="forever",
        LOG_LEVEL="LOUD",
        ALLOWED_TENANTS="contoso.com",
        BOT_ALLOW_ANONYMOUS="maybe",
    )
    with pytest.raises(SettingsError) as e:
        load_settings(env)
    text = str(e.value)
    for key in ("PORT", "MicrosoftAppId", "MicrosoftAppType", "GRAPH_BASE_URL", "GRAPH_TIMEOUT_SECONDS", "LOG_LEVEL",
                "ALLOWED_TENANTS", "BOT_ALLOW_ANONYMOUS"):  # fmt: skip
        assert key in text, key


def test_single_tenant_needs_a_password_and_a_tenant() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(production(MicrosoftAppPassword="", MicrosoftAppTenantId="", GRAPH_TENANT_ID=TENANT,
                                 GRAPH_CLIENT_SECRET="x"))  # fmt: skip
    assert any("MicrosoftAppPassword" in p for p in e.value.problems)
    assert any("MicrosoftAppTenantId" in p for p in e.value.problems)


def test_sso_user_tokens_are_refused_until_they_exist() -> None:
    with pytest.raises(SettingsError, match="USER_TOKENS=sso"):
        load_settings(production(USER_TOKENS="sso"))


def test_sovereign_graph_host_sets_the_token_scope(tmp_path: Path) -> None:
    s = load_settings(production(GRAPH_BASE_URL="https://graph.microsoft.us/v1.0"))
    assert s.graph_scope == "https://graph.microsoft.us/.default"
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert load_settings(production(CA_FILE=str(ca))).ca_file == ca
    with pytest.raises(SettingsError, match="CA_FILE"):
        load_settings(production(CA_FILE=str(tmp_path / "missing.pem")))


def test_secrets_never_show_in_repr_or_str() -> None:
    s = load_settings(production())
    for text in (repr(s), str(s), repr(s.app_password), f"{s.graph_client_secret}"):
        assert "s3cret-value" not in text
    assert repr(Secret("")) == "Secret('')"
