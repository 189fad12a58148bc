"""The contract's vocabulary of raw events (section 1): the one home of these facts.

The line rules (`ingest.validate`) and the demo generator (`demo`) both import them from here;
anything that checks or writes raw events names its types, fields and ranges through this module.
"""

from __future__ import annotations

EVENT_TYPES = (
    "impression",
    "conversation_start",
    "user_message",
    "feedback",
    "bot_message",
    "intent_matched",
    "api_call",
    "goal",
    "handover",
    "conversation_end",
)
# The one type without a conversation: every other type requires `conversation_id`.
PAGE_EVENT_TYPE = "impression"
START_ACTIONS = ("start_button", "teaser", "auto_start")  # conversation_start.start_action

REQUIRED_STRINGS = ("event_id", "event_type", "organization", "bot", "visitor_id")
TIMESTAMP_FIELDS = ("occurred_at", "received_at")
OPTIONAL_STRINGS = ("channel", "page_url")
MAX_LEAD_HOURS = 24  # occurred_at may be at most this much after received_at

# Ranges of the typed properties, both ends included.
RATING_RANGE = (1, 5)  # feedback.rating, an integer
CONFIDENCE_RANGE = (0, 1)  # intent_matched.confidence, a number
STATUS_CODE_RANGE = (100, 599)  # api_call.status_code, an integer
MIN_DURATION_MS = 0  # api_call.duration_ms, a number
