"""`python -m admin extension setup`: make the bot a group's PIM custom extension (issue 15 point 4).

    python -m admin extension setup --group Security-Operators --url https://bot.contoso.com/api/pim/evaluate \
        --resource-id api://bot.contoso.com/<bot client id> [--access member|owner] [--timeout 10] [--retries 2] \
        [--dry-run]

It signs the operator in with the device code flow (msal: "To sign in, use a web browser to open the page … and
enter the code …"), with a DELEGATED token: Graph lets only a Privileged Role Administrator (or Global Administrator)
manage PIM custom extensions, and the change is theirs in the audit log, not the bot's. Scopes:
`PrivilegedAccess-CustomExt.ReadWrite.All`, `RoleManagementPolicy.ReadWrite.AzureADGroup` (and `GroupMember.Read.All`
to find a group by name). The public client is Microsoft Graph Command Line Tools (14d82eec-…, present in every
tenant) unless --client-id names one of yours. Then it creates (or updates) the extension and links it to the group's
policy: graph.extension_setup has the requests and their sources. `--dry-run` prints those requests and signs nobody in.

Defaults come from the bot's own environment where they exist: --tenant from MicrosoftAppTenantId (else
GRAPH_TENANT_ID), --resource-id from PIM_EXTENSION_APP_ID_URI, --url from PUBLIC_BASE_URL + /api/pim/evaluate,
--authority-host and --graph-url from BOT_CLOUD's endpoints, CA_FILE for an extra CA bundle.

Timeout and retries (docs/deploy.md): the extension's timeout must exceed the bot's answer deadline
(PIM_EXTENSION_DEADLINE_SECONDS, 5 s by default) with room for the network: 10 s; 2 retries ride over a restart.
When the bot activates for a user, Graph waits for PIM, which waits for the bot: the bot's activation timeout
(GRAPH_ACTIVATION_TIMEOUT_SECONDS) must exceed timeout × (retries + 1); the command warns when it does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

import httpx
import msal
import requests

from bot.extension.contract import PATH
from core.models import Access
from graph.client import GraphClient
from graph.errors import GraphTransportError
from graph.extension_setup import SCOPES, ExtensionConfig, SetupRefused, plan, set_up
from settings import CLOUDS, BotCloud

__all__ = ["GRAPH_CLI_CLIENT_ID", "main"]

# Microsoft Graph Command Line Tools: Microsoft's first-party public client (Connect-MgGraph uses it).
GRAPH_CLI_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
DEFAULT_TIMEOUT_SECONDS = 10
DEFAULT_RETRIES = 2
BOT_ACTIVATION_TIMEOUT_DEFAULT = 65.0  # settings.py GRAPH_ACTIVATION_TIMEOUT_SECONDS

# (prompt) -> token: the device-code sign-in, replaceable in tests that have no browser
SignIn = Callable[[argparse.Namespace, TextIO], str]


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    try:
        cloud = CLOUDS[BotCloud(env.get("BOT_CLOUD", "public").strip().lower() or "public")]
    except ValueError:
        cloud = CLOUDS[BotCloud.PUBLIC]
    graph_beta = cloud.graph_base_url.rsplit("/", 1)[0] + "/beta"
    public = env.get("PUBLIC_BASE_URL", "").strip().rstrip("/")
    parser = argparse.ArgumentParser(prog="python -m admin", description="Set the PIM Teams bot up in your tenant.")
    commands = parser.add_subparsers(dest="area", required=True)
    extension = commands.add_parser("extension", help="the bot as a PIM custom extension")
    actions = extension.add_subparsers(dest="action", required=True)
    setup = actions.add_parser(
        "setup", help="create the custom extension and link it to a group's PIM policy (Graph, as you)"
    )
    setup.add_argument("--group", required=True, help="the group's display name or object id")
    setup.add_argument("--access", choices=["member", "owner"], default="member", help="which policy (default member)")
    setup.add_argument(
        "--url",
        default=f"{public}{PATH}" if public else None,
        required=not public,
        help=f"the bot's endpoint, https://<bot host>{PATH} (default: PUBLIC_BASE_URL + {PATH})",
    )
    setup.add_argument(
        "--resource-id",
        default=env.get("PIM_EXTENSION_APP_ID_URI") or None,
        help="the bot API's Application ID URI, api://<bot host>/<client id> (default: PIM_EXTENSION_APP_ID_URI)",
    )
    setup.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_SECONDS, help="seconds PIM waits, 1-60 (10)")
    setup.add_argument("--retries", type=int, default=DEFAULT_RETRIES, help="PIM's retries, 0-5 (2)")
    setup.add_argument("--name", default="PIM Teams bot", help="the extension's display name")
    setup.add_argument("--tenant", default=env.get("MicrosoftAppTenantId") or env.get("GRAPH_TENANT_ID") or None)
    setup.add_argument("--client-id", default=GRAPH_CLI_CLIENT_ID, help="the public client to sign in with")
    setup.add_argument("--authority-host", default=env.get("AUTHORITY_HOST") or cloud.authority_host)
    setup.add_argument("--graph-url", default=graph_beta, help=f"Graph's base URL (default {graph_beta})")
    # The resource the delegated scopes name: Graph's origin in the cloud, whatever host --graph-url has (a proxy).
    setup.add_argument("--graph-resource", default=graph_beta.rsplit("/", 1)[0], help=argparse.SUPPRESS)
    setup.add_argument("--ca-file", default=env.get("CA_FILE") or None, help=argparse.SUPPRESS)
    setup.add_argument("--dry-run", action="store_true", help="print the Graph requests; sign in to nothing")
    return parser


def _problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if not args.url.startswith("https://") and not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        problems.append(f"--url {args.url!r} must be an https URL: PIM calls only HTTPS endpoints")
    if not args.resource_id or not args.resource_id.startswith("api://"):
        problems.append(
            "--resource-id must be the bot API's Application ID URI, api://<bot host>/<client id> "
            "(or set PIM_EXTENSION_APP_ID_URI)"
        )
    if not 1 <= args.timeout <= 60:
        problems.append(f"--timeout {args.timeout}: Graph accepts 1 to 60 seconds")
    if not 0 <= args.retries <= 5:
        problems.append(f"--retries {args.retries}: Graph accepts 0 to 5")
    if not args.dry_run and not args.tenant:
        problems.append("--tenant is missing (or set MicrosoftAppTenantId)")
    return problems


def _config(args: argparse.Namespace) -> ExtensionConfig:
    return ExtensionConfig(
        group=args.group,
        access=Access(args.access),
        target_url=args.url,
        resource_id=args.resource_id,
        timeout_seconds=args.timeout,
        retries=args.retries,
        display_name=args.name,
    )


def _print_plan(config: ExtensionConfig, graph_url: str, out: TextIO) -> None:
    out.write(f"Dry run: nothing is sent. As you (delegated: {', '.join(SCOPES)}), against {graph_url}:\n")
    for number, call in enumerate(plan(config, str(uuid.uuid4())), 1):
        query = "&".join(f"{k}={v}" for k, v in (call.params or {}).items())
        out.write(
            f"\n{number}. {call.purpose}\n   {call.method} {graph_url}{call.path}{'?' + query if query else ''}\n"
        )
        if call.body is not None:
            out.write("   " + json.dumps(call.body, indent=2).replace("\n", "\n   ") + "\n")


def device_code_sign_in(args: argparse.Namespace, out: TextIO) -> str:
    """The operator's delegated Graph token through the device code flow (msal, synchronous: run in a thread)."""
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would silently override `verify`
        if args.ca_file:
            session.verify = args.ca_file
        app = msal.PublicClientApplication(
            args.client_id,
            authority=f"{args.authority_host.rstrip('/')}/{args.tenant}",
            instance_discovery=False,
            http_client=session,
        )
        resource = args.graph_resource.rstrip("/")
        flow = app.initiate_device_flow(scopes=[f"{resource}/{scope}" for scope in SCOPES])
        if "user_code" not in flow:
            raise SetupRefused(f"Entra refused to start the sign-in: {flow.get('error_description') or flow}")
        out.write(str(flow["message"]) + "\n")
        out.flush()
        result = app.acquire_token_by_device_flow(flow)
    token = result.get("access_token")
    if not isinstance(token, str):
        raise SetupRefused(f"The sign-in did not complete: {result.get('error_description') or result.get('error')}")
    return token


