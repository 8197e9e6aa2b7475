"""The storage keyspace: every key the bot stores under, declared here and nowhere else.

Each record kind has a prefix (or, for the feed's single records, a key) and a builder; docs/architecture.md
("Storage keyspace") has the table of what each holds, who writes it and how long it lives, and tests/store/test_keys.py
keeps the two in step. No prefix is the beginning of another one, so listing one kind never returns another.

Ids from outside (activities, Graph) go into keys as they are, except one no backend could store (a control
character, a noncharacter, longer than PART_MAX as bot.store.stored_length counts): that one becomes `#` and a hash
of it, so odd input still has a key of its own.
Graph's ids and Teams' ids are never such.
"""

from __future__ import annotations

import hashlib

from bot.store import all_storable, stored_length

__all__ = [
    "APPROVAL_CHANNELS",
    "CARDS",
    "CONVERSATION_REFS",
    "DELIVERIES",
    "EXTENSION_EVALUATIONS",
    "EXPORTS",
    "ENDING_KEEPS",
    "ENDING_NOTICES",
    "ENDING_WARNED",
    "EXTENSION_LATEST",
    "FEED_AUDIT",
    "FEED_CHANNEL",
    "FEED_DISCOVERED",
    "FEED_HEALTH",
    "FEED_OUTBOX",
    "FEED_OUTCOMES",
    "FEED_POSTED",
    "FEED_SNAPSHOT",
    "HEARTBEATS",
    "KEYSPACE",
    "KNOWN_GROUPS",
    "LEASES",
    "LIVE_WATCHES",
    "PENDING_COMMANDS",
    "RECONCILE",
    "REQUESTS",
    "REQUEST_CARDS",
    "REQUEST_COPIES",
    "SERVED_GROUPS",
    "SIGN_IN_CARDS",
    "STEPUP_FLOWS",
    "STEPUP_STATES",
    "TOKEN_EXCHANGES",
    "USER_REFS",
    "approval_channel",
    "card",
    "conversation_ref",
    "delivery",
    "extension_evaluation",
    "export",
    "ending_keep",
    "ending_notice",
    "ending_warned",
    "extension_latest",
    "feed_outbox",
    "feed_outcome",
    "heartbeat",
    "lease",
    "live_watch",
    "pending_command",
    "reconcile_check",
    "request",
    "request_card",
    "request_copies",
    "request_copy",
    "served_group",
    "sign_in_card",
    "stepup_flow",
    "stepup_state",
    "token_exchange",
    "user_ref",
]

PART_MAX = 256  # characters of one id in a key: three of them and a prefix stay within bot.store.MAX_KEY_LENGTH


def _part(text: str) -> str:
    if stored_length(text) <= PART_MAX and all_storable(text):
        return text
    return "#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


# ---- conversation references (bot.conversations) -----------------------------------------------------------------
USER_REFS = "ref/user/"
CONVERSATION_REFS = "ref/conversation/"
CARDS = "card/"
REQUEST_CARDS = "request-card/"


def user_ref(object_id: str) -> str:
    """A user's personal-chat conversation reference (proactive 1:1 messages); Entra object ids are lower case."""
    return f"{USER_REFS}{_part(object_id.lower())}"


def conversation_ref(conversation_id: str) -> str:
    """The reference of a conversation the bot is in (channel, group chat or 1:1)."""
    return f"{CONVERSATION_REFS}{_part(conversation_id)}"


def card(activity_id: str) -> str:
    """A card the bot sent, by its activity id."""
    return f"{CARDS}{_part(activity_id)}"


def request_card(request_id: str) -> str:
    """The last kept card showing a PIM request."""
    return f"{REQUEST_CARDS}{_part(request_id)}"


# ---- approvals (bot.approvals.records) ----------------------------------------------------------------------------
REQUESTS = "request/"
REQUEST_COPIES = "request-copy/"
SERVED_GROUPS = "approvals/group/"
APPROVAL_CHANNELS = "approvals/channel/"


