"""PimBot: Teams activities in, use cases called, cards out. No rules live here (core/), no Graph calls (graph/)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationReference,
    TokenExchangeInvokeResponse,
)

import cards
from bot.approvals import ApprovalDesk, ApprovalRecords
from bot.approvals.channels import ApprovalChannels
from bot.approvals.reach import Reach
from bot.approvals.records import KeptCard
from bot.demo import DemoCommands
from bot.feed import FeedChannel, FeedDesk, channel_of_reference
from bot.health import Unreachable
from bot.identity import ExchangeResult, PendingCommand, SsoSignIn
from bot.liveness import Liveness
from bot.private import PrivateChats, PrivateChatUnavailable
from bot.reconcile import Check, Reconciler
from bot.records import Records
from bot.stepup import StepUp
from bot.transport import ProactiveAdapter
from bot.transport.activity import (
    NotAUser,
    actor_of,
    bot_name_of,
    card_action_data,
    channel_name_of,
    channel_of,
    command_text,
    conversation_id_of,
    conversation_kind,
    is_sign_out,
    is_upgrade,
    reference_of,
    sign_in_value,
    teams_channel_of,
)
from bot.transport.proactive import continue_raising, update_card
from bot.transport.wire import SentCard
from cards import wording
from cards.actions import CardAction, DecisionAction, InvalidCardAction, RunAction, Verb, parse_click
from core.admins import Admins
from core.commands import (
    Activate,
    ApprovalChannel,
    Cancel,
    Command,
    Deactivate,
    Feed,
    FeedAction,
    Help,
    Pending,
    Status,
    parse,
)
from core.errors import (
    DirectoryError,
    IdentityMismatch,
    NotEligible,
    OutcomeUnknown,
    SignInRequired,
    StepUpInsufficient,
    StepUpRequired,
    TooSoonToDeactivate,
)
from core.feed import UnknownFeedGroups
from core.models import Actor, WriteKind
from core.outcomes import AwaitingApproval, Failed, NeedsInput, Outcome, Refused, Unconfirmed
from core.ports import Clock
from core.reach import AppInstaller
from core.service import PimService

__all__ = ["PimBot"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CARD = "application/vnd.microsoft.card.adaptive"
SORRY = wording.SORRY
# Sign-in wording (a later change can move it to cards.wording with the sign-in card).
MISMATCH = (
    "I did not do that: the sign-in I received belongs to a different account than the one you use in Teams, "
    "so nothing was changed. Type `logout`, then try again and sign in as yourself."
)
SIGNED_IN = "You're signed in."
SIGN_IN_FAILED = "That sign-in did not complete, so nothing was changed. Send your request again to get a new sign-in."
SIGNED_OUT = "You're signed out. I'll ask you to sign in again the next time I need to act as you."
NO_SIGN_IN = "There is nothing to sign out of: this bot uses the simulated tenant's tokens."
LOGIN_REQUEST = "application/vnd.microsoft.activity.loginRequest"
PRECONDITION_FAILED = "application/vnd.microsoft.error.preconditionFailed"
INVALID_AUTH_CODE = "application/vnd.microsoft.error.invalidAuthCode"
# Answered where they are typed, also in a channel or group chat: help and the admin commands, which act as nobody
# and show nobody's access. Every other command acts as the user and continues in their 1:1 chat (bot.private).
ANSWERED_IN_PLACE = (Help, Feed, ApprovalChannel)


class PimBot(TeamsActivityHandler):
    """`sign_in` set: user tokens come from Teams SSO (bot.identity), with the sign-in round trips handled here.
    None: the service's own token provider is used (the simulated tenant)."""

    def __init__(
        self,
        service: PimService,
        records: Records,
        clock: Clock,
        allowed_tenants: Sequence[str] = (),
        sign_in: SsoSignIn | None = None,
        app_id: str = "",
        reminder_minutes: int = 60,
        feed: FeedDesk | None = None,
        *,
        admins: Admins,
        reconciler: Reconciler,
        liveness: Liveness,
        proactive: ProactiveAdapter,
        approval_records: ApprovalRecords,
        approval_channels: Sequence[tuple[str, str]] = (),
        installer: AppInstaller | None = None,
        fault: Callable[[str], None] | None = None,
        demo: DemoCommands | None = None,
    ) -> None:
        super().__init__()
        # Who may run admin commands (`approvals here …`, `feed here|off|status`): `await self.admins.is_admin(actor)`
        # with the authenticated actor; `self.admins.configured` False means nobody can (say how to configure it).
        self.admins = admins
        self._service = service
        self._records = records
        self._clock = clock
        self._allowed_tenants = frozenset(t.lower() for t in allowed_tenants)
        self._sign_in = sign_in
        self._step_up: StepUp | None = None
        self._adapter: Any = None
        self._app_id = app_id
        # Approvals channels: `approvals here <group>` (stored) or APPROVAL_CHANNELS (group id, channel id).
        self._proactive = proactive
        self._approval_records = approval_records
        self._channels = ApprovalChannels(approval_records, clock, admins, approval_channels)
        self._reach = Reach(
            records.conversations, installer, proactive
        )  # approvers who never wrote: the app installed through Graph
        self._approvals = ApprovalDesk(
            approval_records,
            records.conversations,
            proactive,
            clock,
            reminder_after=timedelta(minutes=reminder_minutes),
            channels=self._channels,
            on_settled=feed.tell if feed is not None else None,
            reconciler=reconciler,
            reach=self._reach,
            liveness=liveness,
            more_groups=self._feed_group_ids if feed is not None else None,
            as_user=self._as_user,
            fault=fault,
        )
        # Writes whose answer was lost: followed up in the background until PIM shows what became of them.
        self._reconcile = reconciler
        self._feed = feed
        self._private = PrivateChats(records, self._reach, app_id)
        self._demo = demo  # `demo …` commands: only in the demo (BOT_DEMO)

    def attach_step_up(self, step_up: StepUp, adapter: Any, app_id: str) -> None:
        """Enable the step-up sign-in (bot.stepup): its pages resume commands through `adapter` (proactively)."""
        self._step_up = step_up
        self._adapter = adapter
        self._app_id = app_id
        step_up.resume = self.resume_after_step_up
        step_up.signed_in = self.step_up_signed_in

    async def _feed_group_ids(self) -> list[str]:
        """The admin feed's groups (FEED_GROUPS and discovered ones): the approval poller relays their requests too."""
        assert self._feed is not None
        return [group.id for group in await self._feed.monitored()]

    async def _as_user(self, user_id: str, work: Callable[[PimService, Actor], Awaitable[T]]) -> T:
        """`work(service, actor)` with the user's delegated token, outside any turn of theirs: in a proactive turn of
        their 1:1 chat, where Teams SSO's token service answers for them. LookupError if the bot has no such chat."""
        reference = await self._records.user_reference(user_id)
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

        async def run(turn_context: TurnContext) -> None:
            done.append(await work(self._service_for(turn_context, actor), actor))

        await self._proactive.continue_as(reference, run)
        return done[0]

    async def poll_approvals(self) -> int:
        """One sweep for decisions made outside the bot (bot.approvals.ApprovalDesk.poll_once)."""
        return await self._approvals.poll_once(self._service)

    async def follow_up_unconfirmed(self, adapter: Any) -> int:
        """One sweep over the writes whose answer was lost (bot.reconcile); how many the person was told about."""
        return await self._reconcile.sweep(adapter, self._follow_up)

    async def _follow_up(self, adapter: Any, check: Check, settled: bool, final: bool) -> bool:
        """One try of a follow-up, in a proactive turn of the person's conversation (a delegated read then has the
        person's token source, as their own command would)."""
        done: list[bool] = []

        async def turn(turn_context: TurnContext) -> None:
            service = self._service_for(turn_context, check.actor)
            if check.decision is not None:
                confirmed = self._approvals.confirm_decision(
                    turn_context, service, check.actor, check.decision, settled=settled, final=final
                )
            else:
                assert check.write is not None
                confirmed = self._confirm_write(turn_context, service, check.actor, check.write, settled, final)
            done.append(await confirmed)

        await continue_raising(adapter, check.reference, turn, self._app_id)
        return bool(done and done[0])

    async def _confirm_write(
        self,
        turn_context: TurnContext,
        service: PimService,
        actor: Actor,
        unconfirmed: Unconfirmed,
        settled: bool,
        final: bool,
    ) -> bool:
        """Tell the user what became of their write once PIM shows it (the card their command would have had)."""
        group, access = unconfirmed.group, unconfirmed.access
        try:
            outcome = await service.confirm(unconfirmed, settled=settled)
        except DirectoryError as e:
            if not final:
                log.info("%s of %s still unconfirmed: %s", unconfirmed.write.kind.value, group.id, e)
                return False
            outcome = Failed(group.display_name, access, OutcomeUnknown(e.detail, write=unconfirmed.write))
        if outcome is None:
            return False
        if isinstance(outcome, AwaitingApproval) and await self._approvals.knows(outcome.request.id):
            # Already known (the approval poller found it waiting in PIM): its approvers have their cards.
            card = cards.activation_card([outcome], actor.time_style)
            await self._send_card(turn_context, card, kind="activation", outcomes=[outcome])
        elif unconfirmed.write.kind is WriteKind.DEACTIVATE:
            await self._send_card(
                turn_context, cards.deactivation_card([outcome], actor.time_style), kind="deactivation"
            )
        else:
            await self._send_activation(turn_context, actor, [outcome])
        return True

    async def _follow_up_later(
        self, actor: Actor, outcomes: Sequence[Outcome], turn_context: TurnContext | None
    ) -> None:
        """The user was told "I will tell you in a moment" for these: store their follow-ups (bot.reconcile)."""
        for o in outcomes:
            if not isinstance(o, Unconfirmed):
                continue
            reference = reference_of(turn_context.activity) if turn_context is not None else None
            reference = reference or await self._records.user_reference(actor.object_id)
            if reference is None:
                log.error("no conversation to follow up the %s of %s in", o.write.kind.value, o.group.id)
                continue
            await self._reconcile.remember_write(actor, reference, o)

    async def drain(self, within: float) -> None:
        """Let the card updates still running after approval clicks finish, for up to `within` seconds (before the
        process stops; what is cut short is finished by the approval poller of the next start)."""
        await self._approvals.drain(within)

    # ---- entry points ---------------------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        actor = await self._actor(turn_context)
        if actor is None:
            return
        data = card_action_data(activity)
        text = command_text(activity)
        if data is None and is_sign_out(text):
            await self._sign_out(turn_context, actor)
            return
        if conversation_kind(activity) != "personal" and not _answered_in_place(text, data, activity):
            await self._continue_privately(turn_context, actor, text=text, data=data)
            return
        await self._run(turn_context, actor, text=text, data=data)

    async def _continue_privately(
        self, turn_context: TurnContext, actor: Actor, *, text: str | None, data: Mapping[str, Any] | None
    ) -> None:
        """A command that acts as the user, sent in a channel or group chat: it runs in the user's 1:1 chat as if typed
        there (sign-in card, resumption, result); where it was sent, one line says so, or how to make the 1:1 chat
        reachable. Nothing about the user's access and no sign-in card is posted in the shared conversation."""
        where = conversation_kind(turn_context.activity)
        intro = wording.private_intro(where, text if data is None else None)
        try:
            reference = await self._private.open(turn_context, actor, intro)
        except PrivateChatUnavailable as e:
            answer = wording.PRIVATE_CHAT_REFUSED if e.refused else wording.PRIVATE_CHAT_FAILED
            await turn_context.send_activity(MessageFactory.text(answer))
            return
        await turn_context.send_activity(MessageFactory.text(wording.REPLIED_PRIVATELY))

        async def run(private: TurnContext) -> None:
            try:
                await self._run(private, actor, text=text, data=data)
            except Exception:  # told where the user now looks, not in the channel
                log.exception("a command of %s continued in the 1:1 chat failed", actor.object_id)
                await private.send_activity(MessageFactory.text(SORRY))

        log.info("continuing a command of %s from a %s in the 1:1 chat", actor.object_id, where)
        await continue_raising(turn_context.adapter, reference, run, self._app_id)

    async def _run(
        self, turn_context: TurnContext, actor: Actor, *, text: str | None, data: Mapping[str, Any] | None
    ) -> None:
        """Run a typed command or a clicked Action.Submit (`data`); also the resumption after a sign-in."""
        service = self._service_for(turn_context, actor)
        try:
            if data is not None:
                await turn_context.send_activity(Activity(type=ActivityTypes.typing))
                card = await self._card_action(service, actor, data, turn_context)
                if isinstance(card, str):
                    await turn_context.send_activity(MessageFactory.text(card))
                else:
                    await self._send_card(turn_context, card, kind="action-result")
                return
            await self._run_command(turn_context, service, actor, text or "")
        except SignInRequired:
            await self._ask_sign_in(turn_context, actor, text=None if data is not None else text, data=data)
        except IdentityMismatch as e:
            self._log_mismatch(turn_context, actor, e)
            await turn_context.send_activity(MessageFactory.text(MISMATCH))

    async def _run_command(self, turn_context: TurnContext, service: PimService, actor: Actor, text: str) -> None:
        if self._demo is not None and self._demo.is_demo_command(text):
            await self._demo.run(turn_context, actor, text)
            return
        command = _command_of(text, turn_context.activity)
        if isinstance(command, Help) and command.slip:
            await self._answer_slip(turn_context, service, actor, command)
            return
        if isinstance(command, Help):
            await self._send_help(turn_context, actor)
            return
        # The typing indicator goes out before any Graph call, so the user sees at once that the bot is on it.
        await turn_context.send_activity(Activity(type=ActivityTypes.typing))
        if isinstance(command, Status):
            try:
                view = await service.status(actor)
            except DirectoryError as e:
                await turn_context.send_activity(MessageFactory.text(cards.explain(e, actor.time_style)))
                return
            await self._send_card(turn_context, cards.status_card(view, actor.time_style), kind="status")
        elif isinstance(command, Activate):
            outcomes = self._settle_step_ups(actor, await service.activate(actor, command))
            step_up = self._step_up_of(outcomes)
            if step_up is not None:
                await self._ask_step_up(turn_context, actor, step_up, text=text, data=None)
                outcomes = [o for o in outcomes if o is not step_up]
                if not outcomes:
                    return
            await self._send_activation(turn_context, actor, outcomes)
        elif isinstance(command, Cancel):
            answer = await self._approvals.ask_cancel(turn_context, service, actor, command.group)
            if answer is not None:
                await turn_context.send_activity(MessageFactory.text(answer))
        elif isinstance(command, Pending):
            if not await self._approvals.show_pending(turn_context, actor):
                await turn_context.send_activity(MessageFactory.text("No requests are waiting for your approval."))
        elif isinstance(command, ApprovalChannel):
            answer = await self._channels.command(turn_context, service, actor, command)
            await turn_context.send_activity(MessageFactory.text(answer))
        elif isinstance(command, Deactivate):
            outcomes = await service.deactivate(actor, command)
            await self._send_card(
                turn_context, cards.deactivation_card(outcomes, actor.time_style), kind="deactivation"
            )
            await self._follow_up_later(actor, outcomes, turn_context)
        elif isinstance(command, Feed):
            await self._feed_command(turn_context, actor, command)

    # ---- the admin feed (bot.feed) ----------------------------------------------------------------------------

    async def _feed_command(self, turn_context: TurnContext, actor: Actor, command: Feed) -> None:
        """`feed here|off|status`: only admins move or stop the feed; anyone may ask where it goes."""
        if self._feed is None:
            await turn_context.send_activity(MessageFactory.text(wording.FEED_NOT_SET_UP))
            return
        if command.action is FeedAction.STATUS:
            status = await self._feed.status_card(actor.time_style)
            if isinstance(status, str):
                await turn_context.send_activity(MessageFactory.text(status))
            else:
                await self._send_card(turn_context, status, kind="feed-status")
            return
        channel_id, _ = teams_channel_of(turn_context.activity)
        in_channel = conversation_kind(turn_context.activity) == "channel" and bool(channel_id)
        if command.action is FeedAction.HERE and not in_channel:
            await turn_context.send_activity(MessageFactory.text(wording.FEED_ONLY_IN_A_CHANNEL))
            return
        try:
            admin = await self.admins.is_admin(actor)
        except DirectoryError as e:
            await turn_context.send_activity(MessageFactory.text(cards.explain(e, actor.time_style)))
            return
        if not admin:
            log.info("refused 'feed %s' by %s (not an admin)", command.action.value, actor.object_id)
            refusal = wording.not_an_admin(f"feed {command.action.value}", configured=self.admins.configured)
            await turn_context.send_activity(MessageFactory.text(refusal))
            return
        if command.action is FeedAction.OFF:
            old = await self._feed.switch_off()
            text = wording.feed_off_text(old.label) if old is not None else wording.FEED_WAS_OFF
            await turn_context.send_activity(MessageFactory.text(text))
            return
        channel = FeedChannel(
            reference=channel_of_reference(reference_of(turn_context.activity)),
            channel_id=channel_id,
            name=channel_name_of(turn_context.activity),
            time_zone=actor.time_zone,
            locale=actor.locale,
            set_by=actor.object_id,
        )
        moved_from = await self._feed.set_channel(channel)
        groups: list[str] = []
        problem: str | None = None
        try:
            groups = [g.display_name for g in await self._feed.monitored()]
        except UnknownFeedGroups as e:
            problem = wording.feed_groups_unknown(e.missing, list(e.ambiguous))
        except DirectoryError as e:
            problem = cards.explain(e, actor.time_style)
        log.info("%s made channel %s the admin feed's channel", actor.object_id, channel.channel_id)
        moved = moved_from.label if moved_from else None
        text = wording.feed_here_text(channel.label, groups, moved, problem, discovering=self._feed.discovering)
        await turn_context.send_activity(MessageFactory.text(text))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        name = turn_context.activity.name
        if name == "adaptiveCard/action":
            return await self._on_card_invoke(turn_context)
        if name in ("signin/tokenExchange", "signin/verifyState"):
            return await self._on_sign_in(turn_context)
        if name == "signin/failure":
            # The Teams client could not do SSO (e.g. resourcematchfailed: the connection's exchange URL is not the
            # app's api://botid-... URI). botbuilder has no handler (it answers 501); the client shows the button.
            value = sign_in_value(turn_context.activity)
            log.warning(
                "Teams SSO failed on the client (activity %s): %s %s",
                turn_context.activity.id,
                value.failure_code if value else "",
                value.failure_message if value else "",
            )
            return InvokeResponse(status=200)
        # Any other name (task/fetch, composeExtension/*, a made-up or missing one): this bot offers none of them, and
        # botbuilder's answer would be a 501. A neutral 200 instead (issue 10, point 2).
        log.info("ignored invoke %.80r (activity %s)", name, turn_context.activity.id)
        return InvokeResponse(status=200)

    async def _on_card_invoke(self, turn_context: TurnContext) -> InvokeResponse:
        # Answered here with a plain-dict body: botbuilder 4.17.1 serialises invoke bodies twice (HTTP 500) when
        # they go through its own on_adaptive_card_invoke path; bot/routes.py passes dicts through unchanged.
        activity = turn_context.activity
        actor: Actor | None = None
        try:
            actor = await self._actor(turn_context, reply=False)
            if actor is None:
                return _invoke_message("This action is not available here.")
            value = sign_in_value(activity)
            if value is not None and self._sign_in is not None:
                # The click re-sent after a loginRequest (teams-platform.md §4.3): SSO token or magic code.
                if value.token:
                    result = await self._sign_in.exchange(
                        turn_context, actor, channel_of(activity), conversation_id_of(activity), "", value.token
                    )
                    if result is not ExchangeResult.EXCHANGED:
                        return _invoke_body(
                            412, PRECONDITION_FAILED, {"code": "412", "message": "The bot could not use that sign-in."}
                        )
                elif not await self._sign_in.redeem(turn_context, actor, channel_of(activity), value.state):
                    # The magic code was wrong: the Teams docs' answer for an incorrect `state`, with no value
                    # (authentication-flow-in-universal-action-for-adaptive-cards); the client may prompt again.
                    return InvokeResponse(status=200, body={"statusCode": 401, "type": INVALID_AUTH_CODE})
                await self._retire_sign_in_card(turn_context.adapter, actor)
            data = card_action_data(activity) or {}
            card = await self._card_action(
                self._service_for(turn_context, actor), actor, data, turn_context, invoke=True
            )
            if isinstance(card, str):
                return _invoke_message(card)
            return _invoke_body(200, CARD, card)
        except SignInRequired:
            assert self._sign_in is not None  # only SSO providers raise it
            oauth = await self._sign_in.oauth_card(turn_context, activity)
            return _invoke_body(401, LOGIN_REQUEST, oauth.serialize())
        except IdentityMismatch as e:
            self._log_mismatch(turn_context, actor, e)
            return _invoke_message(MISMATCH)
        except Exception:  # an invoke must always be answered, or Teams shows a generic failure
            log.exception("card action failed (activity %s)", activity.id)
            return _invoke_message(SORRY)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        if not await self._installed(turn_context):
            return
        where = conversation_kind(turn_context.activity)
        if where != "personal":
            # Added to a team (Teams posts this in the channel picked at install) or to a group chat: what works
            # there, not the 1:1 usage. An upgrade of an app already there says nothing again.
            if not is_upgrade(turn_context.activity):
                card = cards.welcome_card(where, bot_name_of(turn_context.activity))
                await self._send_card(turn_context, card, kind="welcome")
            return
        user = str(getattr(turn_context.activity.from_property, "aad_object_id", None) or "")
        if user and self._reach.installed_by_bot(user):
            return  # an approver the bot installed itself for: the approval card on its way is their first message
        await self._send_help(turn_context, _actor_or_none(turn_context.activity))

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
        try:
            actor: Actor | None = actor_of(activity)
        except NotAUser:
            actor = None  # e.g. added to a team by an event without a user: the conversation is still worth keeping
        if actor is not None and self._allowed_tenants and actor.tenant_id not in self._allowed_tenants:
            log.warning("ignored the installation in activity %s from tenant %r", activity.id, actor.tenant_id)
            return False
        await self._remember(turn_context, actor)
        return True

    # ---- card actions ---------------------------------------------------------------------------------------

    async def _card_action(
        self,
        service: PimService,
        actor: Actor,
        data: Mapping[str, Any],
        turn_context: TurnContext | None = None,
        *,
        invoke: bool = False,
    ) -> dict[str, Any] | str:
        """The answer to a click: a card (an invoke's card replaces the clicked one), or a text."""
        try:
            action = parse_click(data)
        except InvalidCardAction as e:
            log.info("refused card data: %s", e)
            return cards.help_card(e.user_message)
        if isinstance(action, RunAction):
            return await self._run_click(service, actor, action, turn_context)
        if isinstance(action, DecisionAction):
            if turn_context is None:
                return cards.help_card(InvalidCardAction.user_message)
            return await self._approvals.click(turn_context, service, actor, action, invoke=invoke)
        if action.verb is Verb.DEACTIVATE:
            outcome = _named_as_on_the_card(
                await service.deactivate_group(actor, action.group_id, action.access), action
            )
            await self._follow_up_later(actor, [outcome], turn_context)
            if invoke and _too_soon(outcome):
                # The answer replaces the clicked card: the activation stays shown, with when it can be ended.
                return cards.activation_card([outcome], actor.time_style)
            return cards.deactivation_card([outcome], actor.time_style)
        outcome = await service.activate_group(
            actor, action.group_id, action.access, action.duration, action.justification, action.ticket
        )
        outcome = _named_as_on_the_card(outcome, action)
        if isinstance(outcome, NeedsInput):
            return cards.needs_input_card(outcome, actor.time_style)
        [outcome] = self._settle_step_ups(actor, [outcome])
        step_up = self._step_up_of([outcome])
        if step_up is not None and turn_context is not None:
            url = await self._begin_step_up(turn_context, actor, step_up, text=None, data=data)
            if invoke:  # the answer replaces the clicked card: that activity is now the sign-in card
                await self._remember_sign_in_card(turn_context, actor, turn_context.activity.reply_to_id)
            return cards.step_up_card(step_up.error, step_up.group_name, url)  # type: ignore[arg-type]
        answer = cards.activation_card([outcome], actor.time_style)
        shown: tuple[str, str] | None = None
        if invoke and turn_context is not None and isinstance(outcome, AwaitingApproval):
            # The invoke's answer replaces the clicked card in place: that activity now shows the waiting request.
            conversation_id, activity_id = turn_context.activity.conversation.id, turn_context.activity.reply_to_id
            if activity_id:
                kept = KeptCard("activation", conversation_id, (outcome.request.id,), self._clock.now(), answer)
                await self._approval_records.remember_card(activity_id, kept)
                shown = (conversation_id, activity_id)
        await self._after_activation(actor, [outcome], shown, turn_context, service)
        return answer

    # ---- replies --------------------------------------------------------------------------------------------

    async def _send_activation(self, turn_context: TurnContext, actor: Actor, outcomes: list[Outcome]) -> None:
        needs = [o for o in outcomes if isinstance(o, NeedsInput)]
        others = [o for o in outcomes if not isinstance(o, NeedsInput)]
        sent: tuple[str, str] | None = None
        if others or not needs:
            activity_id = await self._send_card(
                turn_context, cards.activation_card(outcomes, actor.time_style), kind="activation", outcomes=others
            )
            if activity_id:
                sent = (turn_context.activity.conversation.id, activity_id)
        for n in needs:
            await self._send_card(turn_context, cards.needs_input_card(n, actor.time_style), kind="needs-input")
        await self._after_activation(actor, others, sent, turn_context, self._service_for(turn_context, actor))

    async def _after_activation(
        self,
        actor: Actor,
        outcomes: Sequence[Outcome],
        card: tuple[str, str] | None,
        turn_context: TurnContext | None,
        service: PimService,
    ) -> None:
        """Remember each request that waits for approval and send it to its approvers (bot.approvals); follow up
        each write whose answer was lost (bot.reconcile)."""
        await self._follow_up_later(actor, outcomes, turn_context)
        for o in outcomes:
            if isinstance(o, AwaitingApproval) and turn_context is not None:
                try:
                    await self._approvals.waiting(turn_context, service, actor, o, card)
                except Exception:  # the request is made; failing to notify must not hide that from the user
                    log.exception("could not send request %s to its approvers", o.request.id)

    async def _send_help(self, turn_context: TurnContext, actor: Actor | None) -> None:
        """The usage card for the conversation it goes to: in a channel or group chat it offers what works there."""
        card = await self._help_card(conversation_kind(turn_context.activity), actor)
        await self._send_card(turn_context, card, kind="help")

    async def _help_card(self, where: str, actor: Actor | None) -> dict[str, Any]:
        """The whole usage for a conversation of type `where`; in the 1:1 chat of one of the bot's admins, with the
        admin commands."""
        admin = False
        if where == "personal" and actor is not None:
            try:
                admin = await self.admins.is_admin(actor)
            except DirectoryError as e:  # the usage without the admin part beats no usage
                log.warning("could not tell whether %s is an admin: %s", actor.object_id, e)
        return cards.help_card(where=where, admin=admin, demo=self._demo is not None)

    async def _answer_slip(self, turn_context: TurnContext, service: PimService, actor: Actor, slip: Help) -> None:
        """Text that was no command: one line and a few buttons built from the user's own groups (cards.slip). They
        come from the user's snapshot, read app-only: at most one round trip, none while it is cached. In a channel
        or group chat nothing of the user's own access is read or shown."""
        where = conversation_kind(turn_context.activity)
        view = None
        if where == "personal":
            try:
                view = await service.glance(actor)
            except DirectoryError as e:  # the line and the buttons that need no groups still help
                log.warning("could not read the groups of %s to answer a slip: %s", actor.object_id, e)
        await self._send_card(turn_context, cards.slip_card(slip, view, where=where), kind="slip")

    async def _run_click(
        self, service: PimService, actor: Actor, action: RunAction, turn_context: TurnContext | None
    ) -> dict[str, Any] | str:
        """A button that runs a command with no group (status, help, the demo's `demo request`) as if typed; its card
        (or text) is the answer."""
        where = conversation_kind(turn_context.activity) if turn_context is not None else "personal"
        if action.command == "help":
            return await self._help_card(where, actor)
        if action.command == "demo request":
            if self._demo is None:  # only the demo offers this button: anywhere else it is one that does not work
                return cards.help_card(InvalidCardAction.user_message)
            return await self._demo.request(actor)
        if turn_context is not None and where != "personal":
            # The user's own access is never shown where others read: it continues in the 1:1 chat.
            await self._continue_privately(turn_context, actor, text=action.command, data=None)
            return wording.REPLIED_PRIVATELY
        try:
            view = await service.status(actor)
        except DirectoryError as e:
            return cards.explain(e, actor.time_style)
        return cards.status_card(view, actor.time_style)

    async def _send_card(
        self, turn_context: TurnContext, card: dict[str, Any], *, kind: str, outcomes: Sequence[Outcome] = ()
    ) -> str | None:
        response = await turn_context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(SentCard(card)))
        )
        activity_id = getattr(response, "id", None)
        request_ids = [o.request.id for o in outcomes if hasattr(o, "request") and not isinstance(o, Refused)]
        if activity_id and request_ids:
            waiting = any(isinstance(o, AwaitingApproval) for o in outcomes)  # kept, to be made read-only later
            conversation_id = turn_context.activity.conversation.id
            kept = KeptCard(kind, conversation_id, tuple(request_ids), self._clock.now(), card if waiting else None)
            await self._approval_records.remember_card(activity_id, kept)
        return str(activity_id) if activity_id else None

    # ---- step-up sign-in (bot.stepup) ------------------------------------------------------------------------

    def _settle_step_ups(self, actor: Actor, outcomes: list[Outcome]) -> list[Outcome]:
        """A step-up refusal for a requirement the user's completed step-up sign-in already answered becomes
        `StepUpInsufficient`: PIM refused that sign-in's token, so offering another would loop."""
        if self._step_up is None:
            return outcomes
        settled: list[Outcome] = []
        for o in outcomes:
            if isinstance(o, Refused) and isinstance(o.error, StepUpRequired):
                if self._step_up.completed_for(actor, o.error):
                    log.warning("PIM refused %s again after a completed step-up sign-in", actor.object_id)
                    o = replace(o, error=StepUpInsufficient(o.error))
            settled.append(o)
        return settled

    def _step_up_of(self, outcomes: Sequence[Outcome]) -> Refused | None:
        """The first refusal that a step-up sign-in can cure, if step-up is on."""
        if self._step_up is None:
            return None
        return next((o for o in outcomes if isinstance(o, Refused) and isinstance(o.error, StepUpRequired)), None)

    async def _begin_step_up(
        self,
        turn_context: TurnContext,
        actor: Actor,
        refused: Refused,
        *,
        text: str | None,
        data: Mapping[str, Any] | None,
    ) -> str:
        assert self._step_up is not None and isinstance(refused.error, StepUpRequired)
        pending = PendingCommand(
            text=text,
            data=dict(data) if data is not None else None,
            reference=reference_of(turn_context.activity),
            at=self._clock.now(),
            time_zone=actor.time_zone,
            locale=actor.locale,
        )
        hint = await self._service.sign_in_hint(actor.object_id)
        return await self._step_up.begin(actor, pending, refused.error, login_hint=hint)

    async def _ask_step_up(
        self,
        turn_context: TurnContext,
        actor: Actor,
        refused: Refused,
        *,
        text: str | None,
        data: Mapping[str, Any] | None,
    ) -> None:
        url = await self._begin_step_up(turn_context, actor, refused, text=text, data=data)
        card = cards.step_up_card(refused.error, refused.group_name, url)  # type: ignore[arg-type]
        shown = await self._send_card(turn_context, card, kind="step-up")
        await self._remember_sign_in_card(turn_context, actor, shown)

    async def _remember_sign_in_card(self, turn_context: TurnContext, actor: Actor, activity_id: str | None) -> None:
        """The sign-in card just shown in this turn's conversation, to retire once the user has signed in."""
        if activity_id:
            await self._records.remember_sign_in_card(actor.object_id, activity_id, reference_of(turn_context.activity))

    async def step_up_signed_in(self, actor: Actor) -> None:
        """The step-up page signed the user in (bot.stepup): the step-up card's button is done with."""
        await self._retire_sign_in_card(self._adapter, actor)

    async def _retire_sign_in_card(self, adapter: Any, actor: Actor) -> None:
        """The user has signed in (Teams SSO, or the step-up page): their last sign-in card becomes "You're signed
        in", so its button is not offered again. Its trouble never costs the sign-in its command."""
        shown = await self._records.take_sign_in_card(actor.object_id)
        if shown is None:
            return
        card = cards.signed_in_card(actor.name)
        try:
            await update_card(adapter, shown["reference"], shown["activityId"], card, self._app_id)
        except Exception:
            log.warning("could not retire the sign-in card %s", shown.get("activityId"), exc_info=True)

    async def resume_after_step_up(self, actor: Actor, pending: PendingCommand) -> None:
        """Run the command that waited for the step-up sign-in, in its own conversation (proactively); raises what
        the command raised."""
        reference = ConversationReference().deserialize(pending.reference)
        actor = replace(actor, time_zone=actor.time_zone or pending.time_zone, locale=actor.locale or pending.locale)

        async def run(turn_context: TurnContext) -> None:
            log.info("resuming a command of %s after step-up sign-in", actor.object_id)
            await self._run(turn_context, actor, text=pending.text, data=pending.data)

        # Raising, not botbuilder's on_turn_error: the sign-in page then tells the person it could not carry on.
        await continue_raising(self._adapter, reference, run, self._app_id)

    # ---- sign-in --------------------------------------------------------------------------------------------

    def _service_for(self, turn_context: TurnContext, actor: Actor) -> PimService:
        if self._sign_in is None:
            return self._service
        provider = self._sign_in.provider(turn_context, actor, channel_of(turn_context.activity))
        if self._step_up is not None:  # a kept step-up token first, for this user only
            return self._service.with_tokens(self._step_up.tokens(provider))
        return self._service.with_tokens(provider)

    async def _ask_sign_in(
        self, turn_context: TurnContext, actor: Actor, *, text: str | None, data: Mapping[str, Any] | None
    ) -> None:
        """Keep the command for after the sign-in, then send the OAuthCard (silent SSO in Teams, else its button)."""
        if self._sign_in is None:
            log.error(
                "a token provider asked for a sign-in, but SSO is not configured (activity %s)",
                turn_context.activity.id,
            )
            await turn_context.send_activity(MessageFactory.text(SORRY))
            return
        activity = turn_context.activity
        if conversation_kind(activity) != "personal":
            # Never a sign-in card where others see it (no SSO in channel scope): the sign-in happens privately.
            log.error("a command in a %s asked for a sign-in (activity %s)", conversation_kind(activity), activity.id)
            await self._continue_privately(turn_context, actor, text=text, data=data)
            return
        pending = PendingCommand(
            text=text,
            data=dict(data) if data is not None else None,
            reference=reference_of(activity),
            at=self._clock.now(),
            time_zone=actor.time_zone,
            locale=actor.locale,
        )
        await self._sign_in.remember(actor, pending)
        card = await self._sign_in.oauth_card(turn_context, activity)
        response = await turn_context.send_activity(MessageFactory.attachment(CardFactory.oauth_card(card)))
        await self._remember_sign_in_card(turn_context, actor, getattr(response, "id", None))

    async def _on_sign_in(self, turn_context: TurnContext) -> InvokeResponse:
        """`signin/tokenExchange` (silent SSO) or `signin/verifyState` (button + magic code), then the waiting
        command runs. A failed exchange answers 412 with a TokenExchangeInvokeResponse: Teams then shows the button."""
        activity = turn_context.activity
        actor = await self._actor(turn_context, reply=False)
        value = sign_in_value(activity)
        if actor is None or self._sign_in is None or value is None:
            log.warning("ignored %s (activity %s): no user, no SSO configured or no value", activity.name, activity.id)
            return InvokeResponse(status=200)
        channel = channel_of(activity)
        if activity.name == "signin/tokenExchange":
            result = await self._sign_in.exchange(
                turn_context, actor, channel, conversation_id_of(activity), value.exchange_id, value.token
            )
            if result is ExchangeResult.DUPLICATE:
                return InvokeResponse(status=200)
            if result is ExchangeResult.FAILED:
                body = TokenExchangeInvokeResponse(
                    id=value.exchange_id,
                    connection_name=self._sign_in.connection_name,
                    failure_detail="The bot is unable to exchange token. Proceed with regular login.",
                )
                return InvokeResponse(status=412, body=body.serialize())
        elif not await self._sign_in.redeem(turn_context, actor, channel, value.state):
            # invalidAuthCode is documented for an Action.Execute's `state` only, not for signin/verifyState
            # (botbuilder's OAuthPrompt answers it 404 without a word): the user is told instead.
            await turn_context.send_activity(MessageFactory.text(SIGN_IN_FAILED))
            return InvokeResponse(status=200)
        await self._retire_sign_in_card(turn_context.adapter, actor)
        await self._resume(turn_context, actor)
        return InvokeResponse(status=200)

    async def _resume(self, turn_context: TurnContext, actor: Actor) -> None:
        """Run the command that waited for this sign-in, once. It runs in the conversation the sign-in came from,
        which is where the sign-in card was sent (the command's own conversation)."""
        assert self._sign_in is not None
        pending = await self._sign_in.take_pending(actor)
        if pending is None:
            await turn_context.send_activity(MessageFactory.text(SIGNED_IN))
            return
        log.info("resuming a command of %s after sign-in (activity %s)", actor.object_id, turn_context.activity.id)
        actor = replace(actor, time_zone=actor.time_zone or pending.time_zone, locale=actor.locale or pending.locale)
        await self._run(turn_context, actor, text=pending.text, data=pending.data)

    async def _sign_out(self, turn_context: TurnContext, actor: Actor) -> None:
        if self._sign_in is None:
            await turn_context.send_activity(MessageFactory.text(NO_SIGN_IN))
            return
        await self._sign_in.sign_out(turn_context, actor, channel_of(turn_context.activity))
        await turn_context.send_activity(MessageFactory.text(SIGNED_OUT))

    @staticmethod
    def _log_mismatch(turn_context: TurnContext, actor: Actor | None, error: IdentityMismatch) -> None:
        # Which claim differed, never the token or the identity it names.
        log.warning(
            "refused a PIM write: the delegated token's %s does not match user %s in tenant %s (activity %s)",
            error.claim,
            actor.object_id if actor else "?",
            actor.tenant_id if actor else "?",
            turn_context.activity.id,
        )

    # ---- identity and memory --------------------------------------------------------------------------------

    async def _actor(self, turn_context: TurnContext, *, reply: bool = True) -> Actor | None:
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
            known = (await self._records.user_styles([actor.object_id]))[actor.object_id]
        except Exception:  # the answer in UTC beats no answer
            log.warning("could not read how %s reads times", actor.object_id, exc_info=True)
            return actor
        return replace(actor, time_zone=actor.time_zone or known.zone, locale=actor.locale or known.locale)

    async def _remember(self, turn_context: TurnContext, actor: Actor | None) -> None:
        activity = turn_context.activity
        try:
            await self._records.remember_conversation(actor, reference_of(activity), conversation_kind(activity))
        except Exception:  # losing a reference must not cost the user their answer
            log.exception("could not store the conversation reference of activity %s", activity.id)


