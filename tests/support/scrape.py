"""A Prometheus scrape from a test's side: GET /metrics on the bot's metrics port, parsed by prometheus_client's own
parser (what Prometheus reads, not a regex of ours), and the metric names a PromQL expression refers to."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from app import METRICS_KEY
from tests.support.stack import Stack

# A metric name in PromQL: ours and the process collector's (label names and functions are not these).
PROMQL_METRIC = re.compile(r"\b((?:pimbot|process)_[a-z_]+)\b")
_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


@dataclass(frozen=True)
class Scrape:
    text: str
    content_type: str

    def families(self) -> set[str]:
        return {f.name for f in text_string_to_metric_families(self.text)}

    def value(self, sample: str, **labels: str) -> float:
        """The sum of the samples named `sample` whose labels include `labels` (0 when none)."""
        total = 0.0
        for family in text_string_to_metric_families(self.text):
            for s in family.samples:
                if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total

    def since(self, before: Scrape) -> Scrape:
        """The counts of this scrape less those of `before` (the metrics are the process's: other bots in this test
        process counted before), gauges as they are now."""
        return _Delta(self.text, self.content_type, before)

    def labels(self, sample: str, label: str) -> set[str]:
        return {
            s.labels[label]
            for f in text_string_to_metric_families(self.text)
            for s in f.samples
            if s.name == sample and label in s.labels
        }

    def knows(self, name: str) -> bool:
        """Whether a PromQL metric name (a counter's `_total`, a histogram's `_bucket`…) is one this scrape has."""
        families = self.families()
        return name in families or any(name.endswith(x) and name.removesuffix(x) in families for x in _SUFFIXES)


@dataclass(frozen=True)
class _Delta(Scrape):
    before: Scrape

    def value(self, sample: str, **labels: str) -> float:
        now = super().value(sample, **labels)
        gauge = not sample.endswith(("_total", "_count", "_sum", "_bucket"))
        return now if gauge else now - self.before.value(sample, **labels)

    def labels(self, sample: str, label: str) -> set[str]:
        """The label values whose count grew since `before`."""
        return {v for v in super().labels(sample, label) if self.value(sample, **{label: v}) > 0}


def metrics_url(stack: Stack, instance: int = 0) -> str:
    port = stack.servers[instance].app[METRICS_KEY].port
    assert port, "the bot serves no metrics (METRICS_PORT unset)"
    return f"http://127.0.0.1:{port}/metrics"


async def scrape(url: str) -> Scrape:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200, await r.text()
        return Scrape(await r.text(), r.headers["Content-Type"])
