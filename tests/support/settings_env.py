"""Which environment variables load_settings reads, found by asking it (for the docs' and README's settings
tables)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from settings import SettingsError, load_settings


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every key it was asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._values[key]

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def variables_load_settings_reads() -> set[str]:
    asked: set[str] = set()
    tenant, app = "7f3c1a2e-5b4d-4c6e-8f90-1a2b3c4d5e6f", "4b8e2f6a-9c1d-4e3f-a5b7-c9d1e3f5a7b9"
    production = {
        "MicrosoftAppId": app,
        "MicrosoftAppPassword": "x",
        "MicrosoftAppTenantId": tenant,
        "OAUTH_CONNECTION_NAME": "pim-graph",
    }
    for values in ({}, production, {"BOT_ALLOW_ANONYMOUS": "1", "USER_TOKENS": "simulated"}):
        env = RecordingEnv(values)
        try:
            load_settings(env)
        except SettingsError:
            pass  # a bad configuration is still read in full: every problem is named at once
        asked |= env.asked
    return asked
