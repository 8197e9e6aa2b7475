"""PimBot, the router: Teams activities in, each routed to one small handler with a `bot.turn.Turn`.

No rules live here (core/), no Graph calls (graph/), no feature's work (bot.handlers, bot.approvals, bot.feed,
bot.signin). What is here is what every activity goes through: who the user is (an allowed tenant, how they read
times, their conversation remembered), where a command runs (a command that acts as the user continues in their 1:1
chat), the `match` over the parsed command or the clicked card's verb, and the sign-in a handler may run into
(`SignInRequired` → bot.signin, which resumes the command through `_dispatch`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import ActivityTypes, ChannelAccount

import cards
from bot.approvals import ApprovalDesk, ApprovalRecords
from bot.approvals.channels import ApprovalChannels
from bot.approvals.commands import ApprovalCommands
from bot.approvals.reach import Reach
from bot.conversations import Conversations
from bot.demo import DemoCommands
from bot.ending import EndingDesk, EndingSettings, KeepPlan
from bot.exports import AuditExports
from bot.extension.notices import ExtensionNotices
from bot.extension.records import ExtensionRecords
from bot.feed import FeedDesk
from bot.feed.commands import FeedCommands
from bot.handlers import status
from bot.handlers.activation import Activations
from bot.handlers.ending import Endings
from bot.handlers.history import Histories
from bot.handlers.replies import Replies
from bot.handlers.usage import Usage
from bot.health import Unreachable
from bot.live import LiveDesk
from bot.liveness import Liveness
from bot.observe.context import turn_failed
from bot.private import PrivateChats, PrivateChatUnavailable
from bot.reconcile import Check, Reconciler
from bot.signin import MISMATCH, SignIns, SsoSignIn, StepUp, log_mismatch
from bot.store import Store
from bot.transport import ProactiveAdapter
from bot.transport.activity import (
    NotAUser,
    actor_of,
    bot_name_of,
    card_action_data,
    command_text,
    conversation_kind,
    is_sign_out,
    is_upgrade,
    reference_of,
    sign_in_value,
)
from bot.transport.typing import TypingIndicator
from bot.turn import Turn, UserInput, invoke_card, invoke_done, invoke_message, send_card, send_text
from cards import wording
from cards.actions import CardAction, DecisionAction, InvalidCardAction, RunAction, Verb, parse_click
from cards.elements import JsonDict
from core.admins import Admins
from core.audit import ExportSource
from core.commands import (
    Activate,
    ApprovalChannel,
    AuditExport,
    Cancel,
    Command,
    Deactivate,
    Feed,
    Help,
    History,
    Pending,
    Status,
    parse,
)
from core.errors import IdentityMismatch, SignInRequired
from core.history import HistorySource
from core.models import Actor
from core.ports import Clock
from core.reach import AppInstaller
from core.service import PimService

__all__ = ["PimBot"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Answered where they are typed, also in a channel or group chat: help and the admin commands, which act as nobody
# and show nobody's access. Every other command acts as the user and continues in their 1:1 chat (bot.private).
ANSWERED_IN_PLACE = (Help, Feed, ApprovalChannel)


class PimBot(TeamsActivityHandler):
    """`sign_in` set: user tokens come from Teams SSO (bot.signin). None: the service's own token provider is used
    (the simulated tenant). `step_up` set: a refusal for want of MFA or an authentication context offers the step-up
    page. `proactive`: the Bot Connector outside a turn (bot.transport), for the pollers and resumed commands."""

    def __init__(
        self,
        service: PimService,
        conversations: Conversations,
        clock: Clock,
        allowed_tenants: Sequence[str] = (),
        sign_in: SsoSignIn | None = None,
        reminder_minutes: int = 60,
        feed: FeedDesk | None = None,
        *,
        store: Store,
        proactive: ProactiveAdapter,
        admins: Admins,
        reconciler: Reconciler,
        liveness: Liveness,
        approval_records: ApprovalRecords,
        step_up: StepUp | None = None,
        approval_channels: Sequence[tuple[str, str]] = (),
        installer: AppInstaller | None = None,
        fault: Callable[[str], None] | None = None,
        demo: DemoCommands | None = None,
        typing: TypingIndicator | None = None,
        history: HistorySource | None = None,
        exports: ExportSource | None = None,
        upload_session: aiohttp.ClientSession | None = None,
        export_max_days: int = 92,
        loopback_uploads: bool = False,
        ending: EndingSettings | None = None,
        live: LiveDesk | None = None,
    ) -> None:
        super().__init__()
        self._typing = typing or TypingIndicator()
        # Who may run admin commands (`approvals here …`, `feed here|off|status`): `await self.admins.is_admin(actor)`
        # with the authenticated actor; `self.admins.configured` False means nobody can (say how to configure it).
        self.admins = admins
        self._service = service
        self._conversations = conversations
        self._allowed_tenants = frozenset(t.lower() for t in allowed_tenants)
        self._proactive = proactive
        self._feed = feed
        # Approvals channels: `approvals here <group>` (stored) or APPROVAL_CHANNELS (group id, channel id).
        channels = ApprovalChannels(approval_records, clock, admins, approval_channels)
        # Approvers who never wrote: the app installed through Graph.
        self._reach = Reach(conversations, installer, proactive)
        self._approvals = ApprovalDesk(
            approval_records,
            conversations,
            proactive,
            clock,
            reminder_after=timedelta(minutes=reminder_minutes),
            channels=channels,
            on_settled=feed.tell if feed is not None else None,
            reconciler=reconciler,
            reach=self._reach,
            liveness=liveness,
            more_groups=self._feed_group_ids if feed is not None else None,
            as_user=self.as_user,
            fault=fault,
        )
        # Writes whose answer was lost: followed up in the background until PIM shows what became of them.
        self._reconcile = reconciler
        self._private = PrivateChats(conversations, self._reach, proactive)
        self._signins = SignIns(store, clock, service, proactive, self._dispatch, sso=sign_in, step_up=step_up)
        # The handlers, one per kind of command or click.
        self._replies = Replies(approval_records, clock)
        self._usage = Usage(admins, self._replies, demo=demo is not None)
        notices = ExtensionNotices(ExtensionRecords(store), clock)  # PIM's custom extension's word (bot.extension)
        self._activations = Activations(
            conversations, self._replies, self._approvals, reconciler, self._signins, notices, live
        )
        self._approval_commands = ApprovalCommands(self._approvals, channels)
        self._feed_commands = FeedCommands(feed, admins)
        self._demo = demo  # `demo …` commands: only in the demo (BOT_DEMO)
        self._history = Histories(history, clock, self._replies)  # `history`: the user's own requests
        # `audit export`: the admins' CSV of the monitored groups, delivered as a file in their 1:1 chat
        self._exports = AuditExports(
            exports,
            admins,
            store,
            clock,
            upload_session,
            monitored=feed.monitored if feed is not None else None,
            names=service.display_names,
            max_days=export_max_days,
            records=approval_records,
            loopback_http=loopback_uploads,
        )
        # Access about to end: the worker (bot.ending) and the buttons of its cards (bot.handlers.ending).
        self.ending = EndingDesk(
            store, proactive, conversations, service, clock, ending or EndingSettings(), self._keep_at_end
        )
        self._endings = Endings(self._activations, self.ending.plans, clock)

    # ---- background work (app.py runs it on timers) ---------------------------------------------------------------

    async def poll_approvals(self) -> int:
        """One sweep for decisions made outside the bot (bot.approvals.ApprovalDesk.poll_once)."""
        return await self._approvals.poll_once(self._service)

    async def follow_up_unconfirmed(self) -> int:
        """One sweep over the writes whose answer was lost (bot.reconcile); how many the person was told about."""
        return await self._reconcile.sweep(self._follow_up)

    async def ending_cycle(self) -> int:
        """One cycle of the worker of access about to end (bot.ending.EndingDesk.cycle)."""
        return await self.ending.cycle()

    async def _keep_at_end(self, plan: KeepPlan) -> None:
        """A Keep it whose time came, carried out as the user in a proactive turn of their 1:1 chat, as the command they
        would type (`Endings.command_of`): Teams SSO's token service answers for them there as for their own command,
        and a sign-in, step-up, approval or policy question is met as for that command."""
        reference = await self._conversations.user_reference(plan.user_id)
        if reference is None:
            log.warning("no personal chat with %s to keep %s in", plan.user_id, plan.group.id)
            return
        user = reference.get("user") or {}
        styles = await self._conversations.user_styles([plan.user_id])
        style = styles[plan.user_id]
        actor = Actor(
            plan.user_id,
            str(reference.get("tenantId") or ""),
            str(user.get("name") or ""),
            time_zone=style.zone,
            channel_user_id=str(user.get("id") or ""),
            locale=style.locale,
        )

        typed = self._endings.command_of(plan)

        async def run(context: TurnContext) -> None:
            await send_text(context, wording.keeping(plan.group.display_name))
            await self._dispatch(context, actor, UserInput(typed))

        await self._proactive.continue_as(reference, run)

    async def drain(self, within: float) -> None:
        """Let the card updates still running after approval clicks finish, for up to `within` seconds (before the
        process stops; what is cut short is finished by the approval poller of the next start)."""
        await self._approvals.drain(within)

    async def _follow_up(self, check: Check, settled: bool, final: bool) -> bool:
        """One try of a follow-up, in a proactive turn of the person's conversation (a delegated read then has the
        person's token source, as their own command would)."""
        done: list[bool] = []

        async def run(context: TurnContext) -> None:
            turn = self._turn(context, check.actor)
            if check.decision is not None:
                confirmed = self._approval_commands.confirm(turn, check.decision, settled=settled, final=final)
            else:
                assert check.write is not None
                confirmed = self._activations.confirm(turn, check.write, settled=settled, final=final)
            done.append(await confirmed)

        await self._proactive.continue_as(check.reference, run)
        return bool(done and done[0])

    async def as_user(self, user_id: str, work: Callable[[PimService, Actor], Awaitable[T]]) -> T:
        """`work(service, actor)` with the user's delegated token, outside any turn of theirs: in a proactive turn of
        their 1:1 chat, where Teams SSO's token service answers for them. LookupError if the bot has no such chat."""
        reference = await self._conversations.user_reference(user_id)
        if reference is None:
            raise LookupError(f"no personal chat with {user_id}")
        user = reference.get("user") or {}
        actor = Actor(
            user_id,
            str(reference.get("tenantId") or ""),
            str(user.get("name") or ""),
            channel_user_id=str(user.get("id") or ""),
        )
        done: list[T] = []

        async def run(context: TurnContext) -> None:
            done.append(await work(self._signins.service_for(context, actor), actor))

        await self._proactive.continue_as(reference, run)
        return done[0]

    async def _feed_group_ids(self) -> list[str]:
        """The admin feed's groups (FEED_GROUPS and discovered ones): the approval poller relays their requests too."""
        assert self._feed is not None
        return [group.id for group in await self._feed.monitored()]

    # ---- messages ---------------------------------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        try:
            await super().on_turn(turn_context)
        finally:
            TypingIndicator.stop(turn_context)  # a turn that ended without an answer shows no late indicator

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        actor = await self._actor(turn_context)
        if actor is None:
            return
        data = card_action_data(activity)
        said = UserInput(command_text(activity) if data is None else None, data)
        if data is None and is_sign_out(said.text or ""):
            await self._signins.sign_out(self._turn(turn_context, actor))
            return
        if conversation_kind(activity) != "personal" and not _answered_in_place(said, activity):
            await self._continue_privately(self._turn(turn_context, actor), said)
            return
        await self._dispatch(turn_context, actor, said)

    async def _continue_privately(self, turn: Turn, said: UserInput) -> None:
        """A command that acts as the user, sent in a channel or group chat: it runs in the user's 1:1 chat as if typed
        there (sign-in card, resumption, result); where it was sent, one line says so, or how to make the 1:1 chat
        reachable. Nothing about the user's access and no sign-in card is posted in the shared conversation."""
        actor = turn.actor
        intro = wording.private_intro(turn.where, said.text)
        try:
            reference = await self._private.open(turn, intro)
        except PrivateChatUnavailable as e:
            await turn.send_text(wording.PRIVATE_CHAT_REFUSED if e.refused else wording.PRIVATE_CHAT_FAILED)
            return
        await turn.send_text(wording.REPLIED_PRIVATELY)

        async def run(private: TurnContext) -> None:
            try:
                await self._dispatch(private, actor, said)
            except Exception:  # told where the user now looks, not in the channel
                log.exception("a command of %s continued in the 1:1 chat failed", actor.object_id)
                await send_text(private, wording.SORRY)

        log.info("continuing a command of %s from a %s in the 1:1 chat", actor.object_id, turn.where)
        await self._proactive.continue_as(reference, run)

    async def _dispatch(self, turn_context: TurnContext, actor: Actor, said: UserInput) -> None:
        """Run a typed command or a clicked Action.Submit; also the resumption after a sign-in (bot.signin.Resume)."""
        turn = self._turn(turn_context, actor)
        try:
            if said.data is not None:
                await turn.typing()
                answer = await self._click(turn, said.data, invoke=False)
                if isinstance(answer, str):
                    await turn.send_text(answer)
                else:
                    await self._replies.card(turn, answer, kind="action-result")
                return
            await self._command(turn, said.text or "")
        except SignInRequired:
            await self._ask_sign_in(turn, said)
        except IdentityMismatch as e:
            log_mismatch(turn_context, actor, e)
            await turn.send_text(MISMATCH)

    async def _ask_sign_in(self, turn: Turn, said: UserInput) -> None:
        if turn.where != "personal":
            # Never a sign-in card where others see it (no SSO in channel scope): the sign-in happens privately.
            log.error("a command in a %s asked for a sign-in (activity %s)", turn.where, turn.activity.id)
            await self._continue_privately(turn, said)
            return
        await self._signins.ask(turn, said)

    async def _command(self, turn: Turn, text: str) -> None:
        """A typed command, to its handler."""
        if self._demo is not None and self._demo.is_demo_command(text):
            await self._demo.run(turn, text)
            return
        command = _command_of(text, turn.activity)
        match command:
            case Help() if command.slip:
                await self._usage.slip(turn, command)
                return
            case Help():
                await self._usage.show(turn)
                return
        # The typing indicator goes out before any Graph call, so the user sees at once that the bot is on it.
        await turn.typing()
        match command:
            case Status():
                await status.show(turn, self._replies)
            case Activate():
                await self._activations.activate(turn, command, UserInput(text))
            case Deactivate():
                await self._activations.deactivate(turn, command)
            case Cancel():
                await self._approval_commands.cancel(turn, command)
            case Pending():
                await self._approval_commands.pending(turn)
            case ApprovalChannel():
                await self._approval_commands.channel(turn, command)
            case Feed():
                await self._feed_commands.run(turn, command)
            case History():
                await self._history.show(turn, command.page)
            case AuditExport():
                await self._exports.run(turn, command)

    async def _click(self, turn: Turn, data: Mapping[str, Any], *, invoke: bool) -> JsonDict | str:
        """A clicked button, to its handler: the card that answers it (an invoke's replaces the clicked card), or a
        text."""
        try:
            action = parse_click(data)
        except InvalidCardAction as e:
            log.info("refused card data: %s", e)
            return cards.help_card(e.user_message)
        match action:
            case RunAction(command="help"):
                return await self._usage.card(turn.where, turn.actor)
            case RunAction(command="demo request"):
                if self._demo is None:  # only the demo offers this button: anywhere else it is one that does not work
                    return cards.help_card(InvalidCardAction.user_message)
                return await self._demo.request(turn.actor)
            case RunAction() if turn.where != "personal":
                # The user's own access is never shown where others read: it continues in the 1:1 chat.
                await self._continue_privately(turn, UserInput(action.command))
                return wording.REPLIED_PRIVATELY
            case RunAction(command=command) if (page := _history_page(command)) is not None:
                return await self._history.answer(turn, page)
            case RunAction():
                return await status.answer(turn)
            case DecisionAction():
                return await self._approval_commands.click(turn, action, invoke=invoke)
            case CardAction(verb=Verb.KEEP_ACTIVE):
                return await self._endings.keep(turn, action, UserInput(data=data), invoke=invoke)
            case CardAction(verb=Verb.ASK_EXTEND | Verb.ASK_RENEW):
                return await self._endings.ask(turn, action)
            case CardAction(verb=Verb.DEACTIVATE):
                return await self._activations.click_deactivate(turn, action, invoke=invoke)
            case CardAction():
                return await self._activations.click(turn, action, UserInput(data=data), invoke=invoke)

    # ---- invokes ----------------------------------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        match activity.name:
            case "adaptiveCard/action":
                return await self._on_card_invoke(turn_context)
            case "signin/tokenExchange" | "signin/verifyState":
                actor = await self._actor(turn_context)
                if actor is None:
                    log.warning("ignored %s (activity %s): no user", activity.name, activity.id)
                    return invoke_done()
                return await self._signins.complete(self._turn(turn_context, actor))
            case "fileConsent/invoke":
                # The admin's answer to an audit export's file consent card (bot.exports). Answered 200 with no body,
                # as botbuilder's TeamsActivityHandler answers it; what happened is said in the chat.
                actor = await self._actor(turn_context)
                if actor is None:
                    return invoke_done()
                await self._exports.consent(self._turn(turn_context, actor))
                return invoke_done()
            case "signin/failure":
                # The Teams client could not do SSO (e.g. resourcematchfailed: the connection's exchange URL is not the
                # app's api://botid-... URI). botbuilder has no handler (it answers 501); the client shows the button.
                value = sign_in_value(activity)
                log.warning(
                    "Teams SSO failed on the client (activity %s): %s %s",
                    activity.id,
                    value.failure_code if value else "",
                    value.failure_message if value else "",
                )
                return invoke_done()
        # Any other name (task/fetch, composeExtension/*, a made-up or missing one): this bot offers none of them, and
        # botbuilder's answer would be a 501. A neutral 200 instead (issue 10, point 2).
        log.info("ignored invoke %.80r (activity %s)", activity.name, activity.id)
        return invoke_done()

    async def _on_card_invoke(self, turn_context: TurnContext) -> InvokeResponse:
        """An Action.Execute click: always answered (else Teams shows a generic failure), with the card that replaces
        the clicked one or a text."""
        actor: Actor | None = None
        try:
            actor = await self._actor(turn_context)
            if actor is None:
                return invoke_message("This action is not available here.")
            turn = self._turn(turn_context, actor)
            try:
                refused = await self._signins.complete_click(turn)
                if refused is not None:
                    return refused
                answer = await self._click(turn, card_action_data(turn_context.activity) or {}, invoke=True)
            except SignInRequired:
                return await self._signins.login_request(turn)
            return invoke_message(answer) if isinstance(answer, str) else invoke_card(answer)
        except IdentityMismatch as e:
            log_mismatch(turn_context, actor, e)
            return invoke_message(MISMATCH)
        except Exception:  # an invoke must always be answered, or Teams shows a generic failure
            log.exception("card action failed (activity %s)", turn_context.activity.id)
            turn_failed()
            return invoke_message(wording.SORRY)

    # ---- installation -----------------------------------------------------------------------------------------

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        if not await self._installed(turn_context):
            return
        activity = turn_context.activity
        where = conversation_kind(activity)
        if where != "personal":
            # Added to a team (Teams posts this in the channel picked at install) or to a group chat: what works
            # there, not the 1:1 usage. An upgrade of an app already there says nothing again.
            if not is_upgrade(activity):
                await send_card(turn_context, cards.welcome_card(where, bot_name_of(activity)))
            return
        user = str(getattr(activity.from_property, "aad_object_id", None) or "")
        if user and self._reach.installed_by_bot(user):
            return  # an approver the bot installed itself for: the approval card on its way is their first message
        await send_card(turn_context, await self._usage.card(where, _actor_or_none(turn_context)))

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # Not TeamsActivityHandler's version: it looks up every added member in the roster (one call each) and fails
        # the turn for members it cannot find. The bot only needs to remember where it was added.
        activity = turn_context.activity
        added: list[ChannelAccount] = activity.members_added or []
        if any(m.id == activity.recipient.id for m in added):
            await self._installed(turn_context)

    async def _installed(self, turn_context: TurnContext) -> bool:
        """The bot was added (installed by the user, for them by a Teams admin's setup policy, or by the bot itself
        through Graph): remember the conversation and, in a personal chat, whose it is (`from.aadObjectId`), exactly
        as a message would, so someone who never typed a word can be sent an approval card. False for a tenant the
        bot does not serve (nothing is remembered or said)."""
        activity = turn_context.activity
        actor = _actor_or_none(turn_context)  # none, e.g. added to a team by an event without a user: still kept
        if actor is not None and self._allowed_tenants and actor.tenant_id not in self._allowed_tenants:
            log.warning("ignored the installation in activity %s from tenant %r", activity.id, actor.tenant_id)
            return False
        await self._remember(turn_context, actor)
        return True

    # ---- who, and their turn ----------------------------------------------------------------------------------

    def _turn(self, turn_context: TurnContext, actor: Actor) -> Turn:
        return Turn(turn_context, actor, self._signins.service_for(turn_context, actor), self._typing)

    async def _actor(self, turn_context: TurnContext) -> Actor | None:
        """The activity's user, with how they read times; None (and nothing said) for no user or a tenant the bot does
        not serve. Their conversation is remembered."""
        activity = turn_context.activity
        try:
            actor = actor_of(activity)
        except NotAUser:
            log.info("ignoring %s activity %s without a user object id", activity.type, activity.id)
            return None
        if self._allowed_tenants and actor.tenant_id not in self._allowed_tenants:
            # Refused before any logic; nothing is said to a tenant the bot does not serve.
            log.warning("refused activity %s from tenant %r", activity.id, actor.tenant_id)
            return None
        actor = await self._with_known_style(actor)
        await self._remember(turn_context, actor)
        return actor

    async def _with_known_style(self, actor: Actor) -> Actor:
        """An activity without the user's time zone or locale (a card click's invoke, an install event) is answered
        the way their last message said they read times, so one person's cards do not switch between zones."""
        if actor.time_zone and actor.locale:
            return actor
        try:
            known = (await self._conversations.user_styles([actor.object_id]))[actor.object_id]
        except Exception:  # the answer in UTC beats no answer
            log.warning("could not read how %s reads times", actor.object_id, exc_info=True)
            return replace(actor, time_zone=actor.time_zone or actor.fallback_zone)
        # The activity's own offset (localTimestamp) only when no IANA zone is known: it cannot tell summer time.
        zone = actor.time_zone or known.zone or actor.fallback_zone
        return replace(actor, time_zone=zone, locale=actor.locale or known.locale)

    async def _remember(self, turn_context: TurnContext, actor: Actor | None) -> None:
        activity = turn_context.activity
        try:
            await self._conversations.remember(actor, reference_of(activity), conversation_kind(activity))
        except Exception:  # losing a reference must not cost the user their answer
            log.exception("could not store the conversation reference of activity %s", activity.id)


