"""Graph failures as values: the error envelope parsed once, and transport failures that may or may not have
reached Graph.

Hierarchy:

* GraphError            -- Graph answered with an HTTP error (envelope parsed by `parse_error`)
* GraphTransportError   -- no usable answer: connect/read timeouts, broken connections
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

__all__ = ["GraphError", "GraphTransportError", "acrs_claims_request", "parse_error", "parse_retry_after"]

# Codes the PIM back end is known to hide inside the message of an `UnknownError` (reference §8.1/§8.2).
# Longest first, and matched as whole words, so "RoleAssignmentExists" never matches inside a longer name.
KNOWN_CODES: tuple[str, ...] = (
    "RoleAssignmentRequestPolicyValidationFailed",
    "PendingRoleAssignmentRequest",
    "InvalidRoleAssignmentRequest",
    "RoleAssignmentDoesNotExist",
    "InvalidAuthenticationToken",
    "PermissionScopeNotGranted",
    "ResourceTypeNotSupported",
    "ActiveDurationTooShort",
    "RoleAssignmentExists",
    "MissingParameters",
    "ResourceIsLocked",
    "SubjectNotFound",
    "TooManyRequests",
    "RoleNotFound",
)
_WRAPPER_CODES = frozenset({"", "unknownerror"})
_ACRS_CODE = re.compile(r"\b(\w*AcrsValidationFailed)\b")
_KNOWN_CODE = re.compile(r"\b(" + "|".join(KNOWN_CODES) + r")\b")
_RULES_FAILED = re.compile(r"policy rules failed:?\s*(.*)", re.IGNORECASE | re.DOTALL)
_RULE_NAME = re.compile(r"\b([A-Z][A-Za-z]*Rule)\b")
_REASONS = re.compile(r"\breasons?\s*[:=]\s*(.*)", re.IGNORECASE | re.DOTALL)
_EXTENSION_DASH = re.compile(r"CustomExtension\w*\s+-\s+(.*)", re.IGNORECASE | re.DOTALL)
_WWW_AUTH_CLAIMS = re.compile(r'claims\s*=\s*"([^"]*)"', re.IGNORECASE)
_MESSAGE_CLAIMS = re.compile(r"\bclaims=", re.IGNORECASE)
# A URL-encoded value ends at whitespace, the next `&parameter`, or a quote (never part of an encoded value).
_URL_ENCODED_VALUE = re.compile(r"[^\s&\"']+")


class GraphError(Exception):
    """An HTTP error answer from Graph.

    `code` is the envelope's `error.code` as sent (often `UnknownError` from PIM); `inner_code` is the real code when it
    was wrapped inside the message. Decide on `effective_code`. `claims` is a claims-challenge JSON string (from a
    `claims=` suffix in the message or a `WWW-Authenticate` header), ready to hand to a token request.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        client_request_id: str | None = None,
        retry_after: float | None = None,
        claims: str | None = None,
        inner_code: str | None = None,
    ) -> None:
        super().__init__(f"{status} {inner_code or code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.retry_after = retry_after
        self.claims = claims
        self.inner_code = inner_code

    def __repr__(self) -> str:
        return (
            f"GraphError(status={self.status}, code={self.code!r}, inner_code={self.inner_code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )

    @property
    def effective_code(self) -> str:
        return self.inner_code or self.code

    def is_code(self, code: str) -> bool:
        return self.effective_code.casefold() == code.casefold()

    @property
    def is_acrs_failure(self) -> bool:
        return self.effective_code.casefold().endswith("acrsvalidationfailed")

    @property
    def failed_rules(self) -> tuple[str, ...]:
        """Rule names of a `RoleAssignmentRequestPolicyValidationFailed` message, in both observed forms:
        `... failed: ["ExpirationRule"]` and `... failed: MfaRule - Multi-factor authentication is required`."""
        match = _RULES_FAILED.search(self.message)
        if match is None:
            return ()
        tail = match.group(1).strip()
        names: list[str] = []
        if tail.startswith("["):
            try:
                listed, _ = json.JSONDecoder().raw_decode(tail)
            except ValueError:
                listed = None
            if isinstance(listed, list):
                names = [str(item) for item in listed]
        if not names:
            names = _RULE_NAME.findall(tail)
        return tuple(dict.fromkeys(names))

    @property
    def extension_reasons(self) -> tuple[str, ...]:
        """The reasons a PIM custom extension gave for a denial, from the refusal's message (the form is inferred: the
        simulated tenant's `... failed: ["CustomExtensionRule"] Reasons: ["…"]`, or `CustomExtensionRule - r1; r2`,
        or a list after `reason(s)`); () when the message carries none that read."""
        text = self.message
        listed = _REASONS.search(text)
        if listed is not None:
            try:
                value, _ = json.JSONDecoder().raw_decode(listed.group(1))
            except ValueError:
                value = None
            if isinstance(value, list):
                return tuple(str(item) for item in value if str(item).strip())
            if isinstance(value, str) and value.strip():
                return (value,)
        dashed = _EXTENSION_DASH.search(text)
        if dashed is not None:
            return tuple(part.strip() for part in dashed.group(1).split(";") if part.strip())
        return ()

    @property
    def authentication_context(self) -> str | None:
        """The auth context value (`c1`) a claims challenge asks for, if any."""
        if not self.claims:
            return None
        try:
            parsed = json.loads(self.claims)
        except ValueError:
            return None
        acrs = parsed.get("access_token", {}).get("acrs") if isinstance(parsed, dict) else None
        if not isinstance(acrs, dict):
            return None
        value = acrs.get("value")
        if isinstance(value, str):
            return value
        values = acrs.get("values")
        if isinstance(values, list) and values and isinstance(values[0], str):
            return values[0]
        return None


class GraphTransportError(Exception):
    """Graph gave no usable answer. `maybe_sent` is True when the request may have reached Graph (a read timeout after
    the body went out): a non-idempotent write must then be reconciled, never blindly repeated."""

    def __init__(self, detail: str, *, maybe_sent: bool, timeout: bool, client_request_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.maybe_sent = maybe_sent
        self.timeout = timeout
        self.client_request_id = client_request_id


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (Graph sends delta-seconds; an HTTP-date is not used by Graph and is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def parse_error(status: int, headers: Mapping[str, str], body: Any) -> GraphError:
    """Turn an HTTP error answer (status, headers, decoded JSON body or raw text/bytes) into a GraphError.

    Unwraps the PIM double-wrapped form: `code` `UnknownError` (or empty) with the real error serialized as JSON in
    `message` (`errorCode`/`code`), or a known code mentioned in the message text.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    envelope = _decode_body(body)
    error = envelope.get("error") if isinstance(envelope, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = _str(error.get("code"))
    message = _str(error.get("message"))
    inner = error.get("innerError") or error.get("innererror") or {}
    if not isinstance(inner, dict):
        inner = {}

    inner_code: str | None = None
    if code.casefold() in _WRAPPER_CODES:
        inner_code, message = _unwrap(message)
    if not code and not inner_code:
        # A body without an envelope (gateway pages, empty 429s): keep the text for the logs.
        if not message and envelope is not None and not isinstance(envelope, dict):
            message = str(envelope)[:500]
    if inner_code is None and code.casefold() in _WRAPPER_CODES and isinstance(inner.get("code"), str):
        inner_code = inner["code"] or None

    claims = _claims_from_message(message) or _claims_from_www_authenticate(lower.get("www-authenticate"))
    return GraphError(
        status=status,
        code=code,
        message=message,
        request_id=lower.get("request-id") or _opt_str(inner.get("request-id")),
        client_request_id=lower.get("client-request-id") or _opt_str(inner.get("client-request-id")),
        retry_after=parse_retry_after(lower.get("retry-after")),
        claims=claims,
        inner_code=inner_code,
    )


def _decode_body(body: Any) -> Any:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        text = body.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
    return body


def _unwrap(message: str) -> tuple[str | None, str]:
    """(real code, real message) from the message of a wrapper error."""
    text = message.strip()
    if text.startswith("{"):
        try:
            wrapped = json.loads(text)
        except ValueError:
            wrapped = None
        if isinstance(wrapped, dict):
            nested: dict[str, Any] = wrapped["error"] if isinstance(wrapped.get("error"), dict) else wrapped
            inner_code = _str(nested.get("errorCode") or nested.get("code")) or None
            inner_message = _str(nested.get("message")) or message
            if inner_code and inner_code.casefold() in _WRAPPER_CODES:
                # Wrapped twice over: look inside once more.
                deeper_code, deeper_message = _unwrap(inner_message)
                return deeper_code, deeper_message
            return inner_code or _code_in_text(inner_message), inner_message
    return _code_in_text(message), message


def _code_in_text(text: str) -> str | None:
    acrs = _ACRS_CODE.search(text)
    if acrs:
        return acrs.group(1)
    known = _KNOWN_CODE.search(text)
    if known:
        return known.group(1)
    if _RULES_FAILED.search(text):
        return "RoleAssignmentRequestPolicyValidationFailed"
    return None


def _claims_from_message(message: str) -> str | None:
    """The claims JSON object after `claims=` in a refusal's message, in either form seen:

    * URL-encoded, as real tenants answer (Azure/azure-powershell#25421):
      `&claims=%7B%22access_token%22%3A%7B%22acrs%22%3A%7B%22essential%22%3Atrue%2C%20%22value%22%3A%22c1%22%7D%7D%7D`;
    * raw JSON: `RoleAssignmentRequestAcrsValidationFailed claims={"access_token":{"acrs":{...}}}`.

    None when nothing after `claims=` decodes to a JSON object (the caller then builds the request from the policy)."""
    for match in _MESSAGE_CLAIMS.finditer(message):
        start = match.end()
        try:
            value, end = json.JSONDecoder().raw_decode(message, start)
        except ValueError:
            text = _url_decoded(_URL_ENCODED_VALUE.match(message, start))
            if text is not None:
                return text
            continue
        if isinstance(value, dict):
            return message[start:end]
    return None


def _url_decoded(match: re.Match[str] | None) -> str | None:
    """A URL-encoded JSON object, decoded (once, or twice when it was encoded twice over)."""
    text = match.group(0) if match else ""
    for _ in range(2):
        text = unquote(text, errors="replace")
        try:
            value = json.loads(text)
        except ValueError:
            continue
        return text if isinstance(value, dict) else None
    return None


def _claims_from_www_authenticate(header: str | None) -> str | None:
    """`WWW-Authenticate: Bearer ..., error="insufficient_claims", claims="<base64 JSON>"` (Graph CAE challenges)."""
    if not header:
        return None
    match = _WWW_AUTH_CLAIMS.search(header)
    if match is None:
        return None
    raw = match.group(1)
    if raw.lstrip().startswith("{"):
        return raw
    try:
        padded = raw + "=" * (-len(raw) % 4)
        decoded = base64.b64decode(padded, altchars=b"-_" if ("-" in raw or "_" in raw) else None, validate=False)
        text = decoded.decode("utf-8")
        json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return raw
    return text


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def acrs_claims_request(context: str) -> str:
    """The claims request for an authentication context (`c1`), as Microsoft documents it for a token request
    (https://learn.microsoft.com/entra/identity-platform/claims-challenge): what the bot asks for when PIM's refusal
    named the rule but no claims could be read from it (graph-pim-groups.md §8.2)."""
    return json.dumps({"access_token": {"acrs": {"essential": True, "value": context}}}, separators=(",", ":"))
