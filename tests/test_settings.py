"""Settings are read once, validated with every bad key named, and never show secrets."""

from __future__ import annotations

import re
from operator import attrgetter
from pathlib import Path

import pytest

from settings import AppType, Secret, SettingsError, StoreKind, UserTokenMode, load_settings
from tests.support.settings_env import variables_load_settings_reads

TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"

ROOT = Path(__file__).resolve().parent.parent


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
    assert s.bot.app_type is AppType.SINGLE_TENANT and not s.bot.anonymous
    assert s.graph.client_id == APP and s.graph.tenant_id == TENANT
    assert s.graph.client_secret.reveal() == "s3cret-value"
    assert s.graph.scope == "https://graph.microsoft.com/.default"
    assert s.access.allowed_tenants == (TENANT,)
    assert s.sign_in.user_tokens is UserTokenMode.SIMULATED


def test_no_app_id_refuses_to_start_unless_anonymous_mode_is_asked_for() -> None:
    env = production(MicrosoftAppId="")
    with pytest.raises(SettingsError) as e:
        load_settings(env)
    assert any("MicrosoftAppId is missing" in p and "BOT_ALLOW_ANONYMOUS" in p for p in e.value.problems)
    s = load_settings(dict(env, BOT_ALLOW_ANONYMOUS="1", GRAPH_CLIENT_ID=APP, GRAPH_TENANT_ID=TENANT))
    assert s.bot.anonymous


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
        APPROVAL_POLL_SECONDS="often",
        APPROVAL_REMINDER_MINUTES="1.5",
    )
    with pytest.raises(SettingsError) as e:
        load_settings(env)
    text = str(e.value)
    for key in ("PORT", "MicrosoftAppId", "MicrosoftAppType", "GRAPH_BASE_URL", "GRAPH_TIMEOUT_SECONDS", "LOG_LEVEL",
                "ALLOWED_TENANTS", "BOT_ALLOW_ANONYMOUS", "APPROVAL_POLL_SECONDS",
                "APPROVAL_REMINDER_MINUTES"):  # fmt: skip
        assert key in text, key


def test_single_tenant_needs_a_password_and_a_tenant() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(production(MicrosoftAppPassword="", MicrosoftAppTenantId="", GRAPH_TENANT_ID=TENANT,
                                 GRAPH_CLIENT_SECRET="x"))  # fmt: skip
    assert any("MicrosoftAppPassword" in p for p in e.value.problems)
    assert any("MicrosoftAppTenantId" in p for p in e.value.problems)


def test_sso_user_tokens_need_the_oauth_connection_name() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(production(USER_TOKENS="sso"))
    assert any("OAUTH_CONNECTION_NAME" in p for p in e.value.problems)
    s = load_settings(production(USER_TOKENS="sso", OAUTH_CONNECTION_NAME="graph-sso"))
    assert (s.sign_in.user_tokens, s.sign_in.oauth_connection_name) == (UserTokenMode.SSO, "graph-sso")


def test_sso_user_tokens_need_a_real_app_id() -> None:
    env = production(USER_TOKENS="sso", OAUTH_CONNECTION_NAME="graph-sso", MicrosoftAppId="", BOT_ALLOW_ANONYMOUS="1",
                     GRAPH_CLIENT_ID=APP, GRAPH_TENANT_ID=TENANT)  # fmt: skip
    with pytest.raises(SettingsError) as e:
        load_settings(env)
    assert any("USER_TOKENS=sso needs the bot's MicrosoftAppId" in p for p in e.value.problems)


def test_sovereign_graph_host_sets_the_token_scope(tmp_path: Path) -> None:
    s = load_settings(production(GRAPH_BASE_URL="https://graph.microsoft.us/v1.0"))
    assert s.graph.scope == "https://graph.microsoft.us/.default"
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert load_settings(production(CA_FILE=str(ca))).ca_file == ca
    with pytest.raises(SettingsError, match="CA_FILE"):
        load_settings(production(CA_FILE=str(tmp_path / "missing.pem")))


def test_secrets_never_show_in_repr_or_str() -> None:
    s = load_settings(production())
    for text in (repr(s), str(s), repr(s.bot.app_password), f"{s.graph.client_secret}"):
        assert "s3cret-value" not in text
    assert repr(Secret("")) == "Secret('')"