def request(request_id: str) -> str:
    """A PIM request waiting for (or settled after) an approver's decision, with every copy of its card."""
    return f"{REQUESTS}{_part(request_id)}"


def request_copies(request_id: str) -> str:
    """The prefix of every copy of a request's approval card (list it to update them all)."""
    return f"{REQUEST_COPIES}{_part(request_id)}/"


def request_copy(request_id: str, activity_id: str) -> str:
    """One copy of a request's approval card (an approver's 1:1 card or the channel post), by its activity id."""
    return f"{request_copies(request_id)}{_part(activity_id)}"


def served_group(group_id: str) -> str:
    """A group whose approval requests the bot relays."""
    return f"{SERVED_GROUPS}{_part(group_id.lower())}"


def approval_channel(group_id: str) -> str:
    """The approvals channel of a group (`approvals here <group>`)."""
    return f"{APPROVAL_CHANNELS}{_part(group_id.lower())}"


# ---- writes whose answer was lost (bot.reconcile) -----------------------------------------------------------------
RECONCILE = "reconcile/"


def reconcile_check(check_id: str) -> str:
    """One follow-up of a write whose answer was lost."""
    return f"{RECONCILE}{_part(check_id)}"


# ---- activations followed until they work (bot.live; its lease is lease("live")) ------------------------------------
LIVE_WATCHES = "live/"


def live_watch(request_id: str) -> str:
    """An activation followed until it starts (a scheduled one) and until Graph's directory shows it."""
    return f"{LIVE_WATCHES}{_part(request_id.lower())}"


# ---- processes and deliveries (bot.liveness, bot.transport.deliveries) -----------------------------------------------
HEARTBEATS = "process/"
DELIVERIES = "delivery/"


def heartbeat(owner: str) -> str:
    """A bot process's heartbeat, by its owner id (`host:pid:random`)."""
    return f"{HEARTBEATS}{_part(owner)}"


def delivery(conversation_id: str, activity_id: str) -> str:
    """The marker of an activity acted on (hashed: conversation and activity ids are long and free-form)."""
    digest = hashlib.sha256(f"{conversation_id}\n{_part(activity_id)}".encode()).hexdigest()
    return f"{DELIVERIES}{digest[:40]}"


# ---- sign-in (bot.signin) -------------------------------------------------------------------------------------------
PENDING_COMMANDS = "signin/pending/"
TOKEN_EXCHANGES = "signin/exchange/"
SIGN_IN_CARDS = "signin/card/"
STEPUP_STATES = "stepup/state/"
STEPUP_FLOWS = "stepup/flow/"


def pending_command(object_id: str) -> str:
    """The command of a user waiting for a sign-in (the latest one)."""
    return f"{PENDING_COMMANDS}{_part(object_id)}"


def token_exchange(channel_id: str, conversation_id: str, exchange_id: str) -> str:
    """A claimed Teams SSO token exchange."""
    return f"{TOKEN_EXCHANGES}{_part(channel_id)}/{_part(conversation_id)}/{_part(exchange_id)}"


def sign_in_card(object_id: str) -> str:
    """The last sign-in card sent to a user (replaced by "You're signed in" once they are)."""
    return f"{SIGN_IN_CARDS}{_part(object_id.lower())}"


def stepup_state(state: str) -> str:
    """A step-up sign-in link handed out, not opened yet."""
    return f"{STEPUP_STATES}{_part(state)}"


def stepup_flow(state: str) -> str:
    """A step-up sign-in under way at Entra (msal's auth code flow), by the flow's state."""
    return f"{STEPUP_FLOWS}{_part(state)}"


# ---- the admin feed (bot.feed.store; its lease is lease("feed")) -----------------------------------------------------
FEED_HEALTH = "feed/health"
FEED_SNAPSHOT = "feed/snapshot"
FEED_POSTED = "feed/posted"
FEED_CHANNEL = "feed/channel"
FEED_DISCOVERED = "feed/discovered"
FEED_AUDIT = "feed/audit"
FEED_OUTBOX = "feed/outbox/"
FEED_OUTCOMES = "feed/outcome/"


