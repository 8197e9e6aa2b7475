"""Graph JSON shapes: entities → dicts, request bodies → inputs. The only module that knows Graph field names.

Output conventions (reference §2, §3): every property present with explicit nulls; enums lower camelCase
(`member`, `selfActivate`, `afterDuration`, `direct`, `activated`); statuses PascalCase; instants via
`isotime.format_instant`. Input enum values are matched case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from simtenant import extensions
from simtenant.entities import (
    ACCESS_IDS,
    ACTIONS,
    EXPIRATION_TYPES,
    Approval,
    ApprovalStage,
    AuthenticationContext,
    Group,
    Identity,
    RolePolicy,
    Schedule,
    ScheduleInfo,
    ScheduleRequest,
    SubjectSet,
    Ticket,
    User,
)
from simtenant.errors import GraphError, bad_request, invalid_request
from simtenant.isotime import format_instant, parse_duration, parse_instant
from simtenant.model import RequestInput
from simtenant.teams import CatalogApp, Installation

__all__ = [
    "authentication_context_json",
    "RULE_IDS",
    "app_definition_json",
    "approval_json",
    "chat_json",
    "directory_object_json",
    "group_json",
    "identity_set",
    "installation_json",
    "instance_json",
    "instant",
    "parse_request_body",
    "parse_rule_patch",
    "policy_assignment_json",
    "policy_json",
    "request_json",
    "rule_json",
    "rules_json",
    "schedule_json",
    "stage_json",
    "teams_app_json",
    "user_json",
]

JsonDict = dict[str, Any]


def instant(value: Any) -> str | None:
    return None if value is None else format_instant(value)


def identity_set(identity: Identity) -> JsonDict:
    ident = {"id": identity.id, "displayName": identity.display_name}
    return {
        "application": ident if identity.kind == "application" else None,
        "device": None,
        "user": ident if identity.kind == "user" else None,
    }


def _schedule_info(info: ScheduleInfo | None) -> JsonDict | None:
    if info is None:
        return None
    return {
        "startDateTime": instant(info.start),
        "recurrence": None,
        "expiration": {"type": info.expiration_type, "endDateTime": instant(info.end), "duration": info.duration},
    }


def request_json(request: ScheduleRequest) -> JsonDict:
    return {
        "id": request.id,
        "status": request.status,
        "completedDateTime": instant(request.completed),
        "createdDateTime": instant(request.created),
        "approvalId": request.approval_id,
        "customData": request.custom_data,
        "createdBy": identity_set(request.created_by),
        "action": request.action,
        "isValidationOnly": request.is_validation_only,
        "justification": request.justification,
        "scheduleInfo": _schedule_info(request.schedule_info),
        "ticketInfo": {"ticketNumber": request.ticket.number, "ticketSystem": request.ticket.system},
        "principalId": request.principal_id,
        "accessId": request.access_id,
        "groupId": request.group_id,
        "targetScheduleId": request.target_schedule_id,
    }


def schedule_json(schedule: Schedule) -> JsonDict:
    out: JsonDict = {
        "id": schedule.id,
        "scheduleInfo": {
            "startDateTime": instant(schedule.start),
            "recurrence": None,
            "expiration": {"type": schedule.expiration_type, "endDateTime": instant(schedule.end), "duration": None},
        },
        "createdDateTime": instant(schedule.created),
        "modifiedDateTime": instant(schedule.modified),
        "createdUsing": schedule.created_using,
        "status": schedule.status,
        "principalId": schedule.principal_id,
        "accessId": schedule.access_id,
        "groupId": schedule.group_id,
        "memberType": schedule.member_type,
    }
    if schedule.kind == "assignment":
        out["assignmentType"] = schedule.assignment_type
    return out


def instance_json(schedule: Schedule) -> JsonDict:
    out: JsonDict = {
        "id": schedule.id,
        "startDateTime": instant(schedule.start),
        "endDateTime": instant(schedule.end),
        "principalId": schedule.principal_id,
        "accessId": schedule.access_id,
        "groupId": schedule.group_id,
        "memberType": schedule.member_type,
    }
    if schedule.kind == "assignment":
        out["assignmentType"] = schedule.assignment_type
        out["assignmentScheduleId"] = schedule.id
    else:
        out["eligibilityScheduleId"] = schedule.id
    return out


def stage_json(stage: ApprovalStage, assigned_to_me: bool) -> JsonDict:
    reviewed_by = None
    if stage.reviewed_by is not None:
        reviewed_by = {"id": stage.reviewed_by.id, "displayName": stage.reviewed_by.display_name}
    return {
        "id": stage.id,
        "displayName": stage.display_name,
        "reviewedDateTime": instant(stage.reviewed),
        "reviewResult": stage.review_result,
        "status": stage.status,
        "assignedToMe": assigned_to_me,
        "justification": stage.justification,
        "reviewedBy": reviewed_by,
    }


def approval_json(approval: Approval, assigned: Callable[[ApprovalStage], bool]) -> JsonDict:
    return {"id": approval.id, "stages": [stage_json(stage, assigned(stage)) for stage in approval.stages]}


def user_json(user: User) -> JsonDict:
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": user.id,
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": user.surname,
        "userPrincipalName": user.user_principal_name,
        "accountEnabled": True,
        "userType": "Member",
    }


USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)


def group_json(group: Group) -> JsonDict:
    return {
        "@odata.type": "#microsoft.graph.group",
        "id": group.id,
        "deletedDateTime": None,
        "classification": None,
        "createdDateTime": instant(group.created),
        "creationOptions": [],
        "description": group.description,
        "displayName": group.display_name,
        "expirationDateTime": None,
        "groupTypes": [],
        "isAssignableToRole": group.is_assignable_to_role,
        "mail": None,
        "mailEnabled": False,
        "mailNickname": group.mail_nickname,
        "membershipRule": None,
        "membershipRuleProcessingState": None,
        "onPremisesSyncEnabled": None,
        "proxyAddresses": [],
        "renewedDateTime": instant(group.created),
        "securityEnabled": True,
        "visibility": "Private",
    }


def authentication_context_json(context: AuthenticationContext) -> JsonDict:
    """authenticationContextClassReference (Graph v1.0 resource type: id, displayName, description, isAvailable)."""
    return {
        "id": context.id,
        "displayName": context.display_name,
        "description": context.description,
        "isAvailable": context.is_available,
    }


def directory_object_json(obj: User | Group) -> JsonDict:
    return user_json(obj) if isinstance(obj, User) else group_json(obj)


# ---------------------------------------------------------------------------------------------------- policies

_T = "#microsoft.graph.unifiedRoleManagementPolicy"
RULE_IDS = (
    "Expiration_Admin_Eligibility",
    "Enablement_Admin_Eligibility",
    "Notification_Admin_Admin_Eligibility",
    "Notification_Requestor_Admin_Eligibility",
    "Notification_Approver_Admin_Eligibility",
    "Expiration_Admin_Assignment",
    "Enablement_Admin_Assignment",
    "Notification_Admin_Admin_Assignment",
    "Notification_Requestor_Admin_Assignment",
    "Notification_Approver_Admin_Assignment",
    "Expiration_EndUser_Assignment",
    "Enablement_EndUser_Assignment",
    "Approval_EndUser_Assignment",
    "AuthenticationContext_EndUser_Assignment",
    "Notification_Admin_EndUser_Assignment",
    "Notification_Requestor_EndUser_Assignment",
    "Notification_Approver_EndUser_Assignment",
)
_RULE_TYPES = {
    "Expiration": _T + "ExpirationRule",
    "Enablement": _T + "EnablementRule",
    "Approval": _T + "ApprovalRule",
    "AuthenticationContext": _T + "AuthenticationContextRule",
    "Notification": _T + "NotificationRule",
}


def _target(rule_id: str) -> JsonDict:
    caller = "EndUser" if "_EndUser_" in rule_id else "Admin"
    level = "Eligibility" if rule_id.endswith("_Eligibility") else "Assignment"
    return {"caller": caller, "operations": ["All"], "level": level, "inheritableSettings": [], "enforcedSettings": []}


def _subject(subject: SubjectSet) -> JsonDict:
    if subject.kind == "singleUser":
        return {"@odata.type": "#microsoft.graph.singleUser", "userId": subject.id, "description": subject.description}
    return {"@odata.type": "#microsoft.graph.groupMembers", "groupId": subject.id, "description": subject.description}


def rule_json(policy: RolePolicy, rule_id: str) -> JsonDict:
    family = rule_id.split("_", 1)[0]
    out: JsonDict = {"@odata.type": _RULE_TYPES[family], "id": rule_id}
    if family == "Expiration":
        if rule_id == "Expiration_EndUser_Assignment":
            required, maximum = policy.activation_expiration_required, policy.activation_max
        elif rule_id == "Expiration_Admin_Eligibility":
            required, maximum = policy.eligibility_expiration_required, policy.eligibility_max
        else:
            required, maximum = policy.admin_assignment_expiration_required, policy.admin_assignment_max
        out.update(isExpirationRequired=required, maximumDuration=maximum)
    elif family == "Enablement":
        rules = {
            "Enablement_EndUser_Assignment": policy.enduser_enabled_rules,
            "Enablement_Admin_Eligibility": policy.admin_eligibility_enabled_rules,
            "Enablement_Admin_Assignment": policy.admin_assignment_enabled_rules,
        }[rule_id]
        out["enabledRules"] = list(rules)
    elif family == "Approval":
        out["setting"] = {
            "isApprovalRequired": policy.approval_required,
            "isApprovalRequiredForExtension": policy.approval_required_for_extension,
            "isRequestorJustificationRequired": policy.requestor_justification_required,
            "approvalMode": policy.approval_mode,
            "approvalStages": [
                {
                    "approvalStageTimeOutInDays": policy.approval_stage_timeout_days,
                    "isApproverJustificationRequired": policy.approver_justification_required,
                    "escalationTimeInMinutes": policy.escalation_minutes,
                    "isEscalationEnabled": policy.escalation_enabled,
                    "primaryApprovers": [_subject(s) for s in policy.primary_approvers],
                    "escalationApprovers": [],
                }
            ],
        }
    elif family == "AuthenticationContext":
        out.update(isEnabled=policy.auth_context_enabled, claimValue=policy.auth_context_claim)
    else:
        recipient = rule_id.split("_")[1]
        defaults: JsonDict = {
            "notificationType": "Email",
            "recipientType": recipient,
            "notificationLevel": "All",
            "isDefaultRecipientsEnabled": True,
            "notificationRecipients": [],
        }
        defaults.update(policy.notification_overrides.get(rule_id, {}))
        out.update(defaults)
    out["target"] = _target(rule_id)
    return out


def rules_json(policy: RolePolicy) -> list[JsonDict]:
    rules = [rule_json(policy, rule_id) for rule_id in RULE_IDS]
    # A custom-extension rule appears once one was set (simtenant.extensions: absent from a policy that never had one)
    rules += [extension_rule_json(policy, rule_id) for rule_id in policy.extension_rules]
    return rules


def extension_rule_json(policy: RolePolicy, rule_id: str) -> JsonDict:
    return extensions.rule_json(rule_id, policy.extension_rules[rule_id], _target(rule_id))


def policy_json(policy: RolePolicy, *, with_rules: bool) -> JsonDict:
    out: JsonDict = {
        "id": policy.policy_id,
        "displayName": "Group",
        "description": "Group",
        "isOrganizationDefault": False,
        "scopeId": policy.group_id,
        "scopeType": "Group",
        "lastModifiedDateTime": instant(policy.last_modified),
        "lastModifiedBy": {"displayName": None, "id": None},
    }
    if with_rules:
        out["rules"] = rules_json(policy)
    return out


def policy_assignment_json(policy: RolePolicy, *, expand_policy: bool, with_rules: bool) -> JsonDict:
    out: JsonDict = {
        "id": f"{policy.policy_id}_{policy.access}",
        "policyId": policy.policy_id,
        "scopeId": policy.group_id,
        "scopeType": "Group",
        "roleDefinitionId": policy.access,
    }
    if expand_policy:
        out["policy"] = policy_json(policy, with_rules=with_rules)
    return out


def _bool(body: Mapping[str, Any], key: str, current: bool) -> bool:
    value = body.get(key, current)
    if not isinstance(value, bool):
        raise bad_request(f"Property '{key}' must be a boolean.")
    return value


def _parse_subject(item: Any) -> SubjectSet:
    if not isinstance(item, Mapping):
        raise bad_request("Approvers must be objects.")
    odata = str(item.get("@odata.type", "")).lower()
    if odata.endswith("singleuser") and item.get("userId"):
        return SubjectSet("singleUser", str(item["userId"]), item.get("description"))
    if odata.endswith("groupmembers") and item.get("groupId"):
        return SubjectSet("groupMembers", str(item["groupId"]), item.get("description"))
    raise bad_request("Only #microsoft.graph.singleUser and #microsoft.graph.groupMembers approvers are supported.")


def parse_rule_patch(policy: RolePolicy, rule_id: str, body: Any) -> dict[str, Any]:
    """The RolePolicy changes a PATCH …/rules/{ruleId} body asks for. Raises GraphError."""
    if rule_id not in RULE_IDS:
        raise GraphError(404, "ResourceNotFound", f"The rule '{rule_id}' was not found.")
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    family = rule_id.split("_", 1)[0]
    if str(body.get("@odata.type", "")).lstrip("#").lower() != _RULE_TYPES[family].lstrip("#").lower():
        raise bad_request(f'The request body must carry "@odata.type": "{_RULE_TYPES[family]}".')
    changes: dict[str, Any] = {}
    if family == "Expiration":
        prefix = {
            "Expiration_EndUser_Assignment": ("activation_expiration_required", "activation_max"),
            "Expiration_Admin_Eligibility": ("eligibility_expiration_required", "eligibility_max"),
            "Expiration_Admin_Assignment": ("admin_assignment_expiration_required", "admin_assignment_max"),
        }[rule_id]
        changes[prefix[0]] = _bool(body, "isExpirationRequired", getattr(policy, prefix[0]))
        if "maximumDuration" in body:
            try:
                parse_duration(str(body["maximumDuration"]))
            except ValueError as exc:
                raise bad_request(f"Invalid maximumDuration '{body['maximumDuration']}'.") from exc
            changes[prefix[1]] = str(body["maximumDuration"])
    elif family == "Enablement":
        rules = body.get("enabledRules", [])
        allowed = {
            "multifactorauthentication": "MultiFactorAuthentication",
            "justification": "Justification",
            "ticketing": "Ticketing",
        }
        if not isinstance(rules, list) or any(str(r).lower() not in allowed for r in rules):
            raise bad_request("enabledRules may hold MultiFactorAuthentication, Justification, Ticketing.")
        field_name = {
            "Enablement_EndUser_Assignment": "enduser_enabled_rules",
            "Enablement_Admin_Eligibility": "admin_eligibility_enabled_rules",
            "Enablement_Admin_Assignment": "admin_assignment_enabled_rules",
        }[rule_id]
        changes[field_name] = [allowed[str(r).lower()] for r in rules]
    elif family == "Approval":
        setting = body.get("setting", {})
        if not isinstance(setting, Mapping):
            raise bad_request("setting must be an object.")
        changes["approval_required"] = _bool(setting, "isApprovalRequired", policy.approval_required)
        changes["approval_required_for_extension"] = _bool(
            setting, "isApprovalRequiredForExtension", policy.approval_required_for_extension
        )
        changes["requestor_justification_required"] = _bool(
            setting, "isRequestorJustificationRequired", policy.requestor_justification_required
        )
        if "approvalMode" in setting:
            changes["approval_mode"] = str(setting["approvalMode"])
        stages = setting.get("approvalStages")
        if stages:
            if not isinstance(stages, list) or not isinstance(stages[0], Mapping):
                raise bad_request("approvalStages must be a list of objects.")
            stage = stages[0]
            changes["approver_justification_required"] = _bool(
                stage, "isApproverJustificationRequired", policy.approver_justification_required
            )
            changes["approval_stage_timeout_days"] = int(stage.get("approvalStageTimeOutInDays", 1))
            changes["primary_approvers"] = [_parse_subject(s) for s in stage.get("primaryApprovers", [])]
        if changes["approval_required"] and not changes.get("primary_approvers", policy.primary_approvers):
            raise bad_request("At least one approver is required when approval is required.")
    elif family == "AuthenticationContext":
        changes["auth_context_enabled"] = _bool(body, "isEnabled", policy.auth_context_enabled)
        if "claimValue" in body:
            changes["auth_context_claim"] = body["claimValue"]
    else:
        keep = (
            "notificationType",
            "recipientType",
            "notificationLevel",
            "isDefaultRecipientsEnabled",
            "notificationRecipients",
        )
        overrides = dict(policy.notification_overrides)
        overrides[rule_id] = {key: body[key] for key in keep if key in body}
        changes["notification_overrides"] = overrides
    return changes


# ---------------------------------------------------------------------------------------------------- requests in

_REQUEST_KEYS = {
    "@odata.type",
    "id",
    "status",
    "completedDateTime",
    "createdDateTime",
    "approvalId",
    "customData",
    "createdBy",
    "action",
    "isValidationOnly",
    "justification",
    "scheduleInfo",
    "ticketInfo",
    "principalId",
    "accessId",
    "groupId",
    "targetScheduleId",
}


def _enum(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if isinstance(value, str):
        for candidate in allowed:
            if candidate.lower() == value.lower():
                return candidate
    raise bad_request(f"Invalid value '{value}' for property '{name}'; expected one of {', '.join(allowed)}.")


def _opt_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"Property '{key}' must be a string.")
    return value


def _parse_instant(value: Any, name: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"Property '{name}' must be an ISO 8601 date-time string.")
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise bad_request(f"Cannot convert the literal '{value}' of property '{name}' to a DateTimeOffset.") from exc


def _parse_schedule(value: Any) -> ScheduleInfo | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise bad_request("Property 'scheduleInfo' must be an object.")
    if value.get("recurrence") not in (None, {}):
        raise invalid_request("Recurrence is not supported.")
    start = _parse_instant(value.get("startDateTime"), "scheduleInfo.startDateTime")
    expiration = value.get("expiration")
    if expiration is None:
        return ScheduleInfo(start)
    if not isinstance(expiration, Mapping):
        raise bad_request("Property 'scheduleInfo.expiration' must be an object.")
    etype = _enum(expiration.get("type", "notSpecified") or "notSpecified", EXPIRATION_TYPES, "expiration.type")
    end = _parse_instant(expiration.get("endDateTime"), "scheduleInfo.expiration.endDateTime")
    duration = expiration.get("duration")
    if duration is not None and not isinstance(duration, str):
        raise bad_request("Property 'scheduleInfo.expiration.duration' must be an ISO 8601 duration string.")
    return ScheduleInfo(start, etype, end, duration)


def parse_request_body(body: Any) -> RequestInput:
    """Validate the JSON body of a schedule request. Raises GraphError 400."""
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    unknown = [key for key in body if key not in _REQUEST_KEYS]
    if unknown:
        raise bad_request(f"Invalid request body: property '{unknown[0]}' does not exist on this type.")
    for key in ("action", "principalId", "groupId", "accessId"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise bad_request(f"The required property '{key}' is missing.")
    ticket_raw = body.get("ticketInfo") or {}
    if not isinstance(ticket_raw, Mapping):
        raise bad_request("Property 'ticketInfo' must be an object.")
    ticket = Ticket(_opt_str(ticket_raw, "ticketNumber"), _opt_str(ticket_raw, "ticketSystem"))
    validation_only = body.get("isValidationOnly", False)
    if not isinstance(validation_only, bool):
        raise bad_request("Property 'isValidationOnly' must be a boolean.")
    return RequestInput(
        action=_enum(body["action"], ACTIONS, "action"),
        principal_id=body["principalId"],
        group_id=body["groupId"],
        access_id=_enum(body["accessId"], ACCESS_IDS, "accessId"),
        schedule=_parse_schedule(body.get("scheduleInfo")),
        justification=_opt_str(body, "justification"),
        ticket=ticket,
        is_validation_only=validation_only,
        custom_data=_opt_str(body, "customData"),
    )


# ---------------------------------------------------------------------------------------------------- Teams apps
# Shapes from appcatalogs-list-teamsapps (teamsApp, teamsAppDefinition with bot) and userteamwork-list-installedapps.


def teams_app_json(app: CatalogApp) -> JsonDict:
    return {
        "id": app.id,
        "externalId": app.external_id,
        "displayName": app.display_name,
        "distributionMethod": app.distribution_method,
    }


def app_definition_json(app: CatalogApp, *, bot: bool) -> JsonDict:
    row: JsonDict = {
        "id": app.definition_id,
        "teamsAppId": app.id,
        "azureADAppId": app.azure_ad_app_id,
        "displayName": app.display_name,
        "version": app.version,
        "publishingState": "published",
        "shortDescription": app.display_name,
        "description": app.display_name,
        "lastModifiedDateTime": None,
        "createdBy": None,
        "authorization": {"requiredPermissionSet": {"resourceSpecificPermissions": []}},
    }
    if bot:  # present only when expanded (`appDefinitions($expand=bot)`): null for an app without a bot
        row["bot"] = {"id": app.bot_id} if app.bot_id else None
    return row


def installation_json(installation: Installation) -> JsonDict:
    return {"id": installation.id}


def chat_json(installation: Installation, tenant_id: str, created: str) -> JsonDict:
    return {
        "id": installation.chat_id,
        "topic": None,
        "createdDateTime": created,
        "lastUpdatedDateTime": created,
        "chatType": "oneOnOne",
        "webUrl": f"https://teams.microsoft.com/l/chat/{installation.chat_id}/0?tenantId={tenant_id}",
        "tenantId": tenant_id,
        "onlineMeetingInfo": None,
        "viewpoint": None,
    }