@pytest.mark.parametrize(
    ("cloud", "graph", "authority", "issuer", "metadata", "login", "scope", "oauth"),
    [
        ("public", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com",
         "https://api.botframework.com", "https://login.botframework.com/v1/.well-known/openidconfiguration",
         "https://login.microsoftonline.com/botframework.com", "https://api.botframework.com",
         "https://api.botframework.com"),
        ("usgov", "https://graph.microsoft.us/v1.0", "https://login.microsoftonline.us",
         "https://api.botframework.us", "https://login.botframework.azure.us/v1/.well-known/openidconfiguration",
         "https://login.microsoftonline.us/MicrosoftServices.onmicrosoft.us", "https://api.botframework.us",
         "https://api.botframework.azure.us"),
        ("china", "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://login.partner.microsoftonline.cn",
         "https://api.botframework.azure.cn", "https://login.botframework.azure.cn/v1/.well-known/openidconfiguration",
         "https://login.partner.microsoftonline.cn/microsoftservices.partner.onmschina.cn",
         "https://api.botframework.azure.cn", "https://token.botframework.azure.cn"),
    ],
)  # fmt: skip
def test_bot_cloud_presets_fill_every_endpoint(
    cloud: str, graph: str, authority: str, issuer: str, metadata: str, login: str, scope: str, oauth: str
) -> None:
    s = load_settings(production(BOT_CLOUD=cloud))
    e = s.bot.endpoints
    assert (s.graph.base_url, s.graph.authority_host) == (graph, authority)
    assert s.graph.scope == graph.removesuffix("/v1.0") + "/.default"
    assert (e.to_bot_from_channel_token_issuer, e.to_bot_from_channel_openid_metadata_url) == (issuer, metadata)
    assert (e.to_channel_from_bot_login_url, e.to_channel_from_bot_oauth_scope, e.oauth_url) == (login, scope, oauth)


def test_public_preset_matches_botbuilders_own_constants() -> None:
    from botframework.connector.auth import AuthenticationConstants as C
    from botframework.connector.auth import GovernmentConstants as G

    for cloud, consts, oauth in (("public", C, C.OAUTH_URL), ("usgov", G, G.OAUTH_URL_GOV)):
        e = load_settings(production(BOT_CLOUD=cloud)).bot.endpoints
        assert e.to_bot_from_channel_openid_metadata_url == consts.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
        assert e.to_bot_from_channel_token_issuer == consts.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
        # botbuilder's built-in clouds log in at PREFIX + tenant (DEFAULT_CHANNEL_AUTH_TENANT for MultiTenant).
        assert (
            e.to_channel_from_bot_login_url
            == consts.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX + consts.DEFAULT_CHANNEL_AUTH_TENANT
        )
        assert e.to_channel_from_bot_oauth_scope == consts.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        assert e.oauth_url == oauth


def test_each_endpoint_can_be_overridden_alone_on_top_of_a_preset() -> None:
    s = load_settings(
        production(
            BOT_CLOUD="usgov",
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL="https://keys.example/v1/.well-known/openidconfiguration/",
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER="https://issuer.example/",
            GRAPH_BASE_URL="https://dod-graph.microsoft.us/v1.0",
        )
    )
    e = s.bot.endpoints
    assert e.to_bot_from_channel_openid_metadata_url == "https://keys.example/v1/.well-known/openidconfiguration"
    assert e.to_bot_from_channel_token_issuer == "https://issuer.example/"  # compared verbatim with `iss`
    assert s.graph.base_url == "https://dod-graph.microsoft.us/v1.0"
    assert s.graph.scope == "https://dod-graph.microsoft.us/.default"
    assert e.to_channel_from_bot_oauth_scope == "https://api.botframework.us"  # the rest stays US Gov
    assert s.graph.authority_host == "https://login.microsoftonline.us"


def test_bad_cloud_and_endpoint_values_are_each_named() -> None:
    env = production(
        BOT_CLOUD="mars",
        OAUTH_URL="ftp://token.example",
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL="http://insecure.example/keys",
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER="api.botframework.com",
        TO_CHANNEL_FROM_BOT_LOGIN_URL="https:// spaced",
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE="scope",
        AUTHORITY_HOST="http://login.example",
    )
    with pytest.raises(SettingsError) as e:
        load_settings(env)
    for key in ("BOT_CLOUD", "OAUTH_URL", "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL", "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER",
                "TO_CHANNEL_FROM_BOT_LOGIN_URL", "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE", "AUTHORITY_HOST"):  # fmt: skip
        assert any(p.startswith(key + "=") for p in e.value.problems), key


