"""Every sentence the bot says about a failure, and how it writes times and durations. Chosen here, once.

`explain(error, tz)` covers every kind in `core.errors`; it names the facts the error carries (group, access, times,
limits) and never shows a stack trace or raw Graph text beyond a short detail. Times are written in the user's IANA
time zone (Teams sends it in the clientInfo entity); None or an unknown zone falls back to UTC and says so.

Commands are quoted with “…” rather than backticks: Teams renders no inline code in Adaptive Card text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from cards.times import Tz, format_clock, format_time, zone_label
from core.commands import Activate, Cancel, Command, Deactivate, Help
from core.commands import format_duration as _core_format_duration
from core.errors import (
    AlreadyActive,
    AlreadyDecided,
    ApprovalClosed,
    ApprovalExpired,
    DirectoryError,
    DirectoryUnavailable,
    DurationTooLong,
    DurationTooShort,
    EligibilityNotInEffect,
    EntraUnreachable,
    ExtensionDenied,
    IdentityMismatch,
    MissingApproverJustification,
    MissingInputs,
    NotActive,
    NotAnApprover,
    NotCarriedOut,
    NotEligible,
    OutcomeUnknown,
    PendingRequestExists,
    PermissionDenied,
    PimError,
    PolicyViolation,
    RequestNotFound,
    RequestRefused,
    ScheduledNotStarted,
    SelfApproval,
    SelfServiceRefused,
    SignInRequired,
    StartAfterEligibility,
    StartDoesNotExist,
    StartInPast,
    StepUpInsufficient,
    StepUpRequired,
    Throttled,
    TokenRejected,
    TooSoonToDeactivate,
)
from core.extension import NO_OBJECTION
from core.models import MINIMUM_ACTIVATION, Access, Decision, WriteKind
from core.reach import Unreached

__all__ = [
    "ADMIN_COMMANDS_INTRO",
    "FEED_IS_OFF",
    "FEED_MAY_REPEAT",
    "FEED_NOT_SET_UP",
    "FEED_ONLY_IN_A_CHANNEL",
    "FEED_POLL_FAILED",
    "FEED_POST_FAILED",
    "FEED_WAITING_FOR_SERVICE_URL",
    "FEED_WAS_OFF",
    "PIM_ACTIVATE_URL",
    "PRIVATE_CHAT_FAILED",
    "PRIVATE_CHAT_REFUSED",
    "REPLIED_PRIVATELY",
    "access_label",
    "approvers_notified",
    "decided_by_you",
    "decision_not_recorded",
    "decision_unconfirmed",
    "explain",
    "extension_auto_approved",
    "extension_denied",
    "extension_passed",
    "feed_groups_unknown",
    "feed_here_text",
    "feed_off_text",
    "deactivate_from",
    "format_clock",
    "format_duration",
    "format_time",
    "help_intro_shared",
    "missing_inputs_phrase",
    "not_an_admin",
    "nothing_active",
    "or_list",
    "and_list",
    "place_name",
    "private_intro",
    "slip_line",
    "unconfirmed_write",
    "zone_label",
]

_MINIMUM = f"{MINIMUM_ACTIVATION // timedelta(minutes=1)} minutes"  # PIM's floor for activation and deactivation

# PIM's rule names in RoleAssignmentRequestPolicyValidationFailed (graph-pim-groups.md §9), in plain words.
_RULES = {
    "expirationrule": "the duration is longer than the policy allows",  # the bot always sends an end time
    "justificationrule": "a justification is required",
    "ticketingrule": "ticket information is required",
    "mfarule": "multi-factor authentication is required",
    "authenticationcontextrule": "a Conditional Access authentication context is required",
    "approvalrule": "the activation needs approval",
    "eligibilityrule": "you are not eligible",
    "adminrequestrule": "only an administrator can make this request",
    "activationdayrule": "activation is not allowed at this time",
    # The pre-approval custom extension answered Denied (simtenant.extensions; Graph's form is undocumented).
    "customextensionrule": "the activation rules of its custom extension denied it",
}


# ---- times, durations, names ---------------------------------------------------------------------------------


_ZERO, _MINUTE = timedelta(0), timedelta(minutes=1)


def format_duration(duration: timedelta) -> str:
    """Like "2 h", "1 h 30 min", "45 min", "1 d 2 h" (the command parser's format, so replies echo what users type)."""
    if _ZERO < duration < _MINUTE:
        return "less than a minute"
    return _core_format_duration(duration)


def access_label(access: Access) -> str:
    return "Owner" if access is Access.OWNER else "Member"


def _join(items: Sequence[str], word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def or_list(items: Sequence[str]) -> str:
    """Like "A", "A or B", "A, B or C"."""
    return _join(items, "or")


def and_list(items: Sequence[str]) -> str:
    """Like "A", "A and B", "A, B and C"."""
    return _join(items, "and")


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- explanations ----------------------------------------------------------------------------------------------


def explain(
    error: PimError,
    tz: Tz,
    *,
    group_name: str | None = None,
    access: Access | None = None,
) -> str:
    """One or two kind sentences that say what happened and what to do. Never raises.

    `group_name`/`access` fill in the context when the error was raised before it knew its group (the outcome
    that carries the error knows it); the error's own context wins when it has one.
    """
    if isinstance(error, RequestRefused):
        name = error.group_name or group_name or ""
        acc = access if access is not None and not error.group_name else error.access
        return _explain_refusal(error, tz, name, acc)
    if isinstance(error, DirectoryError):
        return _explain_directory(error)
    if isinstance(error, IdentityMismatch):
        return (
            "I did not do that: the sign-in I received belongs to a different account than the one you use in "
            "Teams, so nothing was changed. Type “logout”, then try again and sign in as yourself."
        )
    if isinstance(error, SignInRequired):
        return "I need you to sign in before I can act as you; nothing was changed yet. Use the sign-in card."
    return "Something went wrong on our side; nothing was changed. Please try again in a minute."


def _group(name: str) -> str:
    return name or "this group"


def _access_to(access: Access, name: str) -> str:
    return f"{access.value} access to {_group(name)}"


def _explain_refusal(error: RequestRefused, tz: Tz, name: str, access: Access) -> str:
    match error:
        case NotEligible():
            if error.access is Access.OWNER:
                first = f"You are not eligible as owner of a group called “{_shorten(error.asked, 80)}”."
            else:
                first = f"You have no eligible group called “{_shorten(error.asked, 80)}”."
            if error.suggestions:
                return f"{first} Did you mean {or_list(list(error.suggestions))}?"
            return f"{first} Type “status” to see the groups you can activate."
        case EligibilityNotInEffect():
            subject = f"Your {access.value} eligibility for {_group(name)}"
            if error.not_started and error.start is not None:
                when = format_time(error.start, tz, reference=error.now)
                return f"{subject} starts on {when}; you can activate it from then."
            if error.end is not None and error.end <= error.now:
                when = format_time(error.end, tz, reference=error.now)
                return f"{subject} ended on {when}. Ask your administrator to renew it if you still need it."
            return f"{subject} is not in effect right now."
        case AlreadyActive():
            if error.until is None:
                return f"Your {_access_to(access, name)} is already active, with no end date."
            return f"Your {_access_to(access, name)} is already active until {format_time(error.until, tz)}."
        case PendingRequestExists():
            return f"A request for {_access_to(access, name)} is already waiting for approval."
        case DurationTooLong():
            policy = f"The PIM policy for {_group(name)}"
            if error.maximum is not None and error.requested is not None:
                return (
                    f"{policy} allows at most {format_duration(error.maximum)}; "
                    f"you asked for {format_duration(error.requested)}."
                )
            if error.maximum is not None:
                return f"{policy} allows at most {format_duration(error.maximum)}."
            if error.requested is not None:
                return f"{policy} does not allow {format_duration(error.requested)}; please ask for less."
            return f"{policy} does not allow an activation that long; please ask for less."
        case DurationTooShort():
            return f"PIM cannot activate for less than {_MINIMUM}; you asked for {format_duration(error.requested)}."
        case ScheduledNotStarted():
            when = f" on {format_time(error.start, tz)}" if error.start is not None else " later"
            return (
                f"Your activation of {_group(name)} is scheduled to start{when} and has not started, so there is "
                f"nothing to deactivate. Type “cancel {name}” to withdraw it."
            )
        case StartInPast():
            passed = (
                f"{format_time(error.start, tz, reference=error.now)} has already passed, so nothing was requested."
            )
            if error.following is not None:
                return f"{passed} Did you mean {format_time(error.following, tz, reference=error.now)}? Add the day."
            return passed
        case StartDoesNotExist():
            return (
                f"In your time zone, {error.local:%H:%M} does not exist on {error.local:%Y-%m-%d}: the clocks go "
                "forward then. Please pick another time; nothing was requested."
            )
        case StartAfterEligibility():
            ends = format_time(error.end, tz, reference=error.start)
            if error.starts_too_late:
                return f"Your eligibility for {_group(name)} ends {ends}, before that start; nothing was requested."
            room = format_duration(error.end - error.start)
            return (
                f"Your eligibility for {_group(name)} ends {ends}: an activation starting then can run at most "
                f"{room}. Ask for less, or start earlier; nothing was requested."
            )
        case MissingInputs():
            return _explain_missing(name, justification=error.justification, ticket=error.ticket)
        case StepUpRequired():
            return _explain_step_up(error, name)
        case StepUpInsufficient():
            return _explain_step_up_insufficient(error, name)
        case ExtensionDenied():
            return _explain_extension_denied(error, name)
        case PolicyViolation():
            return _explain_policy(error, name)
        case NotActive():
            if error.assigned_by_admin:
                return (
                    f"Your {_access_to(access, name)} was assigned by an administrator, not activated by you; "
                    "only an administrator can remove it."
                )
            return f"You have no active {_access_to(access, name)}, so there is nothing to deactivate."
        case TooSoonToDeactivate():
            return _explain_too_soon(error, tz, name)
        case SelfApproval():
            return "You cannot approve or deny your own request; one of the approvers has to decide it."
        case NotAnApprover():
            return f"You are not an approver for {_group(name)}, so I did not record a decision."
        case AlreadyDecided():
            verb = {Decision.APPROVE: "approved", Decision.DENY: "denied", None: "decided"}[error.decision]
            who = f" by {error.by_name}" if error.by_name else ""
            when = f" at {format_time(error.at, tz)}" if error.at is not None else ""
            return f"This request was already {verb}{who}{when}; nothing more to do."
        case ApprovalExpired():
            when = f" on {format_time(error.expired_at, tz)}" if error.expired_at is not None else ""
            return f"This request expired{when}: nobody decided within 24 hours. The requester can ask again."
        case ApprovalClosed():
            if error.canceled:
                return "The requester canceled this request, so there is nothing to decide."
            return "This request is no longer waiting for a decision."
        case MissingApproverJustification():
            return f"The PIM policy for {_group(name)} requires a reason from the approver; please add one."
        case RequestNotFound():
            return "I could not find that request; it may have been removed. Nothing was changed."
        case SelfServiceRefused():
            return (
                f"PIM did not take my request to extend or renew your {_access_to(access, name)}: Microsoft Graph "
                "does not document that request for groups, and this tenant refused it. Nothing was changed. Ask in "
                f"{_PIM_PORTAL}, where the Extend or Renew link sends it to your administrator."
            )
        case _:
            return f"PIM refused the request for {_access_to(access, name)}."


def _explain_too_soon(error: TooSoonToDeactivate, tz: Tz, name: str) -> str:
    if error.earliest is None:
        return (
            f"PIM does not allow deactivating in the first {_MINIMUM} after an activation. "
            "Please try again in a few minutes."
        )
    return f"You can deactivate {_group(name)} {_from_when(error, tz)}. {_FIVE_MINUTE_RULE}"


_FIVE_MINUTE_RULE = f"PIM does not end an activation in its first {_MINIMUM}."


def deactivate_from(error: TooSoonToDeactivate, tz: Tz) -> str:
    """The note under an activation that cannot be ended yet: "You can deactivate from 14:21 (in 4 min). …"."""
    if error.earliest is None:
        return f"{_FIVE_MINUTE_RULE} Please try again in a few minutes."
    return f"You can deactivate {_from_when(error, tz)}. {_FIVE_MINUTE_RULE}"


def _from_when(error: TooSoonToDeactivate, tz: Tz) -> str:
    """Like "from 14:21 (in 4 min)", both rounded up: a button pressed at the time said always works."""
    assert error.earliest is not None
    earliest = _next_minute(error.earliest)
    if error.now is None:
        return f"from {format_time(earliest, tz)}"
    if error.earliest <= error.now:
        return "now"
    minutes = math.ceil((error.earliest - error.now) / timedelta(minutes=1))
    return f"from {format_clock(earliest, tz, reference=error.now)} (in {minutes} min)"


def _next_minute(when: datetime) -> datetime:
    whole = when.replace(second=0, microsecond=0)
    return whole if whole == when else whole + timedelta(minutes=1)


def missing_inputs_phrase(*, justification: bool, ticket: bool) -> str:
    """Like "a justification", "a ticket number", "a justification and a ticket number"."""
    wanted = [w for w, on in (("a justification", justification), ("a ticket number", ticket)) if on]
    return and_list(wanted) or "more information"


def _explain_missing(name: str, *, justification: bool, ticket: bool) -> str:
    wanted = missing_inputs_phrase(justification=justification, ticket=ticket)
    how = [h for h, on in (("“because …”", justification), ("“ticket …”", ticket)) if on]
    hint = f" Add {and_list(how)} to your command." if how else ""
    return f"The PIM policy for {_group(name)} requires {wanted}.{hint}"


# Where a person activates a PIM group in the portal (My roles → Groups). Microsoft documents no deep links into PIM;
# this is the blade the Entra admin center opens for it (as in cards.feed.pim_group_url); if the portal ever stops
# honouring it, it lands on PIM's start page, from which My roles is one click away.
PIM_ACTIVATE_URL = "https://entra.microsoft.com/#view/Microsoft_Azure_PIMCommon/ActivationMenuBlade/~/aadgroup"
_PIM_PORTAL = "the PIM portal (Privileged Identity Management → My roles → Groups)"


def _context(error: StepUpRequired | StepUpInsufficient, *, quoted: bool) -> str:
    """The authentication context by its display name when the bot could read it, else by its id (`c1`)."""
    label = _shorten(error.context_name or error.authentication_context or "", 40)
    return f"“{label}”" if quoted else label


def _explain_step_up(error: StepUpRequired, name: str) -> str:
    needs = []
    if error.mfa:
        needs.append("multi-factor authentication")
    if error.authentication_context:
        needs.append(f"the Conditional Access authentication context {_context(error, quoted=True)}")
    what = and_list(needs) or "a stronger sign-in"
    how = "Sign in again with MFA" if error.mfa and not error.authentication_context else "Sign in again"
    return (
        f"The PIM policy for {_group(name)} requires {what} for this activation. {how} and try again "
        "(this bot's own step-up sign-in is not switched on here), or activate it in the Azure portal "
        "(Privileged Identity Management → My roles → Groups)."
    )


def step_up_requirement(error: StepUpRequired, name: str) -> str:
    """One plain sentence: "Finance-Prod requires the Conditional Access authentication context “Sensitive admin
    actions”."."""
    needs = []
    if error.mfa:
        needs.append("multi-factor authentication (MFA)")
    if error.authentication_context:
        context = _context(error, quoted=bool(error.context_name))
        needs.append(f"the Conditional Access authentication context {context}")
    return f"{name} requires {and_list(needs) or 'a stronger sign-in'}."


def _explain_step_up_insufficient(error: StepUpInsufficient, name: str) -> str:
    if error.authentication_context:
        missing = f"did not satisfy the Conditional Access authentication context {_context(error, quoted=True)}"
        admin = " If it fails there too, your administrator can check the Conditional Access policy for that context."
    elif error.mfa:
        missing = "did not give it multi-factor authentication"
        admin = (
            " Your administrator can make this work here: require a Conditional Access authentication context with "
            "an authentication strength for this group, instead of the MFA setting."
        )
    else:
        missing = "did not meet its sign-in requirements"
        admin = ""
    return (
        f"You signed in again, but PIM still refused to activate {_group(name)}: the sign-in {missing}, so another "
        f"sign-in would end the same way. Activate it in {_PIM_PORTAL} instead.{admin}"
    )


def _rule_words(rule: str) -> str:
    # Rules arrive as bare names ("ExpirationRule") or with PIM's text ("MfaRule - Multi-factor …").
    key = rule.strip().strip("[]\"'").split(" ", 1)[0].split("-", 1)[0].strip().lower()
    return _RULES.get(key) or f"the rule “{_shorten(rule, 40)}” failed"


def _explain_extension_denied(error: ExtensionDenied, name: str) -> str:
    """PIM asked the group's custom extension (this bot's activation rules, or another check) and it said no; the
    reasons as Graph passed them on (bot.extension.notices adds them from the bot's own record when Graph did not)."""
    if error.reasons:
        said = [_shorten(reason, 200).strip() for reason in error.reasons[:5]]
        text = extension_denied(name, [r if r.endswith((".", "!", "?", ")")) else r + "." for r in said])
    else:
        text = f"{_group(name)} was denied by the activation rules PIM checks before every activation."
    return text[0].upper() + text[1:]


def _explain_policy(error: PolicyViolation, name: str) -> str:
    words = list(dict.fromkeys(_rule_words(r) for r in error.rules if r.strip()))
    if words:
        return f"The PIM policy for {_group(name)} refused the request: {and_list(words)}."
    if error.detail:
        return f"The PIM policy for {_group(name)} refused the request ({_shorten(error.detail)})."
    return f"The PIM policy for {_group(name)} refused the request."


def _explain_directory(error: DirectoryError) -> str:
    ref = f" (Graph request id {error.request_id})" if error.request_id else ""
    match error:
        case Throttled():
            return f"Microsoft Graph is busy; nothing was changed. Please try again in {_wait(error.retry_after)}."
        case TokenRejected():
            return (
                "Microsoft Graph did not accept the sign-in the bot used (expired or revoked); nothing was changed. "
                "Please try again; if this keeps happening, type “sign out” and try once more, or ask your "
                f"administrator.{ref}"
            )
        case PermissionDenied():
            what = f" ({_shorten(error.detail, 100)})" if error.detail else ""
            return f"The bot lacks a Microsoft Graph permission{what}; please ask your administrator.{ref}"
        case EntraUnreachable():
            return (
                "The bot cannot reach Microsoft Entra, Microsoft's sign-in service, right now, so it cannot use "
                "Microsoft Graph; nothing was changed. It keeps trying by itself: please try again in a few minutes."
            )
        case OutcomeUnknown():
            return (
                "Microsoft Graph has not confirmed whether this was done, and I still cannot read it back. Type "
                f"“status” in a few minutes to see where things stand.{ref}"
            )
        case NotCarriedOut():
            how = f" (PIM ended the request as {error.status})" if error.status else ""
            return f"Microsoft Graph did not carry this out{how}; nothing was changed. Please try again."
        case DirectoryUnavailable():
            return (
                f"Microsoft Graph is not answering right now; nothing was changed. Please try again in a minute.{ref}"
            )
        case _:
            return f"Microsoft Graph could not answer; nothing was changed. Please try again in a minute.{ref}"


def _wait(seconds: float | None) -> str:
    if seconds is None or seconds <= 0 or math.isnan(seconds):
        return "a minute"
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    return f"{math.ceil(seconds / 60)} min"


# ---- the status card ------------------------------------------------------------------------------------------------


# Microsoft: "Application may provide access to users based on their group membership. In some situations, application
# access may not immediately reflect [it] … For some applications, signing out and signing back in may help"
# (learn.microsoft.com/entra/id-governance/privileged-identity-management/groups-activate-roles); and for Microsoft
# Entra roles with permissions in SharePoint, Exchange or Microsoft Purview given through a group, "it may take
# significant time to have all permissions of the role activated and ready to use" (…/concept-pim-for-groups).
LAG_NOTE = (
    "Apps that remember your group memberships may need you to sign out and in again; Exchange, SharePoint and "
    "Purview permissions given through a group can take much longer (Microsoft documents both)."
)


def in_effect_line(access: Access, live: bool | None) -> str:
    """What Graph's directory said right after the activation: in effect now, or not yet (and that the bot checks
    again); empty when it was not checked."""
    what = "a member" if access is Access.MEMBER else "an owner"
    if live is True:
        return f"In effect now: Microsoft Entra ID shows you as {what}."
    if live is False:
        return (
            f"PIM has added you, but Microsoft Entra ID does not show you as {what} yet. I'll keep checking for a "
            "few minutes and tell you when it does."
        )
    return ""


def now_in_effect(group: str, access: Access, after: timedelta) -> str:
    """The follow-up once a membership not visible at first is: in effect now, and how long it took."""
    what = "a member" if access is Access.MEMBER else "an owner"
    took = format_duration(after) if after >= timedelta(minutes=1) else f"{max(int(after.total_seconds()), 1)} s"
    return f"{group}: in effect now. Microsoft Entra ID shows you as {what} ({took} after it was activated). {LAG_NOTE}"


def still_not_in_effect(group: str, access: Access, waited: timedelta) -> str:
    """The follow-up when the directory still does not show an activation after the bounded re-checks."""
    what = "a member" if access is Access.MEMBER else "an owner"
    return (
        f"{group}: PIM activated it, but after {format_duration(waited)} Microsoft Entra ID still does not show you "
        f"as {what}. Type “status” to see what PIM holds; if it persists, ask your administrator to check the PIM "
        "audit log."
    )


def scheduled_did_not_start(group: str, status: str) -> str:
    """A scheduled activation that ended without starting (PIM's status, e.g. Failed or Denied)."""
    return f"Your scheduled activation of {group} did not start: PIM says “{status}”. Nothing is active."


def utc_fallback_note() -> str:
    """Said under a scheduled time when Teams did not send the user's time zone: the bot read it as UTC."""
    return "Your Teams client did not send its time zone, so I read the time as UTC."


def nothing_active(example: str | None) -> str:
    """The status card's line when nothing is active; `example` is a command that activates one of the user's own
    eligible groups (None: there is none to activate)."""
    if example is None:
        return "Nothing is active right now."
    return f"Nothing is active right now. Activate a group below, or type “{example}”."


# ---- slips: text that was no command (cards.slip) -----------------------------------------------------------------

_SLIP_ELSEWHERE = {
    "channel": "Here I answer “help” and the admin commands; for your own access, write to me in our private chat.",
    "groupChat": "Here I answer “help”; for your own access, write to me in our private chat.",
}
ADMIN_COMMANDS_INTRO = "For admins, in a Teams channel with me @mentioned:"


def slip_line(slip: Help, *, where: str = "personal", choices: bool | None = None, example: str | None = None) -> str:
    """The one line that answers a slip. `choices`: for a command that lacked its group, whether the user has any to
    choose from (the buttons below); `example`: that command typed with the first of them."""
    said = "You're welcome!" if slip.thanks else slip.reason or ""
    if where != "personal":
        return f"{said} {_SLIP_ELSEWHERE.get(where, _SLIP_ELSEWHERE['groupChat'])}".strip()
    if slip.thanks:
        return "You're welcome! Anything else?"
    if choices is not None:
        return _which(slip.meant, choices, example)
    if slip.correction:
        return f"{said} Did you mean “{slip.correction}”?"
    return f"{said} Try one of these, or “help” for everything I can do."


def _which(meant: Command | None, choices: bool, example: str | None) -> str:
    """A command that lacked the group (or request) it acts on."""
    if isinstance(meant, Deactivate):
        if choices:
            return "Which group should I deactivate? Choose one below."
        return "Nothing is active right now, so there is nothing to deactivate."
    if isinstance(meant, Cancel):
        if choices:
            return "Which request should I cancel? Choose one below."
        return "You have no request waiting for approval, so there is nothing to cancel."
    if not choices:
        return "Which group? You have no group you can activate right now; “status” shows what you hold."
    duration = meant.duration if isinstance(meant, Activate) else None
    what = f"activate for {format_duration(duration)}" if duration is not None else "activate"
    typed = f", or type “{example}”" if example else ""
    return f"Which group should I {what}? Choose one below{typed}."


# ---- commands typed in a channel or group chat that continue in the 1:1 chat (bot.private) -------------------------

REPLIED_PRIVATELY = "I've replied to you privately."
# Teams refuses to open the 1:1 chat: the app is not added for the user (and no team they share has it).
PRIVATE_CHAT_REFUSED = (
    "I answer that only in our private chat, and Teams won't let me start one with you, so I did nothing. Add PIM Bot "
    "for yourself (Apps, search for “PIM Bot”, Add) or open a chat with me, then ask again."
)
PRIVATE_CHAT_FAILED = (
    "I could not reach our private chat just now (Teams did not answer), so I did nothing. "
    "Please try again in a minute."
)
_QUOTED_MAX = 200  # characters of the user's command quoted back in the 1:1 chat


def place_name(kind: str) -> str:
    """A Teams conversation type (`channel`, `groupChat`, `personal`) as the user would call it."""
    return {"channel": "a channel", "groupChat": "a group chat", "personal": "our chat"}.get(kind, "a shared chat")


def private_intro(kind: str, command: str | None) -> str:
    """The first line in the user's 1:1 chat when a command typed (or a card used) in a channel or group chat
    continues there."""
    where = place_name(kind)
    if command:
        quoted = command if len(command) <= _QUOTED_MAX else command[: _QUOTED_MAX - 1] + "…"
        return (
            f"You asked me in {where}: “{quoted}”. I answer here, in our private chat: your PIM access is yours to see."
        )
    return f"You used one of my cards in {where}; I answer here, in our private chat: your PIM access is yours to see."


def help_intro_shared(kind: str) -> str:
    """The help card's first line in a channel or group chat: what is answered there, and where the rest goes."""
    here = "the admin commands below and “help”" if kind == "channel" else "“help”"
    return (
        f"In {place_name(kind)} I answer {here}. Your own PIM access is yours to see: “activate”, “deactivate”, "
        "“status”, “cancel” and “pending” I answer in our private chat. Write to me there, or here with me @mentioned "
        "and I reply to you privately."
    )


# ---- admin commands ------------------------------------------------------------------------------------------------


def not_an_admin(command: str, *, configured: bool) -> str:
    """The refusal of an admin command (“approvals here …”, “feed here”) to someone who is not an admin; `configured`
    False (no BOT_ADMINS, no BOT_ADMIN_GROUP) says how to set admins up."""
    if not configured:
        return (
            f"Only the bot's admins can use “{command}”, and none are set up yet, so nothing was changed. Whoever "
            "runs the bot can name them in the BOT_ADMINS setting (Entra object ids) or BOT_ADMIN_GROUP (a group's "
            "object id)."
        )
    return (
        f"Only the bot's admins can use “{command}”, so nothing was changed. If you should be one, ask whoever runs "
        "the bot to add you to BOT_ADMINS or to the admin group (BOT_ADMIN_GROUP)."
    )


# ---- the admin feed's commands (issue 5) -------------------------------------------------------------------------

FEED_ONLY_IN_A_CHANNEL = (
    "Type `feed here` in the Teams channel where the admin feed should go, with me @mentioned; "
    "a personal or group chat cannot be the feed channel."
)
FEED_NOT_SET_UP = "The admin feed is not available in this deployment of the bot."
FEED_IS_OFF = (
    "The admin feed is off. An administrator turns it on by typing `feed here` in the channel it should post in."
)
FEED_MAY_REPEAT = (
    "The bot restarted while posting the next change; if it appears twice, the first copy was already posted."
)
FEED_POLL_FAILED = "Microsoft Graph could not be read; the feed tries again at the next poll."
FEED_POST_FAILED = "Posting to the channel failed; the changes stay queued and are posted at the next poll."
FEED_WAITING_FOR_SERVICE_URL = (
    "The admin feed goes to the channel in FEED_CHANNEL, but Teams has not told me how to reach it yet: it will, "
    "as soon as I am added to the team or anyone sends me a message. Or type `feed here` in the channel."
)
FEED_DISCOVERY_DENIED = (
    "Discovery cannot read the PIM audit log: the bot's app registration needs the AuditLog.Read.All application "
    "permission (with admin consent). Until then only FEED_GROUPS is monitored."
)
FEED_DISCOVERY_FAILED = "The PIM audit log could not be read; discovery tries again in 5 minutes."
FEED_AUDIT_DENIED = (
    "The PIM audit log cannot be read: the bot's app registration needs the AuditLog.Read.All application permission "
    "(with admin consent). Until then approvals decided outside Teams are posted without the approver, and requests "
    "made outside the bot that were denied or expired are not posted."
)
FEED_AUDIT_FAILED = "The PIM audit log could not be read; the feed tries again in 5 minutes."
FEED_WAS_OFF = "The admin feed is off already; `feed here` in a channel turns it on."


def feed_here_text(
    channel: str,
    groups: Sequence[str],
    moved_from: str | None,
    problem: str | None = None,
    *,
    discovering: bool = False,
) -> str:
    """The answer to `feed here`: where the feed goes now, what it watches (or why that is not known), and where it
    came from. `discovering`: FEED_DISCOVER is on, so groups found in the PIM audit log are added as they appear."""
    moved = f" (moved from {moved_from})" if moved_from else ""
    if problem:
        watched = problem
    elif groups:
        shown = and_list([*groups[:10], f"{len(groups) - 10} more"] if len(groups) > 10 else list(groups))
        watched = f"I watch {len(groups)} group{'s' if len(groups) != 1 else ''}: {shown}."
        if discovering:
            watched += " PIM groups I find in the PIM audit log are added as they appear."
    elif discovering:
        watched = "I watch the PIM groups I find in the PIM audit log, from the first check on."
    else:
        watched = "I found no groups to watch yet; check FEED_GROUPS and the app's Graph permissions."
    return (
        f"The admin feed now posts here, in {channel}{moved}. {watched} New eligible and active assignments, "
        "their ends and approval decisions appear from the next check on, whoever makes them."
    )


def feed_groups_unknown(missing: Sequence[str], ambiguous: Sequence[str]) -> str:
    """FEED_GROUPS names groups Graph does not know, or a name several groups share: nothing is monitored."""
    parts: list[str] = []
    if missing:
        parts.append(f"no group is named or has the id {and_list([f'“{m}”' for m in missing])}")
    if ambiguous:
        parts.append(f"several groups are named {and_list([f'“{a}”' for a in ambiguous])} (use the group's id)")
    return f"FEED_GROUPS needs fixing: {and_list(parts) or 'it names unknown groups'}. Nothing is monitored until then."


def feed_off_text(channel: str) -> str:
    return f"The admin feed is off; nothing more is posted in {channel}. `feed here` in a channel turns it on again."


# ---- writes whose answer was lost ----------------------------------------------------------------------------------


def unconfirmed_write(kind: WriteKind, access: Access, group: str) -> str:
    """A self-service write sent to Graph whose answer was lost and could not be read back yet."""
    done = "activated" if kind is WriteKind.ACTIVATE else "deactivated"
    return (
        f"I could not confirm yet whether your {_access_to(access, group)} was {done}: Microsoft Graph's answer did "
        "not reach me. I will tell you in a moment."
    )


def decision_unconfirmed(decision: Decision) -> str:
    """An approver's decision sent to Graph whose answer was lost and could not be read back yet."""
    return (
        f"I could not confirm yet whether your {_DECISION_NOUN[decision]} reached PIM: Microsoft Graph's answer did "
        "not reach me. I will tell you in a moment."
    )


def decided_by_you(decision: Decision, group: str, requester: str) -> str:
    """The approver's own decision is the one PIM recorded (also when its first answer was lost)."""
    verb = "approved" if decision is Decision.APPROVE else "denied"
    whose = f"{requester}'s" if requester else "the"
    return f"You {verb} {whose} request for {_group(group)}."


def cancel_came_too_late(decision: Decision, group: str, by_name: str) -> str:
    """The requester's Cancel met a request an approver had decided (first, or at the same moment)."""
    verb = "approved" if decision is Decision.APPROVE else "denied"
    who = f" by {by_name}" if by_name else ""
    return f"Your request for {_group(group)} was already {verb}{who}, so it was not cancelled."


def decision_not_recorded(decision: Decision, group: str) -> str:
    """The approver's decision never reached PIM: the request still waits, the card's buttons work."""
    return (
        f"Your {_DECISION_NOUN[decision]} of the request for {_group(group)} did not reach PIM; nothing was changed. "
        "The request still waits: decide again on the card."
    )


_DECISION_NOUN = {Decision.APPROVE: "approval", Decision.DENY: "denial"}


# -- the requester is told who was sent the approval card, and why anyone was not (bot.approvals, bot.reach) --

_UNREACHED = {
    Unreached.NOT_INSTALLED: "I could not reach {who} in Teams ({have} not chatted with me yet).",
    Unreached.NOT_ALLOWED: (
        "I could not reach {who} in Teams: I am not allowed to add myself to people's Teams (an administrator can "
        "allow it)."
    ),
    Unreached.NOT_IN_CATALOG: (
        "I could not reach {who} in Teams: my app is not in your organisation's Teams app catalog, so I could not add "
        "it for them."
    ),
    Unreached.NOT_FOUND: "I could not reach {who} in Teams: Teams did not find them when I tried to add myself.",
    Unreached.NO_CHAT: "I could not reach {who} in Teams: I could not open a chat with them.",
    Unreached.UNAVAILABLE: "I could not reach {who} in Teams just now: Teams did not answer.",
    Unreached.UNDELIVERED: "Teams did not accept the card for {who} (the bot may be blocked or removed there).",
}


def approvers_notified(group: str, sent: Sequence[str], unreached: Mapping[Unreached, Sequence[str]]) -> str:
    """After the approval cards went out: to whom (names), and why each other approver got none."""
    parts: list[str] = []
    if sent:
        parts.append(f"I sent your request for {group} to {and_list(list(sent))} in Teams.")
    for reason in Unreached:  # always in the same order
        names = list(unreached.get(reason) or ())
        if names:
            have = "has" if len(names) == 1 else "have"
            parts.append(_UNREACHED[reason].format(who=and_list(names), have=have))
    if len(parts) > (1 if sent else 0):
        parts.append("PIM notifies approvers by e-mail.")
    if not parts:
        parts.append(f"The policy for {group} names no approvers I could find; PIM notifies them by e-mail.")
    return " ".join(parts)


# ---- the bot's own web pages (bot.pages): the step-up sign-in's start and end in the browser -----------------------

PRODUCT_NAME = "PIM Bot"
PAGE_TAGLINE = "Just-in-time access with Microsoft Entra PIM, in Teams"
BACK_TO_TEAMS = "You can close this window and go back to Teams."
SEND_AGAIN = "Go back to Teams and send your request again."

SIGNED_IN = "You're signed in"
SIGNED_IN_CARRIED_ON = "PIM Bot carried on with your request: its answer is in your chat in Teams."
SIGNED_IN_NOTHING_WAITING = "No request of yours was waiting for this sign-in: send it again in Teams."
SIGNED_IN_NOT_CARRIED_ON = "PIM Bot could not finish your request: type “status” in Teams to see where it stands."
LINK_EXPIRED = "Sign-in link expired"
LINK_EXPIRED_TEXT = "This sign-in link has expired or was already used, so nothing was changed."
SIGN_IN_INCOMPLETE = "Sign-in did not complete"
SIGN_IN_INCOMPLETE_TEXT = "Microsoft Entra did not give PIM Bot a sign-in, so nothing was changed."
WRONG_ACCOUNT = "Wrong account"
WRONG_ACCOUNT_TEXT = "You signed in with a different account than the one you use in Teams, so nothing was changed."
WRONG_ACCOUNT_NEXT = "Send your request again in Teams and sign in as yourself."
ENTRA_UNREACHABLE = "Microsoft Entra cannot be reached"
ENTRA_UNREACHABLE_TEXT = (
    "The bot cannot reach Microsoft Entra, Microsoft's sign-in service, right now, so nothing was changed."
)
ENTRA_UNREACHABLE_RETRY_LINK = "Open the same link again in a minute; it still works."
ENTRA_UNREACHABLE_RETRY_REQUEST = "Go back to Teams and send your request again in a minute."
PAGE_NOT_FOUND = "This page does not exist"
PAGE_NOT_FOUND_TEXT = "PIM Bot has no page at this address."
SIGN_IN_OFF = "Sign-in is turned off"
SIGN_IN_OFF_TEXT = "Signing in from the browser is turned off for this PIM Bot, so nothing was changed."
PAGE_FAILED = "Something went wrong"
PAGE_FAILED_TEXT = "PIM Bot could not finish this page because of an error on its side; it has been logged."


def signed_in_as(name: str) -> str:
    """The line under "You're signed in" naming the Teams user the sign-in was checked against."""
    return f"Signed in as {name}."


# ---- a turn that failed on the bot's side (bot.handler, bot.transport.turns) -----------------------------------------

# Whether anything was changed is not known where this is said: the user is sent to `status`.
SORRY = (
    "Sorry, something went wrong on my side and I could not finish that. "
    "Type `status` to see where things stand before you try again."
)


# The bot process stopped while it handled the person's message or click, and Teams did not send it again.
INTERRUPTED = (
    "I was restarted while I was working on your last request, so I could not finish answering it. "
    "Type `status` to see where things stand before you try again."
)


# ---- a click whose answer takes longer than Teams waits (bot.transport.turns) ----------------------------------------

WORKING_HEADING = "Working on it…"
WORKING_TEXT = (
    "This is taking longer than usual. I'm still on it, and this card will show the result as soon as I have it; "
    "there is no need to click again."
)
# The answer to a click came too late for Teams to show the sign-in it asks for: nothing was done yet.
LATE_SIGN_IN = "I need you to sign in before I can do that, so nothing was changed. Click the button again to sign in."


# ---- a typed “cancel <group>” asks once (cards.cancel) ---------------------------------------------------------------


def keeping(group: str) -> str:
    """Said before a Keep it the bot carries out when the activation it continues ends (bot.ending)."""
    return f"Your activation of {group} has ended: activating it again, as you asked (Keep it)."


def cancel_question(group: str) -> str:
    return f"Cancel your request for {_group(group)}?"


CANCEL_QUESTION_NOTE = "Cancel request withdraws it in PIM and the approvers' cards say so; Keep it leaves it waiting."
CANCEL_KEPT = "Kept: your request still waits for approval."


# ---- the demo's commands (BOT_DEMO; bot.demo) -------------------------------------------------------------------

DEMO_USAGE = (
    "In this demo, “demo request” has a colleague ask for a group you approve, so you can try the approver's side: "
    "the approval card, Approve or Deny with a reason, every copy updated."
)
DEMO_INTRO = (
    "This is the demo: your simulated colleagues ask for groups you approve. Have one ask (or type “demo request”), "
    "then decide on the approval card that comes."
)
DEMO_BUTTON = "A colleague asks for access"
DEMO_TENANT_UNREACHABLE = "The simulated tenant did not answer, so no colleague asked. Try again in a moment."


def demo_request_sent(requester: str, group: str, justification: str) -> str:
    """A simulated colleague asked, outside the bot; the bot's approval check brings the card (bot.demo)."""
    why = f" (“{_shorten(justification)}”)" if justification else ""
    return (
        f"{requester} just asked for {group}{why}, with their own sign-in, as in the Entra portal: not through me. "
        "I look for requests made elsewhere when I check PIM, so your approval card arrives here within half a minute."
    )


def demo_no_colleague(reason: str) -> str:
    return f"No colleague could ask: {_shorten(reason, 300).rstrip('.')}."


# ---- the welcome when the bot is added to a team or a group chat (cards.welcome) ----------------------------------

WELCOME_WHAT = (
    "I bring Microsoft Entra PIM for Groups to Teams: just-in-time membership of privileged groups, asked for in a "
    "chat and approved where your team works."
)
WELCOME_IN_CHANNEL = "Here in the channel, with me @mentioned:"
WELCOME_IN_GROUP_CHAT = (
    "Here in the group chat I answer “help” with me @mentioned. Posting approval requests and PIM changes for a team "
    "is set up in one of its channels."
)
WELCOME_HELP = "What I answer here."
WELCOME_PRIVATE = (
    "Your own access is yours to see: “activate” (now or later, e.g. “tomorrow 9:00”), “deactivate”, “status”, "
    "“cancel”, “pending” and “history” I answer in a private chat with you. Write to me there, or @mention me here "
    "with the command and I reply to you privately."
)


def welcome_heading(bot: str) -> str:
    return f"Hello, I'm {bot}"


# ---- the admins' audit export (bot.exports) ------------------------------------------------------------------------

EXPORT_NO_GROUPS = (
    "No groups are monitored, so there is nothing to export. The export covers the admin feed's groups: whoever runs "
    "the bot names them in FEED_GROUPS (or turns on FEED_DISCOVER)."
)
EXPORT_IN_THE_FUTURE = "That period has not begun yet, so there is nothing to export. Pick days up to today (UTC)."
EXPORT_OFF = "The audit export is switched off here (AUDIT_EXPORT_MAX_DAYS=0); whoever runs the bot can turn it on."
EXPORT_BAD_CONSENT = "I could not read your answer to the file card. Please run “audit export” again."
EXPORT_GONE = (
    "That export is no longer here: it was sent or declined already, or is more than a day old. Run “audit export” "
    "again for a fresh one."
)
EXPORT_NOT_YOURS = "That file card belongs to another admin's export; nothing was sent."


def export_unknown_groups(names: Sequence[str], monitored: Sequence[str]) -> str:
    listed = and_list(list(monitored)) if monitored else "none"
    which = and_list([f"“{n}”" for n in names])
    return (
        f"{which} {'is' if len(names) == 1 else 'are'} not among the monitored groups ({listed}). Nothing was exported."
    )


def export_too_long(days: int, most: int) -> str:
    return (
        f"That period is {days} days; an export covers {most} at most (AUDIT_EXPORT_MAX_DAYS). Nothing was exported: "
        "split it into shorter periods."
    )


def export_reading(groups: int) -> str:
    return (
        f"Reading PIM's audit log and requests for {groups} group{'s' if groups != 1 else ''}. A long period can take "
        "a minute: the audit log answers 5 requests every 10 seconds."
    )


def export_file_description(rows: int) -> str:
    return f"PIM for Groups audit export: {rows} row{'s' if rows != 1 else ''} (CSV)."


def export_declined(file_name: str) -> str:
    return f"OK, I won't upload {file_name}. Run “audit export” again whenever you want it."


def export_upload_failed(file_name: str) -> str:
    return f"I could not upload {file_name} to your OneDrive. Please run “audit export” again."


def export_uploaded(file_name: str) -> str:
    return f"{file_name} is in your OneDrive (in the Microsoft Teams Chat Files folder):"


# ---- PIM's custom extension (bot.extension) --------------------------------------------------------------------


def extension_auto_approved(group_name: str, reasons: Sequence[str]) -> str:
    """The requester's line when the custom extension approved their activation without the approvers."""
    why = " ".join(reasons) or "Approved automatically."
    return f"{_group(group_name)}: {why}"


def extension_denied(group_name: str, reasons: Sequence[str]) -> str:
    """The requester's line when the custom extension denied their activation: its reasons, as PIM shows them."""
    why = " ".join(reasons) or "No reason was given."
    return f"{_group(group_name)} was denied by the activation rules: {why}"


def extension_passed(rule: str, reasons: Sequence[str], *, fallback: bool) -> str:
    """The approval card's line: the custom extension passed the request to the approvers."""
    if fallback:
        return "The activation rules could not decide in time and passed this request on for approval."
    why = "".join(f" {r}" for r in reasons if r != NO_OBJECTION)
    return f"Checked by the activation rules: no rule objected; passed to you for approval.{why}"