def feed_outbox(stamp: str, index: int) -> str:
    """An outbox entry; `stamp` sorts by time, so posting order is key order."""
    return f"{FEED_OUTBOX}{stamp}-{index:05d}"


def feed_outcome(source: str, event_id: str) -> str:
    """An approval outcome as one witness (`desk` or `log`) told it."""
    return f"{FEED_OUTCOMES}{_part(source)}/{_part(event_id)}"


# ---- PIM's custom-extension calls (bot.extension.records) ---------------------------------------------------------
EXTENSION_EVALUATIONS = "pim-extension/evaluation/"
EXTENSION_LATEST = "pim-extension/latest/"


def extension_evaluation(request_id: str) -> str:
    """The answer given to PIM about one activation request, by its PIM request id (retries get the same)."""
    return f"{EXTENSION_EVALUATIONS}{_part(request_id)}"


def extension_latest(principal_id: str, group_id: str, access: str) -> str:
    """The last answer given to PIM about one person's activation of one group (what their turn tells them)."""
    return f"{EXTENSION_LATEST}{_part(principal_id.lower())}/{_part(group_id.lower())}/{_part(access)}"


# ---- access about to end (bot.ending; its lease is lease("ending")) -------------------------------------------------
ENDING_WARNED = "ending/warned/"
ENDING_KEEPS = "ending/keep/"
ENDING_NOTICES = "ending/eligibility/"


def ending_warned(object_id: str, mark: str) -> str:
    """The "ending soon" card of one activation of a user, sent once (core.ending.warning_mark names it)."""
    return f"{ENDING_WARNED}{_part(object_id.lower())}/{_part(mark)}"


def ending_keep(object_id: str, group_id: str, access: str) -> str:
    """A Keep it the bot carries out itself when the running activation ends (PIM would not schedule it)."""
    return f"{ENDING_KEEPS}{_part(object_id.lower())}/{_part(group_id.lower())}/{_part(access)}"


def ending_notice(object_id: str, mark: str) -> str:
    """The card about one eligibility of a user ending or ended, sent once (core.ending.EligibilityNotice.mark)."""
    return f"{ENDING_NOTICES}{_part(object_id.lower())}/{_part(mark)}"


# ---- the directory (graph.known, kept by bot.conversations) ---------------------------------------------------------
KNOWN_GROUPS = "pim/known-groups"

# ---- leases (bot.store) -------------------------------------------------------------------------------------------
LEASES = "lease/"


def lease(name: str) -> str:
    """A lease of the store's lease primitive (`Store.acquire`)."""
    return f"{LEASES}{_part(name)}"


# ---- audit exports waiting for the admin's consent (bot.exports) ---------------------------------------------------
EXPORTS = "export/"


def export(export_id: str) -> str:
    """An audit export's CSV, kept from the file consent card until the admin accepts or declines it."""
    return f"{EXPORTS}{_part(export_id)}"


KEYSPACE: tuple[str, ...] = (
    USER_REFS,
    CONVERSATION_REFS,
    CARDS,
    REQUEST_CARDS,
    REQUESTS,
    REQUEST_COPIES,
    SERVED_GROUPS,
    APPROVAL_CHANNELS,
    RECONCILE,
    LIVE_WATCHES,
    HEARTBEATS,
    DELIVERIES,
    PENDING_COMMANDS,
    TOKEN_EXCHANGES,
    SIGN_IN_CARDS,
    STEPUP_STATES,
    STEPUP_FLOWS,
    FEED_HEALTH,
    FEED_SNAPSHOT,
    FEED_POSTED,
    FEED_CHANNEL,
    FEED_DISCOVERED,
    FEED_AUDIT,
    FEED_OUTBOX,
    FEED_OUTCOMES,
    EXTENSION_EVALUATIONS,
    EXTENSION_LATEST,
    ENDING_WARNED,
    ENDING_KEEPS,
    ENDING_NOTICES,
    KNOWN_GROUPS,
    EXPORTS,
    LEASES,
)
"""Every prefix (ending in "/") and single key the bot stores under, in the order of the documentation's table."""
