"""Approval calls on the scripted stub: the wire shapes (paths, bodies, tokens) and how Graph's answers map to the
approval kinds. The stateful behaviour is covered against the simulated tenant (test_simtenant.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from core.errors import (
    AlreadyDecided,
    ApprovalExpired,
    DirectoryError,
    MissingApproverJustification,
    NotAnApprover,
    OutcomeUnknown,
    PermissionDenied,
    PimError,
    RequestNotFound,
)
from core.models import Decision, RequestStatus, ReviewResult, StageStatus
from graph import wire
from graph.client import GraphClient
from graph.pim import GraphPimDirectory
from tests.fakes.graphstub import APP_TOKEN, BASE, Call, FixedClock, GraphStub, Reply, Sleeps, app_token, error, wrapped

PIM = "/identityGovernance/privilegedAccess/group"
APPROVALS = f"{PIM}/assignmentApprovals"
REQUEST_ID = "6aacaee8-4089-4048-9510-3119367fc943"
STAGE_ID = "d4fa4045-4716-436d-aec5-57b0a713f095"
BOB = "aaaaaaaa-0000-4000-8000-000000000002"
BOB_TOKEN = "bob-delegated"
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RULES_FAILED = "RoleAssignmentRequestPolicyValidationFailed"


def stage(status: str = "InProgress", result: str = "NotReviewed", **extra: Any) -> dict[str, Any]:
    return {
        "id": STAGE_ID,
        "displayName": None,
        "reviewedDateTime": None,
        "reviewResult": result,
        "status": status,
        "assignedToMe": True,
        "justification": "",
        "reviewedBy": None,
        **extra,
    }


DECIDED = stage(
    "Completed",
    "Approved",
    reviewedBy={"id": BOB, "displayName": "Bob Builder"},
    reviewedDateTime="2025-03-01T08:30:00.1234567Z",
    justification="ok for the patch window",
)


def request_item(status: str = "PendingApproval") -> dict[str, Any]:
    return {
        "id": REQUEST_ID,
        "status": status,
        "action": "selfActivate",
        "groupId": "g",
        "accessId": "member",
        "principalId": "alice",
        "createdDateTime": "2025-03-01T08:00:00Z",
    }


class Rig:
    def __init__(self) -> None:
        self.stub = GraphStub()
        self.stage = stage()
        self.stub.on("GET", f"{APPROVALS}/{REQUEST_ID}", lambda call: {"id": REQUEST_ID, "stages": [self.stage]})
        self.stub.on("GET", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}", request_item())
        self.clock = FixedClock(NOW)
        client = GraphClient(httpx.AsyncClient(transport=self.stub.transport()), BASE, app_token, sleep=Sleeps())
        self.directory = GraphPimDirectory(client, self.clock)

    def patch_answers(self, *replies: Reply) -> None:
        answers = list(replies)

        def answer(call: Call) -> Reply:
            reply = answers.pop(0) if len(answers) > 1 else answers[0]
            if reply.status == 204:
                self.stage = DECIDED
            return reply

        self.stub.on("PATCH", f"{APPROVALS}/{REQUEST_ID}/stages/{STAGE_ID}", answer)

    async def decide(self, decision: Decision = Decision.APPROVE, justification: str | None = "ok") -> None:
        await self.directory.decide(BOB_TOKEN, REQUEST_ID, STAGE_ID, decision, justification)


@pytest.fixture
def rig() -> Rig:
    return Rig()


# -- wire --


def test_approval_parses_v1_stages_and_beta_steps() -> None:
    approval = wire.parse_approval({"id": REQUEST_ID, "stages": [stage()]})
    assert approval.request_id == REQUEST_ID and approval.open_stage is not None
    assert approval.open_stage.assigned_to_me and approval.decided_stage is None
    assert wire.parse_approval({"id": REQUEST_ID, "steps": [DECIDED]}).decided_stage is not None


@pytest.mark.parametrize(("said", "parsed"), [(True, True), (False, False), (None, None), ("yes", None)])
def test_assigned_to_me_is_kept_as_said_and_unknown_when_not(said: object, parsed: bool | None) -> None:
    item = {k: v for k, v in stage().items() if k != "assignedToMe"}
    if said is not None:
        item["assignedToMe"] = said
    # Unknown is not "no": the bot then leaves the answer to the PATCH (core.approvals.decide).
    assert wire.parse_stage(item).assigned_to_me is parsed


def test_decided_stage_carries_who_when_and_why() -> None:
    parsed = wire.parse_stage(DECIDED)
    assert (parsed.status, parsed.review_result, parsed.reviewed_by, parsed.reviewed_by_name) == (
        StageStatus.COMPLETED,
        ReviewResult.APPROVED,
        BOB,
        "Bob Builder",
    )
    assert parsed.reviewed_at == datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)
    assert parsed.justification == "ok for the patch window"


@pytest.mark.parametrize(
    "reviewed_by",
    [None, {"id": "00000000-0000-0000-0000-000000000000", "displayName": None}, {"user": None}],
    ids=["null", "all-zero", "empty-identity-set"],
)
def test_no_reviewer_before_review(reviewed_by: Any) -> None:
    parsed = wire.parse_stage(stage(reviewedBy=reviewed_by))
    assert parsed.reviewed_by is None and parsed.reviewed_by_name == ""


def test_identity_set_reviewer_and_unknown_status() -> None:
    parsed = wire.parse_stage(stage("Initializing", reviewedBy={"user": {"id": BOB, "displayName": "Bob"}}))
    assert (parsed.status, parsed.reviewed_by) == (StageStatus.OTHER, BOB)
    assert wire.parse_stage(stage("expired")).status is StageStatus.EXPIRED  # case-insensitive


def test_review_body_and_paths() -> None:
    assert wire.review_body(Decision.APPROVE, "ok") == {"reviewResult": "Approve", "justification": "ok"}
    assert wire.review_body(Decision.DENY, None) == {"reviewResult": "Deny", "justification": ""}
    assert wire.stage_path(REQUEST_ID, STAGE_ID) == f"{APPROVALS}/{REQUEST_ID}/stages/{STAGE_ID}"
    # a forged request id from card data stays one path segment
    assert wire.approval_path("../../users/x?$top=1") == f"{APPROVALS}/..%2F..%2Fusers%2Fx%3F%24top%3D1"
    assert wire.cancel_path(REQUEST_ID) == f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}/cancel"
    path, params = wire.group_pending_query("o'brien")
    assert params == {"$filter": "groupId eq 'o''brien' and status eq 'PendingApproval'"}


def test_member_user_ids_keep_users_only() -> None:
    items = [
        {"@odata.type": "#microsoft.graph.user", "id": "u1"},
        {"@odata.type": "#microsoft.graph.group", "id": "g1"},
        {"@odata.type": "#microsoft.graph.device", "id": "d1"},
        {"id": "u2"},
        {"@odata.type": "#microsoft.graph.user"},
    ]
    assert wire.member_user_ids(items) == ["u1", "u2"]


# -- calls --


async def test_decide_patches_the_stage_as_the_approver(rig: Rig) -> None:
    rig.patch_answers(Reply(204))
    await rig.decide(Decision.DENY, "not now")
    [patch] = rig.stub.sent("PATCH")
    assert patch.path == f"{APPROVALS}/{REQUEST_ID}/stages/{STAGE_ID}"
    assert patch.body == {"reviewResult": "Deny", "justification": "not now"}
    assert patch.headers["Authorization"] == f"Bearer {BOB_TOKEN}"


async def test_approval_is_read_with_the_delegated_token(rig: Rig) -> None:
    approval = await rig.directory.approval(BOB_TOKEN, REQUEST_ID)
    assert approval.open_stage is not None and approval.open_stage.id == STAGE_ID
    assert rig.stub.calls[0].headers["Authorization"] == f"Bearer {BOB_TOKEN}"


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (error(403, "Authorization_RequestDenied", "not an approver"), NotAnApprover),
        (wrapped(403, "PermissionScopeNotGranted", "missing scope"), PermissionDenied),
        (error(404, "ResourceNotFound"), RequestNotFound),
        (
            error(400, RULES_FAILED, 'The following policy rules failed: ["JustificationRule"]'),
            MissingApproverJustification,
        ),
        (
            wrapped(
                400, RULES_FAILED, "The following policy rules failed: JustificationRule - Justification is required"
            ),
            MissingApproverJustification,
        ),
    ],
    ids=["403", "403-scope", "404", "400-justification", "400-justification-wrapped"],
)
async def test_decision_refusals(rig: Rig, reply: Reply, kind: type[PimError]) -> None:
    rig.patch_answers(reply)
    with pytest.raises(kind):
        await rig.decide()
    assert len(rig.stub.sent("PATCH")) == 1


async def test_conflict_is_read_back_into_who_and_when(rig: Rig) -> None:
    rig.stage = DECIDED
    rig.patch_answers(error(409, "Conflict", "The approval stage has already been completed."))
    with pytest.raises(AlreadyDecided) as caught:
        await rig.decide()
    assert (caught.value.decision, caught.value.by, caught.value.by_name) == (Decision.APPROVE, BOB, "Bob Builder")
    assert caught.value.at == datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


async def test_conflict_on_an_expired_stage(rig: Rig) -> None:
    rig.stage = stage("Expired")
    rig.patch_answers(error(409, "Conflict"))
    with pytest.raises(ApprovalExpired):
        await rig.decide()


async def test_conflict_still_says_already_decided_when_nothing_can_be_read(rig: Rig) -> None:
    rig.stub.on("GET", f"{APPROVALS}/{REQUEST_ID}", error(500, "UnknownError"))
    rig.stub.on("GET", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}", error(500, "UnknownError"))
    rig.patch_answers(error(409, "Conflict"))
    with pytest.raises(AlreadyDecided) as caught:
        await rig.decide()
    assert caught.value.by is None


async def test_lost_answer_with_stage_still_open_is_sent_once_more(rig: Rig) -> None:
    rig.patch_answers(error(503, "UnknownError"), Reply(204))
    await rig.decide()
    assert len(rig.stub.sent("PATCH")) == 2


async def test_lost_answer_that_cannot_be_read_back_is_unknown_not_unavailable(rig: Rig) -> None:
    def landed_then_lost(call: Call) -> Reply:
        rig.stage = DECIDED
        rig.stub.on("GET", f"{APPROVALS}/{REQUEST_ID}", error(503, "UnknownError"))
        return error(504, "UnknownError")

    rig.stub.on("PATCH", f"{APPROVALS}/{REQUEST_ID}/stages/{STAGE_ID}", landed_then_lost)
    with pytest.raises(OutcomeUnknown):
        await rig.decide()
    assert len(rig.stub.sent("PATCH")) == 1


async def test_lost_answer_after_the_decision_landed_is_not_sent_again(rig: Rig) -> None:
    def landed_then_lost(call: Call) -> Reply:
        rig.stage = DECIDED
        return error(504, "UnknownError")

    rig.stub.on("PATCH", f"{APPROVALS}/{REQUEST_ID}/stages/{STAGE_ID}", landed_then_lost)
    with pytest.raises(AlreadyDecided) as caught:
        await rig.decide()
    assert caught.value.by == BOB  # the caller themself: the service treats that as done
    assert len(rig.stub.sent("PATCH")) == 1


async def test_request_and_group_reads_are_app_only_and_paged(rig: Rig) -> None:
    rig.stub.on("GET", f"{PIM}/assignmentScheduleRequests", {"value": [request_item(), request_item("Provisioned")]})
    rig.stub.on(
        "GET",
        "/groups/grp/members",
        lambda call: (
            {"value": [{"id": "u2"}]}
            if call.query.get("page") == "2"
            else {"value": [{"id": "u1"}], "@odata.nextLink": f"{BASE}/groups/grp/members?page=2"}
        ),
    )
    assert (await rig.directory.request(REQUEST_ID)).status is RequestStatus.PENDING_APPROVAL
    waiting = await rig.directory.waiting_in_groups(["g"])
    assert [r.status for r in waiting.requests] == [RequestStatus.PENDING_APPROVAL] and not waiting.failed
    assert await rig.directory.group_members("grp") == ["u1", "u2"]
    assert {c.headers["Authorization"] for c in rig.stub.calls} == {f"Bearer {APP_TOKEN}"}
    [listing] = [c for c in rig.stub.sent("GET", "assignmentScheduleRequests")[1:] if c.in_batch]
    assert listing.query["$filter"] == "groupId eq 'g' and status eq 'PendingApproval'"
    assert rig.stub.sent("GET", "/members")[0].query == {"$select": "id"}


async def test_a_cancel_whose_answer_is_lost_and_unreadable_is_unknown_not_nothing_changed(rig: Rig) -> None:
    rig.stub.on("POST", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}/cancel", error(503, "UnknownError"))
    rig.stub.on("GET", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}", error(503, "UnknownError"))
    with pytest.raises(OutcomeUnknown):
        await rig.directory.cancel("alice-delegated", REQUEST_ID)
    assert len(rig.stub.sent("POST")) == 1
    # A refusal is an answer: nothing was cancelled, whether or not the request can be read.
    rig.stub.on("POST", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}/cancel", error(400, "InvalidRequest"))
    with pytest.raises(DirectoryError) as caught:
        await rig.directory.cancel("alice-delegated", REQUEST_ID)
    assert not isinstance(caught.value, OutcomeUnknown)


async def test_cancel_posts_as_the_requester_and_explains_a_decided_request(rig: Rig) -> None:
    rig.stub.on("POST", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}/cancel", Reply(204))
    await rig.directory.cancel("alice-delegated", REQUEST_ID)
    assert rig.stub.sent("POST")[0].headers["Authorization"] == "Bearer alice-delegated"

    rig.stub.on("POST", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}/cancel", error(400, "InvalidRequest"))
    rig.stub.on("GET", f"{PIM}/assignmentScheduleRequests/{REQUEST_ID}", request_item("Denied"))
    with pytest.raises(AlreadyDecided) as caught:
        await rig.directory.cancel("alice-delegated", REQUEST_ID)
    assert caught.value.decision is Decision.DENY


async def test_waiting_requests_of_many_groups_are_read_20_groups_a_batch_and_a_failing_group_costs_only_itself(
    rig: Rig,
) -> None:
    groups = [f"group-{n:02d}" for n in range(45)]

    def listing(call: Call) -> Any:
        if call.query.get("page") == "2":
            return {"value": [{**request_item(), "id": "req-group-30-b", "groupId": "group-30"}]}
        group = call.query["$filter"].split("'")[1]
        if group == "group-07":
            return error(403, "Forbidden", "not for this app")
        rows = [{**request_item(), "id": f"req-{group}", "groupId": group}]
        if group == "group-30":  # a group with more waiting requests than one page
            return {"value": rows, "@odata.nextLink": f"{BASE}{PIM}/assignmentScheduleRequests?page=2"}
        return {"value": rows + [{**request_item("Provisioned"), "id": f"done-{group}", "groupId": group}]}

    rig.stub.on("GET", f"{PIM}/assignmentScheduleRequests", listing)

    waiting = await rig.directory.waiting_in_groups(groups)

    assert rig.stub.round_trips == 3 + 1  # ⌈45/20⌉ batches, and the second page of group-30
    assert set(waiting.failed) == {"group-07"} and isinstance(waiting.failed["group-07"], PermissionDenied)
    expected = {f"req-{g}" for g in groups if g != "group-07"} | {"req-group-30-b"}
    assert {r.id for r in waiting.requests} == expected
    assert all(r.status is RequestStatus.PENDING_APPROVAL for r in waiting.requests)
    filters = {c.query.get("$filter") for c in rig.stub.sent("GET", "assignmentScheduleRequests") if c.in_batch}
    assert filters == {f"groupId eq '{g}' and status eq 'PendingApproval'" for g in groups}
