"""docs/observability: the Grafana dashboard and the Prometheus alert rules refer only to metrics a running bot's
/metrics serves (scraped over HTTP), and have the shape Grafana and Prometheus read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.support.scrape import PROMQL_METRIC, metrics_url, scrape
from tests.support.stack import running_stack

DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability"


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["gridPos"] and panel["targets"], panel
        exprs += [target["expr"] for target in panel["targets"]]
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((DOCS / "alerts.yml").read_text(encoding="utf-8"))
    rules: list[dict[str, Any]] = loaded["groups"][0]["rules"]
    return rules


def test_the_three_alert_rules_cover_feed_lag_graph_throttling_and_send_failures() -> None:
    rules = alert_rules()
    assert [r["alert"] for r in rules] == ["PimBotFeedLagging", "PimBotGraphThrottled", "PimBotSendFailures"]
    for rule in rules:
        assert rule["expr"] and rule["for"] and rule["labels"]["severity"] and rule["annotations"]["summary"], rule
    assert "pimbot_feed_lag_seconds" in rules[0]["expr"]
    assert "pimbot_graph_throttled_total" in rules[1]["expr"]
    assert "pimbot_connector_failures_total" in rules[2]["expr"]


async def test_every_metric_the_dashboard_and_the_alerts_name_is_in_a_scrape(tmp_path: Path) -> None:
    async with running_stack(tmp_path, METRICS_PORT="0") as stack:
        got = await scrape(metrics_url(stack))
    named = {m for expr in dashboard_exprs() + [r["expr"] for r in alert_rules()] for m in PROMQL_METRIC.findall(expr)}
    assert len(named) >= 20, named
    missing = sorted(m for m in named if not got.knows(m))
    assert not missing, f"not served by /metrics: {missing}"