async def _run(args: argparse.Namespace, out: TextIO, sign_in: SignIn) -> int:
    config = _config(args)
    token = await asyncio.to_thread(sign_in, args, out)
    trust = ssl.create_default_context()  # the system's CAs, and CA_FILE's beside them
    if args.ca_file:
        trust.load_verify_locations(cafile=args.ca_file)
    async with httpx.AsyncClient(verify=trust, timeout=30) as http:

        async def no_app_token() -> str:
            raise RuntimeError("every call of the setup is made with the operator's token")

        client = GraphClient(http, args.graph_url, no_app_token)
        result = await set_up(client, token, config)
    group = f"{result.group_name} ({result.group_id})" if result.group_name else result.group_id
    out.write(
        f"Custom extension {result.extension_id} {result.extension}: {config.target_url}, timeout "
        f"{config.timeout_seconds} s, {config.retries} retries, token audience {config.resource_id}.\n"
        f"Linked to the {config.access.value} policy {result.policy_id} of {group}: PIM now asks the bot before "
        "every activation there, whoever activates and wherever (portal, PowerShell, the bot).\n"
    )
    return 0


def main(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    out: TextIO | None = None,
    sign_in: SignIn | None = None,
) -> int:
    """Exit status: 0 done (or dry run printed), 1 Graph or the sign-in refused (said why), 2 bad arguments.
    Synchronous (it runs its own event loop): call it from a thread in async code."""
    env = os.environ if env is None else env
    out = out or sys.stdout
    parser = _parser(env)
    args = parser.parse_args(list(argv))
    problems = _problems(args)
    if problems:
        for problem in problems:
            out.write(f"error: {problem}\n")
        return 2
    worst = args.timeout * (args.retries + 1)
    if worst >= BOT_ACTIVATION_TIMEOUT_DEFAULT:
        out.write(
            f"warning: PIM may wait {worst} s for the bot ({args.timeout} s × {args.retries + 1} attempts); set the "
            f"bot's GRAPH_ACTIVATION_TIMEOUT_SECONDS above that (default {BOT_ACTIVATION_TIMEOUT_DEFAULT:.0f}), or "
            "activations the bot makes will time out before PIM decides.\n"
        )
    if args.dry_run:
        _print_plan(_config(args), args.graph_url.rstrip("/"), out)
        return 0
    try:
        return asyncio.run(_run(args, out, sign_in or device_code_sign_in))
    except SetupRefused as exc:
        out.write(f"error: {exc.message}\n")
        return 1
    except (GraphTransportError, httpx.HTTPError, requests.RequestException) as exc:
        out.write(f"error: Graph or Entra could not be reached: {exc}\n")
        return 1
