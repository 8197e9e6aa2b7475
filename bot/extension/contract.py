"""The contract between Entra PIM and the bot's custom-extension endpoint (issue 15), in one place.

Sources: "Configure custom extensions for role activation in PIM (preview)"
(learn.microsoft.com/entra/id-governance/privileged-identity-management/privileged-identity-management-custom-extensions,
cited below as [how-to]); the rest as ../shared/reference/pim-custom-extension.md tags it. What is inferred says so.

Request: `POST {PATH}` on the bot's public host, the URL the extension's `httpRequestEndpoint.targetUrl` names
([how-to]: "A REST API endpoint that accepts HTTP POST requests"). Header `Authorization: Bearer <token>` ([how-to]:
"an HTTP Authorization header with a bearer token issued by Microsoft Entra ID"). Body: the raw
`privilegedAccessGroupAssignmentScheduleRequest` JSON at the top level (id, status, action, justification,
principalId, accessId, groupId, scheduleInfo, ticketInfo; read by graph.wire.parse_callout). Content-Type
`application/json` is [inferred] (not stated), so the body is read as JSON whatever the header says.

The token (checked before the body is read; any failure: 401, nothing evaluated, nothing stored or posted):
- signed RS256 by a key of the tenant's OpenID metadata (`{authority}/{tenant}/v2.0/.well-known/openid-configuration`
  → `jwks_uri`), the `kid` in its header;
- `aud` = the API's Application ID URI, `api://{endpoint host}/{client id}` (PIM_EXTENSION_APP_ID_URI; the
  extension's `azureAdTokenAuthentication.resourceId`), or that client id alone: [how-to] "Validate that the aud
  claim contains the Application ID URI"; an app whose `requestedAccessTokenVersion` is 2 gets v2 tokens whose `aud`
  is the client id GUID (third-party live tests, nathanmcnulty/azd-pim) — both are accepted;
- `iss` = the tenant: `https://sts.windows.net/{tenant}/` (v1 tokens) or `{authority}/{tenant}/v2.0` (v2, [how-to]),
  and `tid` = the tenant;
- `appid` (v1) / `azp` (v2) = PIM's first-party app (PIM_EXTENSION_CALLER_APP_ID, default PIM_CALLER_APP_ID): [how-to]
  "Validate that the appid claim (for V1 tokens) or azp claim (for V2 tokens) contains the value …". One revision of
  the page gives `1c67c054-65c8-4f7f-92a1-eb7ba6e48627` ("identifies Microsoft Entra Privileged Identity Management
  as the caller"), the current one a placeholder; a third party saw that id in a live token. Every one of these
  claims that is present must be PIM's, and one must be;
- `exp` in the future and `nbf` (if any) in the past, with five minutes of clock skew (Entra's usual allowance).

Answer (HTTP 200, JSON; [how-to] "Response model"): `{"evaluationId": str, "evaluationOutcome": "Approved" |
"AutoApproved" | "Denied", "reason": [str, ...]}`. The status code is not documented: 200 is what the one
third-party implementation returns (azd-pim's Logic App). Refusals: 401 `{"error": ...}` with `WWW-Authenticate:
Bearer` (bad, missing or foreign token), 400 `{"error": ...}` (not the request object), 413 (over MAX_BODY_BYTES),
404 when the bot has no rules file (the endpoint is off).

Timing and retries: the extension's `timeoutInMilliseconds` is 1000-60000 and `maximumRetries` 0-5 (Graph
`customExtensionClientConfiguration`). The bot answers within PIM_EXTENSION_DEADLINE_SECONDS (set it below the
extension's timeout): a rule that cannot decide by then answers PIM_EXTENSION_FALLBACK (default `Approved`: PIM's
normal approval still applies), and the log says why. A retry of the same request id gets the stored answer (same
evaluationId, outcome, reasons); only the first evaluation is posted to the admin feed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.extension import Evaluation

__all__ = ["MAX_BODY_BYTES", "PATH", "PIM_CALLER_APP_ID", "SKEW", "TokenRules", "answer_body"]

PATH = "/api/pim/evaluate"
PIM_CALLER_APP_ID = "1c67c054-65c8-4f7f-92a1-eb7ba6e48627"
SKEW = timedelta(minutes=5)
MAX_BODY_BYTES = 64 * 1024  # a schedule request is well under 2 KB; a justification is at most 500 characters

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True, slots=True)
class TokenRules:
    """What a caller token must say (module doc). `app_id_uri`: the Application ID URI the extension names;
    `tenant_id`: the bot's tenant; `authority_host`: Entra's (per cloud); `caller_app_ids`: PIM's app id(s)."""

    app_id_uri: str
    tenant_id: str
    authority_host: str
    caller_app_ids: tuple[str, ...] = (PIM_CALLER_APP_ID,)

    @property
    def metadata_url(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}/v2.0/.well-known/openid-configuration"

    @property
    def audiences(self) -> tuple[str, ...]:
        """The URI, and the client id at its end (the `aud` of v2 tokens) when it ends in one."""
        last = self.app_id_uri.rstrip("/").rsplit("/", 1)[-1]
        return (self.app_id_uri, last.lower()) if _GUID.match(last) else (self.app_id_uri,)

    @property
    def issuers(self) -> tuple[str, ...]:
        return (f"https://sts.windows.net/{self.tenant_id}/", f"{self.authority_host}/{self.tenant_id}/v2.0")

    def refusal(self, claims: Mapping[str, Any], now: datetime) -> str | None:
        """Why a token with these (signature-checked) claims is not PIM calling this bot; None when it is."""
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a.lower() in {x.lower() for x in self.audiences} for a in audiences):
            return f"the token is for another API (aud {aud!r}), not {self.app_id_uri}"
        if claims.get("iss") not in self.issuers or str(claims.get("tid", "")).lower() != self.tenant_id.lower():
            return f"the token is from another tenant or issuer ({claims.get('iss')!r})"
        callers = [claims[name] for name in ("appid", "azp") if name in claims]
        allowed = {c.lower() for c in self.caller_app_ids}
        if not callers or any(not isinstance(c, str) or c.lower() not in allowed for c in callers):
            return f"the token was issued to another app ({', '.join(map(str, callers)) or 'none named'}), not PIM"
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or now - SKEW >= datetime.fromtimestamp(exp, now.tzinfo):
            return "the token has expired"
        if nbf is not None and (
            not isinstance(nbf, int | float) or now + SKEW < datetime.fromtimestamp(nbf, now.tzinfo)
        ):
            return "the token is not valid yet"
        return None


def answer_body(evaluation: Evaluation) -> dict[str, Any]:
    """The JSON PIM reads ([how-to] "Response model")."""
    return {
        "evaluationId": evaluation.evaluation_id,
        "evaluationOutcome": evaluation.outcome.value,
        "reason": list(evaluation.reasons),
    }