def test_the_standard_ca_variables_are_honoured_when_ca_file_is_not_set(tmp_path: Path) -> None:
    ca = tmp_path / "bundle.pem"
    ca.write_text("x")
    assert load_settings(production(REQUESTS_CA_BUNDLE=str(ca))).ca_file == ca
    assert load_settings(production(SSL_CERT_FILE=str(ca))).ca_file == ca
    with pytest.raises(SettingsError, match="REQUESTS_CA_BUNDLE"):
        load_settings(production(REQUESTS_CA_BUNDLE=str(tmp_path / "missing.pem")))


def test_admins_are_object_ids_and_an_optional_group() -> None:
    admin, group = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    s = load_settings(production())
    assert (s.access.admins, s.access.admin_group) == ((), "")  # nobody is an admin until configured
    s = load_settings(production(BOT_ADMINS=f" {admin.upper()}, ,{APP}", BOT_ADMIN_GROUP=group))
    assert (s.access.admins, s.access.admin_group) == ((admin, APP), group)
    with pytest.raises(SettingsError) as e:
        load_settings(production(BOT_ADMINS=f"{admin},alice@contoso.com", BOT_ADMIN_GROUP="Bot Admins"))
    assert any("BOT_ADMINS" in p and "alice@contoso.com" in p for p in e.value.problems)
    assert any("BOT_ADMIN_GROUP" in p and "Bot Admins" in p for p in e.value.problems)


def test_approval_channels_map_groups_to_channel_ids_or_channel_links() -> None:
    group, other = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
    assert load_settings(production()).approvals.channels == ()
    link = "https://teams.microsoft.com/l/channel/19%3aAbC123%40thread.tacv2/Approvals?groupId=x&tenantId=y"
    s = load_settings(production(APPROVAL_CHANNELS=f"{group.upper()}=19:ops-approvals@thread.tacv2,\n {other}={link}"))
    assert s.approvals.channels == ((group, "19:ops-approvals@thread.tacv2"), (other, "19:AbC123@thread.tacv2"))
    with pytest.raises(SettingsError) as e:
        load_settings(production(APPROVAL_CHANNELS=f"Exchange-Admins=19:a@thread.tacv2,{group}=General,{other}"))
    bad = [p for p in e.value.problems if p.startswith("APPROVAL_CHANNELS")]
    assert len(bad) == 3 and all("19:…@thread.tacv2" in p for p in bad)
    with pytest.raises(SettingsError, match="twice"):
        load_settings(production(APPROVAL_CHANNELS=f"{group}=19:a@thread.tacv2,{group}=19:b@thread.tacv2"))


