"""LOG_FORMAT, METRICS_PORT and the OTEL_* variables: validated at start, every bad one named."""

from __future__ import annotations

import pytest

from settings import LogFormat, SettingsError, load_settings

TENANT = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f"
APP = "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"


def env(**overrides: str) -> dict[str, str]:
    return {
        "MicrosoftAppId": APP,
        "MicrosoftAppPassword": "s3cret-value",
        "MicrosoftAppTenantId": TENANT,
        "USER_TOKENS": "simulated",
        "SIMULATED_TENANT_URL": "https://127.0.0.1:9/_sim",
        **overrides,
    }


def test_everything_is_off_by_default() -> None:
    observe = load_settings(env()).observe
    assert observe.log_format is LogFormat.TEXT
    assert observe.metrics_port is None and observe.tracing == ""


def test_json_logs_metrics_on_their_own_port_and_otlp_tracing_when_asked_for() -> None:
    observe = load_settings(
        env(
            LOG_FORMAT="JSON",
            METRICS_PORT="9464",
            METRICS_HOST="0.0.0.0",
            OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
            OTEL_SERVICE_NAME="pim-bot-prod",
        )
    ).observe
    assert observe.log_format is LogFormat.JSON
    assert (observe.metrics_port, observe.metrics_host) == (9464, "0.0.0.0")
    assert (observe.tracing, observe.service_name) == ("otlp", "pim-bot-prod")
    assert load_settings(env(OTEL_TRACES_EXPORTER="console")).observe.tracing == "console"
    assert load_settings(env(METRICS_PORT="9464")).observe.metrics_host == "127.0.0.1"  # HOST's default


@pytest.mark.parametrize(
    "overrides",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_SERVICE_NAME": "pim-bot"},  # a name alone exports nothing
    ],
)
def test_tracing_stays_off_when_the_sdk_variables_say_so(overrides: dict[str, str]) -> None:
    assert load_settings(env(**overrides)).observe.tracing == ""


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' must be text or json"),
        ({"METRICS_PORT": "metrics"}, "METRICS_PORT='metrics' must be a port number"),
        ({"METRICS_PORT": "70000"}, "METRICS_PORT='70000' must be a port number"),
        ({"METRICS_PORT": "3978"}, "METRICS_PORT=3978 is the bot's PORT"),
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER='jaeger': this bot exports traces with otlp"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318' must be"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL='grpc': this bot exports OTLP over HTTP only",
        ),
    ],
)
def test_a_bad_value_stops_the_start_and_is_named(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(env(**overrides))
    assert any(p.startswith(named) for p in e.value.problems), e.value.problems
