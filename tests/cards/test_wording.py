"""What the bot says for every failure kind, and how it writes times and durations."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

import core.errors
from cards.wording import (
    deactivate_from,
    decided_by_you,
    decision_not_recorded,
    decision_unconfirmed,
    explain,
    format_clock,
    format_duration,
    format_time,
    not_an_admin,
    or_list,
    step_up_requirement,
    unconfirmed_write,
    zone_label,
)
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
    ExtensionDenied,
    IdentityMismatch,
    MissingApproverJustification,
    MissingInputs,
    NotActive,
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
    StartAfterEligibility,
    StartDoesNotExist,
    StartInPast,
    StepUpInsufficient,
    StepUpRequired,
    Throttled,
    TokenRejected,
    TooSoonToDeactivate,
)
from core.models import Access, Decision, WriteKind

TZ = "Europe/Berlin"
NOW = datetime(2026, 11, 22, 13, 5, tzinfo=UTC)
G = "Exchange-Admins"


def ex(error: RequestRefused, access: Access = Access.MEMBER) -> str:
    return explain(error.for_group(G, access), TZ)


# ---- formats ---------------------------------------------------------------------------------------------------


def test_time_in_the_users_zone() -> None:
    assert format_time(NOW, TZ) == "Sun 22 Nov, 14:05 (CET)"
    assert format_time(NOW, "America/New_York") == "Sun 22 Nov, 08:05 (EST)"


def test_time_without_or_with_an_unknown_zone_is_utc_and_says_so() -> None:
    assert format_time(NOW, None) == "Sun 22 Nov, 13:05 (UTC)"
    assert format_time(NOW, "Mars/Olympus_Mons") == "Sun 22 Nov, 13:05 (UTC)"
    assert format_time(NOW, "../../etc/passwd") == "Sun 22 Nov, 13:05 (UTC)"
    assert zone_label("", NOW) == "UTC"


def test_time_crossing_midnight_and_dst() -> None:
    assert format_time(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), TZ) == "Sun 29 Mar, 03:30 (CEST)"
    assert format_time(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), TZ) == "Fri 1 Jan, 00:30 (CET)"


def test_year_is_shown_only_when_it_differs_from_the_reference() -> None:
    later = datetime(2027, 4, 21, 13, 5, tzinfo=UTC)
    assert format_time(later, TZ, reference=NOW) == "Wed 21 Apr 2027, 15:05 (CEST)"
    assert format_time(later, TZ) == "Wed 21 Apr, 15:05 (CEST)"
    assert format_time(NOW, TZ, reference=NOW) == "Sun 22 Nov, 14:05 (CET)"


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert format_time(NOW.replace(tzinfo=None), TZ) == format_time(NOW, TZ)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=2), "2 h"),
        (timedelta(minutes=90), "1 h 30 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=8), "8 h"),
        (timedelta(hours=26), "1 d 2 h"),
        (timedelta(seconds=30), "less than a minute"),
    ],
)
def test_durations(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_or_list() -> None:
    assert [or_list([]), or_list(["A"]), or_list(["A", "B"]), or_list(["A", "B", "C"])] == [
        "",
        "A",
        "A or B",
        "A, B or C",
    ]


# ---- every kind --------------------------------------------------------------------------------------------------


def test_not_eligible_with_suggestions() -> None:
    text = explain(NotEligible("Exchnage", ("Exchange-Admins", "Teams Admins")), TZ)
    assert text == "You have no eligible group called “Exchnage”. Did you mean Exchange-Admins or Teams Admins?"


def test_not_eligible_without_suggestions_points_to_status() -> None:
    text = explain(NotEligible("Payroll"), TZ)
    assert text == "You have no eligible group called “Payroll”. Type “status” to see the groups you can activate."


def test_not_eligible_as_owner() -> None:
    assert explain(NotEligible("Payroll", access=Access.OWNER), TZ).startswith(
        "You are not eligible as owner of a group called “Payroll”."
    )


def test_eligibility_not_started() -> None:
    error = EligibilityNotInEffect(NOW + timedelta(days=1), None, NOW)
    assert ex(error) == (
        "Your member eligibility for Exchange-Admins starts on Mon 23 Nov, 14:05 (CET); you can activate it from then."
    )


def test_eligibility_expired() -> None:
    error = EligibilityNotInEffect(NOW - timedelta(days=400), NOW - timedelta(days=365), NOW)
    assert ex(error) == (
        "Your member eligibility for Exchange-Admins ended on Sat 22 Nov 2025, 14:05 (CET). "
        "Ask your administrator to renew it if you still need it."
    )


def test_already_active() -> None:
    assert ex(AlreadyActive(NOW + timedelta(hours=1))) == (
        "Your member access to Exchange-Admins is already active until Sun 22 Nov, 15:05 (CET)."
    )
    assert (
        ex(AlreadyActive(None), Access.OWNER)
        == "Your owner access to Exchange-Admins is already active, with no end date."
    )


def test_pending_request_exists() -> None:
    assert ex(PendingRequestExists("req-1")) == (
        "A request for member access to Exchange-Admins is already waiting for approval."
    )
    assert ex(PendingRequestExists()).endswith("waiting for approval.")


def test_duration_too_long() -> None:
    error = DurationTooLong(timedelta(hours=10), timedelta(hours=8))
    assert ex(error) == "The PIM policy for Exchange-Admins allows at most 8 h; you asked for 10 h."
    assert ex(DurationTooLong(timedelta(hours=10), None)) == (
        "The PIM policy for Exchange-Admins does not allow 10 h; please ask for less."
    )
    assert ex(DurationTooLong(None, timedelta(hours=8))) == "The PIM policy for Exchange-Admins allows at most 8 h."


def test_duration_too_short() -> None:
    assert ex(DurationTooShort(timedelta(minutes=2))) == (
        "PIM cannot activate for less than 5 minutes; you asked for 2 min."
    )


def test_missing_inputs() -> None:
    assert ex(MissingInputs(justification=True, ticket=True)) == (
        "The PIM policy for Exchange-Admins requires a justification and a ticket number. "
        "Add “because …” and “ticket …” to your command."
    )
    assert "requires a ticket number." in ex(MissingInputs(justification=False, ticket=True))


def test_step_up_mfa() -> None:
    text = ex(StepUpRequired(mfa=True))
    assert text.startswith(
        "The PIM policy for Exchange-Admins requires multi-factor authentication for this activation. "
        "Sign in again with MFA and try again (this bot's own step-up sign-in is not switched on here)"
    )


def test_step_up_authentication_context() -> None:
    text = ex(StepUpRequired(mfa=False, authentication_context="c1", claims='{"access_token":{}}'))
    assert "requires the Conditional Access authentication context “c1” for this activation" in text
    assert "access_token" not in text  # the claims challenge is for the sign-in, not for people


def test_step_up_names_the_authentication_context_by_its_display_name_when_known() -> None:
    named = StepUpRequired(mfa=False, authentication_context="c1", context_name="Sensitive admin actions")
    assert "authentication context “Sensitive admin actions” for this activation" in ex(named)
    assert "c1" not in ex(named)
    assert step_up_requirement(named, G) == (
        "Exchange-Admins requires the Conditional Access authentication context “Sensitive admin actions”."
    )
    unnamed = StepUpRequired(mfa=False, authentication_context="c1")
    assert (
        step_up_requirement(unnamed, G) == "Exchange-Admins requires the Conditional Access authentication context c1."
    )


def test_a_step_up_that_did_not_satisfy_mfa_says_what_works() -> None:
    text = ex(StepUpInsufficient(StepUpRequired(mfa=True)))
    assert text.startswith("You signed in again, but PIM still refused to activate Exchange-Admins")
    assert "did not give it multi-factor authentication" in text and "another sign-in would end the same way" in text
    assert "Activate it in the PIM portal (Privileged Identity Management → My roles → Groups) instead." in text
    assert "authentication context with an authentication strength" in text  # for the administrator


def test_a_step_up_that_did_not_satisfy_the_context_names_it() -> None:
    refused = StepUpRequired(mfa=False, authentication_context="c1", context_name="Sensitive admin actions")
    text = ex(StepUpInsufficient(refused))
    assert "did not satisfy the Conditional Access authentication context “Sensitive admin actions”" in text
    assert "Conditional Access policy for that context" in text


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("ExpirationRule", "the duration is longer than the policy allows"),
        ("JustificationRule", "a justification is required"),
        ("TicketingRule", "ticket information is required"),
        ("MfaRule - Multi-factor authentication is required", "multi-factor authentication is required"),
        ("ApprovalRule", "the activation needs approval"),
        ("ActivationDayRule", "activation is not allowed at this time"),
        ("EligibilityRule", "you are not eligible"),
        ("AdminRequestRule", "only an administrator can make this request"),
        ("SomethingNewRule", "the rule “SomethingNewRule” failed"),
    ],
)
def test_policy_violation_names_the_rule(rule: str, words: str) -> None:
    assert ex(PolicyViolation([rule])) == f"The PIM policy for Exchange-Admins refused the request: {words}."


def test_policy_violation_with_several_rules_and_without_rules() -> None:
    assert ex(PolicyViolation(["JustificationRule", "TicketingRule"])) == (
        "The PIM policy for Exchange-Admins refused the request: "
        "a justification is required and ticket information is required."
    )
    assert ex(PolicyViolation([], "Something odd")) == (
        "The PIM policy for Exchange-Admins refused the request (Something odd)."
    )


def test_not_active() -> None:
    assert ex(NotActive()) == "You have no active member access to Exchange-Admins, so there is nothing to deactivate."
    assert "only an administrator can remove it" in ex(NotActive(assigned_by_admin=True))


def test_too_soon_to_deactivate_explains_the_five_minute_rule() -> None:
    assert ex(TooSoonToDeactivate(NOW + timedelta(minutes=3), now=NOW)) == (
        "You can deactivate Exchange-Admins from 14:08 (in 3 min). PIM does not end an activation in its first "
        "5 minutes."
    )
    # Without the time it was found, the whole date: "in … min" would be a guess.
    assert ex(TooSoonToDeactivate(NOW + timedelta(minutes=3))) == (
        "You can deactivate Exchange-Admins from Sun 22 Nov, 14:08 (CET). PIM does not end an activation "
        "in its first 5 minutes."
    )
    assert ex(TooSoonToDeactivate(None)).endswith("Please try again in a few minutes.")


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (timedelta(minutes=4), "from 14:09 (in 4 min)"),
        (timedelta(minutes=3, seconds=20), "from 14:09 (in 4 min)"),  # 14:08:20: both rounded up
        (timedelta(seconds=1), "from 14:06 (in 1 min)"),
        (timedelta(minutes=5), "from 14:10 (in 5 min)"),
    ],
)
def test_when_deactivation_becomes_possible_is_rounded_up(left: timedelta, said: str) -> None:
    note = deactivate_from(TooSoonToDeactivate(NOW + left, now=NOW), TZ)
    assert note == f"You can deactivate {said}. PIM does not end an activation in its first 5 minutes."


def test_a_time_on_another_day_keeps_its_date() -> None:
    late = datetime(2026, 11, 22, 22, 58, tzinfo=UTC)  # 23:58 in Berlin; deactivatable from 00:03 the next day
    note = deactivate_from(TooSoonToDeactivate(late + timedelta(minutes=5), now=late), TZ)
    assert "from Mon 23 Nov, 00:03 (CET) (in 5 min)" in note
    assert format_clock(late, TZ, reference=late) == "23:58"


def test_directory_unavailable() -> None:
    assert explain(DirectoryUnavailable("timeout"), TZ) == (
        "Microsoft Graph is not answering right now; nothing was changed. Please try again in a minute."
    )
    assert explain(DirectoryUnavailable(request_id="r-9"), TZ).endswith("(Graph request id r-9)")


def test_a_write_that_may_have_landed_is_never_nothing_changed() -> None:
    still = explain(OutcomeUnknown("503", request_id="r-3"), TZ)
    assert "nothing was changed" not in still and "“status”" in still and still.endswith("(Graph request id r-3)")
    assert unconfirmed_write(WriteKind.DEACTIVATE, Access.OWNER, "Teams Admins") == (
        "I could not confirm yet whether your owner access to Teams Admins was deactivated: Microsoft Graph's answer "
        "did not reach me. I will tell you in a moment."
    )
    assert decision_unconfirmed(Decision.DENY).startswith("I could not confirm yet whether your denial reached PIM")


def test_nothing_changed_when_graph_shows_the_write_made_nothing() -> None:
    assert (
        explain(NotCarriedOut(), TZ) == "Microsoft Graph did not carry this out; nothing was changed. Please try again."
    )
    assert "(PIM ended the request as Failed)" in explain(NotCarriedOut("Failed"), TZ)


def test_an_approvers_own_decision_is_told_as_theirs() -> None:
    assert decided_by_you(Decision.APPROVE, "Security-Operators", "Alice Admin") == (
        "You approved Alice Admin's request for Security-Operators."
    )
    assert decided_by_you(Decision.DENY, "", "") == "You denied the request for this group."
    assert decision_not_recorded(Decision.APPROVE, "Security-Operators").startswith(
        "Your approval of the request for Security-Operators did not reach PIM; nothing was changed."
    )


@pytest.mark.parametrize(("after", "wait"), [(30, "30 s"), (0.2, "1 s"), (None, "a minute"), (150, "3 min")])
def test_throttled(after: float | None, wait: str) -> None:
    assert explain(Throttled(after), TZ) == f"Microsoft Graph is busy; nothing was changed. Please try again in {wait}."


def test_permission_denied() -> None:
    assert explain(PermissionDenied("PrivilegedAccess.ReadWrite.AzureADGroup"), TZ) == (
        "The bot lacks a Microsoft Graph permission (PrivilegedAccess.ReadWrite.AzureADGroup); "
        "please ask your administrator."
    )


def test_a_refused_token_is_not_blamed_on_a_missing_permission() -> None:
    # Graph's 401 to the token itself (expired or revoked; the use case already tried once more with a fresh one).
    said = explain(TokenRejected("Lifetime validation failed, the token is expired.", request_id="r-7"), TZ)
    assert "permission" not in said
    assert said == (
        "Microsoft Graph did not accept the sign-in the bot used (expired or revoked); nothing was changed. Please try "
        "again; if this keeps happening, type “sign out” and try once more, or ask your administrator. "
        "(Graph request id r-7)"
    )


def test_context_comes_from_the_outcome_when_the_error_has_none() -> None:
    assert explain(NotActive(), TZ, group_name="Teams Admins", access=Access.OWNER) == (
        "You have no active owner access to Teams Admins, so there is nothing to deactivate."
    )
    assert "this group" in explain(NotActive(), TZ)


def _kinds() -> list[type[PimError]]:
    return [
        c
        for _, c in inspect.getmembers(core.errors, inspect.isclass)
        if issubclass(c, PimError) and c.__module__ == "core.errors"
    ]


def _instance(kind: type[PimError]) -> PimError:
    samples: dict[type[PimError], PimError] = {
        NotEligible: NotEligible("x"),
        EligibilityNotInEffect: EligibilityNotInEffect(None, NOW, NOW),
        AlreadyActive: AlreadyActive(None),
        PendingRequestExists: PendingRequestExists(),
        NotActive: NotActive(),
        TooSoonToDeactivate: TooSoonToDeactivate(None),
        DurationTooLong: DurationTooLong(None, None),
        DurationTooShort: DurationTooShort(timedelta(minutes=1)),
        MissingInputs: MissingInputs(True, False),
        StepUpRequired: StepUpRequired(mfa=True),
        StepUpInsufficient: StepUpInsufficient(StepUpRequired(mfa=True)),
        PolicyViolation: PolicyViolation([]),
        ExtensionDenied: ExtensionDenied(["Ticket INC-1 is closed"]),
        Throttled: Throttled(),
        RequestRefused: RequestRefused(),
        IdentityMismatch: IdentityMismatch("oid"),
        AlreadyDecided: AlreadyDecided(Decision.APPROVE, "bob", NOW, by_name="Bob Builder"),
        ApprovalExpired: ApprovalExpired(NOW),
        ApprovalClosed: ApprovalClosed("Canceled"),
        MissingApproverJustification: MissingApproverJustification(Decision.DENY),
        RequestNotFound: RequestNotFound("req-1"),
        StartInPast: StartInPast(NOW - timedelta(hours=1), NOW, NOW + timedelta(hours=23)),
        ScheduledNotStarted: ScheduledNotStarted(NOW + timedelta(hours=1)),
        StartDoesNotExist: StartDoesNotExist("at 2027-03-28T02:30", datetime(2027, 3, 28, 2, 30)),
        StartAfterEligibility: StartAfterEligibility(NOW, NOW + timedelta(hours=2), NOW + timedelta(hours=1)),
    }
    return samples.get(kind) or kind()


@pytest.mark.parametrize("kind", _kinds(), ids=lambda k: k.__name__)
def test_every_error_kind_has_kind_words(kind: type[PimError]) -> None:
    text = explain(_instance(kind), None)
    assert text and text[0].isupper() and text.rstrip(")").endswith((".", "?"))
    assert "Traceback" not in text and kind.__name__ not in text


def test_unknown_directory_error() -> None:
    assert explain(DirectoryError("boom"), TZ).startswith("Microsoft Graph could not answer; nothing was changed.")


def test_an_admin_command_refusal_says_how_admins_are_configured() -> None:
    unset = not_an_admin("approvals here", configured=False)
    assert "“approvals here”" in unset and "BOT_ADMINS" in unset and "BOT_ADMIN_GROUP" in unset
    assert "none are set up yet" in unset and "nothing was changed" in unset
    refused = not_an_admin("feed here", configured=True)
    assert "“feed here”" in refused and "nothing was changed" in refused and "none are set up" not in refused