def check_setting(key: str, value: str | None, field: str, expected: object, named: str) -> None:
    """Production settings with `key` set to `value` (left out: None) load `field` as `expected`, or, when `expected`
    is SettingsError, are refused with a problem that starts with `named`."""
    env = production() if value is None else production(**{key: value})
    if expected is SettingsError:
        with pytest.raises(SettingsError) as e:
            load_settings(env)
        assert [p for p in e.value.problems if p.startswith(named)], e.value.problems
    else:
        assert attrgetter(field)(load_settings(env)) == expected


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("APPROVAL_POLL_SECONDS", None, "approvals.poll_seconds", 60.0),
        ("APPROVAL_POLL_SECONDS", "5", "approvals.poll_seconds", 5.0),
        ("APPROVAL_POLL_SECONDS", "3600", "approvals.poll_seconds", 3600.0),
        ("APPROVAL_POLL_SECONDS", "4.9", "approvals.poll_seconds", SettingsError),
        ("APPROVAL_POLL_SECONDS", "3601", "approvals.poll_seconds", SettingsError),
        ("APPROVAL_REMINDER_MINUTES", None, "approvals.reminder_minutes", 60),
        ("APPROVAL_REMINDER_MINUTES", "1", "approvals.reminder_minutes", 1),
        ("APPROVAL_REMINDER_MINUTES", "1320", "approvals.reminder_minutes", 1320),  # 22 h: before the expiry warning
        ("APPROVAL_REMINDER_MINUTES", "0", "approvals.reminder_minutes", SettingsError),
        ("APPROVAL_REMINDER_MINUTES", "1321", "approvals.reminder_minutes", SettingsError),
        ("TEAMS_REQUESTS_PER_SECOND", None, "bot.teams_requests_per_second", 30),  # Teams' cap per app per tenant
        ("TEAMS_REQUESTS_PER_SECOND", "50", "bot.teams_requests_per_second", 50),
        ("TEAMS_REQUESTS_PER_SECOND", "0", "bot.teams_requests_per_second", SettingsError),
        ("TEAMS_REQUESTS_PER_SECOND", "2.5", "bot.teams_requests_per_second", SettingsError),
        ("LIVE_CHECK_SECONDS", None, "live.check_seconds", 300.0),  # issue 14 point 2
        ("LIVE_CHECK_SECONDS", "0", "live.check_seconds", 0.0),  # off
        ("LIVE_CHECK_SECONDS", "3601", "live.check_seconds", SettingsError),
        ("LIVE_CHECK_SECONDS", "soon", "live.check_seconds", SettingsError),
        ("LIVE_POLL_SECONDS", None, "live.poll_seconds", 15.0),
        ("LIVE_POLL_SECONDS", "4", "live.poll_seconds", SettingsError),
        ("LIVE_NOTES", "Exchange-Admins=1 h.; x = y ", "live.notes", (("Exchange-Admins", "1 h."), ("x", "y"))),
    ],
)  # fmt: skip
def test_approval_timing_and_send_rate_defaults_and_bounds(
    key: str, value: str | None, field: str, expected: object
) -> None:
    check_setting(key, value, field, expected, named=f"{key}={value!r}")


@pytest.mark.parametrize("notes", ["Exchange-Admins", "=note", "Exchange-Admins=", "G=" + "x" * 301])
def test_a_live_note_that_is_not_group_equals_note_is_named(notes: str) -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(production(LIVE_NOTES=notes))
    assert [p for p in e.value.problems if p.startswith("LIVE_NOTES entry")], e.value.problems


def test_the_readme_settings_table_names_every_variable_load_settings_reads() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Settings") : readme.index("\n## ", readme.index("## Settings") + 1)]
    named = {
        name
        for line in table.splitlines()
        if line.startswith("|") and line.count("|") > 2
        for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line.split("|")[1])
    }
    missing = sorted(variables_load_settings_reads() - named)
    assert not missing, f"README.md's settings table lacks {missing}"


def test_the_demo_commands_exist_only_against_the_simulated_tenant() -> None:
    assert load_settings(production()).demo is False
    assert load_settings(production(BOT_DEMO="1")).demo is True
    sso = production(USER_TOKENS="sso", OAUTH_CONNECTION_NAME="sso", BOT_DEMO="true")
    with pytest.raises(SettingsError) as e:
        load_settings(sso)
    assert e.value.problems == ["BOT_DEMO is for the demo only: it needs USER_TOKENS=simulated (the simulated tenant)"]
    with pytest.raises(SettingsError, match="BOT_DEMO='perhaps' is not a boolean"):
        load_settings(production(BOT_DEMO="perhaps"))