def _answered_in_place(text: str | None, data: Mapping[str, Any] | None, activity: Activity) -> bool:
    """A command (typed, or a button that runs one) that is answered where it was sent, also in a channel or group
    chat: help and the admin commands. Every other one acts as the user and continues in their 1:1 chat."""
    if data is None:
        return isinstance(_command_of(text, activity), ANSWERED_IN_PLACE)
    try:
        action = parse_click(data)
    except InvalidCardAction:
        return False
    return isinstance(action, RunAction) and action.command == "help"


def _actor_or_none(activity: Activity) -> Actor | None:
    try:
        return actor_of(activity)
    except NotAUser:
        return None


def _command_of(text: str | None, activity: Activity) -> Command:
    command = parse(text or "")
    if isinstance(command, ApprovalChannel) and not command.action and conversation_kind(activity) != "channel":
        return Pending()  # a bare "approvals" outside a channel: the approver's open requests
    return command


def _named_as_on_the_card(outcome: Outcome, action: CardAction) -> Outcome:
    """A refusal of a click names the group as the clicked card did, never by its id: the group's name comes from the
    clicker's own eligibilities, and a click on someone else's card finds none (issue 10, point 8)."""
    if not isinstance(outcome, Refused | Failed) or outcome.group_name != action.group_id:
        return outcome
    if isinstance(outcome, Refused) and isinstance(outcome.error, NotEligible):
        # Suggestions for a group id mean nothing; the card's name is what the clicker saw.
        return replace(outcome, group_name=action.group_name, error=NotEligible(action.group_name, (), action.access))
    return replace(outcome, group_name=action.group_name)


def _too_soon(outcome: Outcome) -> bool:
    """PIM will not end this activation yet (its first five minutes)."""
    return isinstance(outcome, Refused) and isinstance(outcome.error, TooSoonToDeactivate)


def _invoke_body(status_code: int, kind: str, value: Any) -> InvokeResponse:
    """An Adaptive Card invoke response: HTTP 200 carrying the Universal Actions status code and type."""
    return InvokeResponse(status=200, body={"statusCode": status_code, "type": kind, "value": value})


def _invoke_message(text: str) -> InvokeResponse:
    return InvokeResponse(
        status=200, body={"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text}
    )


async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Log with the activity id; tell the user kindly. Never the exception text (it may carry internals)."""
    if isinstance(error, Unreachable):
        # The bot's own sign-in (Entra) is not reached yet: nothing can be sent, the apology included. No traceback
        # for an outage bot.health reports and retries.
        log.warning("cannot answer activity %s: %s", turn_context.activity.id, error)
        return
    log.error("turn failed (activity %s)", turn_context.activity.id, exc_info=error)
    if turn_context.activity.type == ActivityTypes.message:
        try:
            await turn_context.send_activity(MessageFactory.text(SORRY))
        except Exception:
            log.exception("could not tell the user about the failure")