def _answered_in_place(said: UserInput, activity: Any) -> bool:
    """A command (typed, or a button that runs one) that is answered where it was sent, also in a channel or group
    chat: help and the admin commands. Every other one acts as the user and continues in their 1:1 chat."""
    if said.data is None:
        return isinstance(_command_of(said.text, activity), ANSWERED_IN_PLACE)
    try:
        action = parse_click(said.data)
    except InvalidCardAction:
        return False
    return isinstance(action, RunAction) and action.command == "help"


_HISTORY_RUN = re.compile(r"history(?: (\d+))?")


def _history_page(command: str) -> int | None:
    """The page a history button's command asks for (`history`, `history 2`), None for another command."""
    m = _HISTORY_RUN.fullmatch(command)
    return None if m is None else int(m.group(1) or 1)


def _actor_or_none(turn_context: TurnContext) -> Actor | None:
    try:
        return actor_of(turn_context.activity)
    except NotAUser:
        return None


def _command_of(text: str | None, activity: Any) -> Command:
    command = parse(text or "")
    if isinstance(command, ApprovalChannel) and not command.action and conversation_kind(activity) != "channel":
        return Pending()  # a bare "approvals" outside a channel: the approver's open requests
    return command


async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Log with the activity id; tell the user kindly. Never the exception text (it may carry internals)."""
    if isinstance(error, Unreachable):
        # The bot's own sign-in (Entra) is not reached yet: nothing can be sent, the apology included. No traceback
        # for an outage bot.health reports and retries.
        log.warning("cannot answer activity %s: %s", turn_context.activity.id, error)
        turn_failed()
        return
    log.error("turn failed (activity %s)", turn_context.activity.id, exc_info=error)
    turn_failed()
    if turn_context.activity.type == ActivityTypes.message:
        try:
            await send_text(turn_context, wording.SORRY)
        except Exception:
            log.exception("could not tell the user about the failure")