def test_feed_settings_have_defaults_and_bounds() -> None:
    s = load_settings(production())
    assert (s.feed.channel, s.feed.groups, s.feed.poll_seconds, s.feed.digest_threshold) == ("", (), 60.0, 10)
    assert s.feed.discover is False and s.feed.export_max_days == 92
    assert load_settings(production(AUDIT_EXPORT_MAX_DAYS="0")).feed.export_max_days == 0  # the export off
    s = load_settings(
        production(
            FEED_CHANNEL="19:abc123@thread.tacv2",
            FEED_GROUPS=" Exchange-Admins, 0b1c2d3e-0000-4000-8000-000000000001 ,,",
            FEED_POLL_SECONDS="5",
            FEED_DIGEST_THRESHOLD="25",
            FEED_DISCOVER="yes",
        )
    )
    assert s.feed.channel == "19:abc123@thread.tacv2"
    link = "https://teams.microsoft.com/l/channel/19%3Aabc123%40thread.tacv2/Ops?groupId=x&tenantId=y"
    assert load_settings(production(FEED_CHANNEL=link)).feed.channel == "19:abc123@thread.tacv2"
    assert s.feed.groups == ("Exchange-Admins", "0b1c2d3e-0000-4000-8000-000000000001")
    assert (s.feed.poll_seconds, s.feed.digest_threshold) == (5.0, 25)
    assert s.feed.discover is True


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("FEED_CHANNEL", "general"),
        ("FEED_CHANNEL", "19:abc@thread.tacv2;messageid=17"),
        ("FEED_POLL_SECONDS", "1"),
        ("FEED_POLL_SECONDS", "3601"),
        ("FEED_POLL_SECONDS", "often"),
        ("FEED_DIGEST_THRESHOLD", "0"),
        ("FEED_DIGEST_THRESHOLD", "2.5"),
        ("FEED_DISCOVER", "sometimes"),
        ("AUDIT_EXPORT_MAX_DAYS", "-1"),
        ("AUDIT_EXPORT_MAX_DAYS", "367"),
        ("AUDIT_EXPORT_MAX_DAYS", "30.5"),
    ],
)
def test_bad_feed_settings_are_named(key: str, value: str) -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(production(**{key: value}))
    assert any(p.startswith(f"{key}=") for p in e.value.problems), e.value.problems


def test_the_teams_app_catalog_id_is_a_guid_or_unset() -> None:
    assert load_settings(production()).bot.teams_app_catalog_id == ""
    catalog = "B1C5353A-7ACA-41B3-830F-27D5218FE0E5"
    assert load_settings(production(TEAMS_APP_CATALOG_ID=catalog)).bot.teams_app_catalog_id == catalog.lower()
    with pytest.raises(SettingsError) as e:
        load_settings(production(TEAMS_APP_CATALOG_ID="PIM Bot"))
    assert any(p.startswith("TEAMS_APP_CATALOG_ID='PIM Bot' must be") for p in e.value.problems), e.value.problems


