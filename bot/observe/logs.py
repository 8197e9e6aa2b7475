"""`LOG_FORMAT=json`: one JSON object per line, for a log search that follows one activation end to end.

Each line has `time` (UTC, ISO 8601 with milliseconds), `level`, `logger` and `message`, and where known: the inbound
`activity_id` and `conversation_id` of the turn it was logged in (bot.observe.context), the last Graph call's
`graph_request_id` and `graph_client_request_id` (graph.observe; what Microsoft support asks for), and the
`pim_request_id` the task is about. A traceback goes in `exception`. The text is the message the redacting filter
(app.py) left, which runs before any formatter: the JSON format masks secrets exactly as the plain one does.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from bot.observe.context import TURN
from graph.observe import GRAPH_CALL, PIM_REQUEST

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    """A `logging.Formatter` writing one JSON object per record (module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        turn = TURN.get()
        if turn is not None:
            if turn.activity_id:
                line["activity_id"] = turn.activity_id
            if turn.conversation_id:
                line["conversation_id"] = turn.conversation_id
        call = GRAPH_CALL.get()
        if call is not None:
            if call.request_id:
                line["graph_request_id"] = call.request_id
            if call.client_request_id:
                line["graph_client_request_id"] = call.client_request_id
        pim_request = PIM_REQUEST.get()
        if pim_request:
            line["pim_request_id"] = pim_request
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)