def test_the_store_is_sqlite_by_default_or_an_azure_blob_container() -> None:
    s = load_settings(production())
    assert s.store.kind is StoreKind.SQLITE and s.store.state_db == Path("var/state.sqlite3")
    url = "https://pimbot.blob.core.windows.net"
    s = load_settings(
        production(STORE="azureblob", AZURE_STORAGE_ACCOUNT_URL=url + "/", AZURE_STORAGE_CONTAINER="pim-bot")
    )
    assert (s.store.kind, s.store.account_url, s.store.container) == (StoreKind.AZUREBLOB, url, "pim-bot")
    azurite = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5LXZhbHVl;BlobEndpoint=x"
    s = load_settings(
        production(STORE="AzureBlob", AZURE_STORAGE_CONNECTION_STRING=azurite, AZURE_STORAGE_CONTAINER="abc")
    )
    assert s.store.connection_string.reveal() == azurite and "a2V5LXZhbHVl" not in repr(s)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"STORE": "redis"}, "STORE='redis' must be sqlite"),
        ({"STORE": "azureblob", "AZURE_STORAGE_CONTAINER": "pim"}, "STORE=azureblob needs AZURE_STORAGE_ACCOUNT_URL"),
        (
            {"STORE": "azureblob", "AZURE_STORAGE_ACCOUNT_URL": "http://pimbot.blob.core.windows.net"},
            "AZURE_STORAGE_ACCOUNT_URL='http://pimbot.blob.core.windows.net' must be an https:// URL",
        ),
        (
            {"STORE": "azureblob", "AZURE_STORAGE_ACCOUNT_URL": "https://a", "AZURE_STORAGE_CONNECTION_STRING": "x=y"},
            "set AZURE_STORAGE_ACCOUNT_URL or AZURE_STORAGE_CONNECTION_STRING, not both",
        ),
        (
            {"STORE": "azureblob", "AZURE_STORAGE_ACCOUNT_URL": "https://a"},
            "STORE=azureblob needs AZURE_STORAGE_CONTAINER",
        ),
        (
            {"STORE": "azureblob", "AZURE_STORAGE_ACCOUNT_URL": "https://a", "AZURE_STORAGE_CONTAINER": "Pim--Bot"},
            "AZURE_STORAGE_CONTAINER='Pim--Bot' is not a container name",
        ),
    ],
)
def test_bad_store_settings_are_named(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(production(**env))
    assert any(p.startswith(problem) for p in e.value.problems), e.value.problems


def test_the_pim_extension_is_off_by_default_and_its_uri_comes_from_the_public_host_and_app_id(tmp_path: Path) -> None:
    assert not load_settings(production()).extension.on
    rules = tmp_path / "rules.toml"
    rules.write_text("", encoding="utf-8")
    s = load_settings(production(PIM_EXTENSION_RULES=str(rules), PUBLIC_BASE_URL="https://bot.contoso.com"))
    assert s.extension.on and s.extension.app_id_uri == f"api://bot.contoso.com/{APP}"
    assert s.extension.caller_app_ids == ("1c67c054-65c8-4f7f-92a1-eb7ba6e48627",)
    assert (s.extension.deadline_seconds, s.extension.fallback) == (5.0, "Approved")


def test_bad_pim_extension_settings_are_each_named() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(
            production(
                PIM_EXTENSION_RULES="/nonexistent/rules.toml",
                PIM_EXTENSION_APP_ID_URI="https://bot.contoso.com",
                PIM_EXTENSION_CALLER_APP_ID="pim",
                PIM_EXTENSION_DEADLINE_SECONDS="90",
                PIM_EXTENSION_FALLBACK="AutoApproved",
            )
        )
    named = " ".join(e.value.problems)
    for key in ("PIM_EXTENSION_RULES", "PIM_EXTENSION_APP_ID_URI", "PIM_EXTENSION_CALLER_APP_ID",
                "PIM_EXTENSION_DEADLINE_SECONDS", "PIM_EXTENSION_FALLBACK"):  # fmt: skip
        assert key in named


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("ENDING_WARNING_MINUTES", None, "ending.warning_minutes", 10),
        ("ENDING_WARNING_MINUTES", "off", "ending.warning_minutes", None),
        ("ENDING_WARNING_MINUTES", "OFF", "ending.warning_minutes", None),
        ("ENDING_WARNING_MINUTES", "30", "ending.warning_minutes", 30),
        ("ENDING_WARNING_MINUTES", "1441", "ending.warning_minutes", SettingsError),
        ("ENDING_WARNING_MINUTES", "soon", "ending.warning_minutes", SettingsError),
        ("ENDING_WARNING_MINUTES", "2.5", "ending.warning_minutes", SettingsError),
        ("ELIGIBILITY_WARNING_DAYS", None, "ending.eligibility_days", 14),
        ("ELIGIBILITY_WARNING_DAYS", "off", "ending.eligibility_days", None),
        ("ELIGIBILITY_WARNING_DAYS", "30", "ending.eligibility_days", 30),
        ("ELIGIBILITY_WARNING_DAYS", "91", "ending.eligibility_days", SettingsError),
        ("ENDING_POLL_SECONDS", None, "ending.poll_seconds", 60.0),
        ("ENDING_POLL_SECONDS", "14", "ending.poll_seconds", SettingsError),
        ("ENDING_POLL_SECONDS", "3600", "ending.poll_seconds", 3600.0),
    ],
)  # fmt: skip
def test_ending_warnings_defaults_off_and_bounds(key: str, value: str | None, field: str, expected: object) -> None:
    check_setting(key, value, field, expected, named=f"{key}=")


def test_the_activation_timeout_outlasts_a_custom_extension_and_is_never_below_the_graph_timeout() -> None:
    """A selfActivate waits while PIM asks the group's custom extension (issue 15): its own, longer timeout."""
    assert load_settings(production()).graph.activation_timeout_seconds == 65
    assert load_settings(production(GRAPH_ACTIVATION_TIMEOUT_SECONDS="200")).graph.activation_timeout_seconds == 200
    for bad in ("forever", "0.05", "401"):
        with pytest.raises(SettingsError) as e:
            load_settings(production(GRAPH_ACTIVATION_TIMEOUT_SECONDS=bad))
        assert any("GRAPH_ACTIVATION_TIMEOUT_SECONDS" in p for p in e.value.problems), bad
    with pytest.raises(SettingsError) as e:
        load_settings(production(GRAPH_ACTIVATION_TIMEOUT_SECONDS="5", GRAPH_TIMEOUT_SECONDS="8"))
    assert any("shorter than GRAPH_TIMEOUT_SECONDS=8" in p for p in e.value.problems)
