"""Visitors, visits, conversations and their events: the valid traffic of one delivery window.

How it is modelled (vectorised with numpy, one window at a time):

* visits to the bots' host pages follow the rhythm of `demo.rhythm`; a visit is one or more page
  loads (`impression`) by a visitor drawn from a heavy-tailed pool of returning devices, on the
  web or in an app (a device's channel never changes);
* some visits start a conversation: `conversation_start`, a greeting, then turns of
  `user_message` -> `intent_matched` -> optional `api_call` / `goal` -> `bot_message`, and at the
  end optional `handover`, `feedback` and `conversation_end`. A conversation may pursue one of
  its bot's KPI use cases (start goal, then success / failure goal, or abandoned). User gaps are
  mostly seconds, sometimes beyond the 10-minute session limit (exactly 10:00 included) and
  sometimes a next-day return.

The result is a frame of events (`EVENT_COLUMNS` and identities); `demo.delivery` dates their
receipt. Every draw comes from the window's own random generator, in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from demo.arrays import (
    Columns,
    Frame,
    concat_frames,
    flags_at,
    lognormal_ms,
    mix64,
    pick,
    segment_cumsum,
    segment_starts,
)
from demo.catalogue import Catalogue
from demo.rhythm import DAY_MS, EVENTS_PER_VISIT, HOUR_MS, HOURS_PER_WINDOW, WINDOWS_PER_DAY, Plan
from ingest.vocabulary import EVENT_TYPES, RATING_RANGE
from orchestration.metrics_config import default

# Event type codes: positions in the contract's list.
_TYPE_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}
IMPRESSION = _TYPE_CODE["impression"]
CONVERSATION_START = _TYPE_CODE["conversation_start"]
USER_MESSAGE = _TYPE_CODE["user_message"]
FEEDBACK = _TYPE_CODE["feedback"]
BOT_MESSAGE = _TYPE_CODE["bot_message"]
INTENT_MATCHED = _TYPE_CODE["intent_matched"]
API_CALL = _TYPE_CODE["api_call"]
GOAL = _TYPE_CODE["goal"]
HANDOVER = _TYPE_CODE["handover"]
CONVERSATION_END = _TYPE_CODE["conversation_end"]

# An event's columns: what each holds depends on its type.
EVENT_COLUMNS: Columns = {
    "type": (np.int8, -1),  # event type code
    "occurred": (np.int64, 0),  # ms since the epoch
    "visit": (np.int64, 0),  # the visit, numbered within the window
    "conversation": (np.int64, -1),  # numbered within the window
    "page": (np.int64, -1),  # label: an impression's page_url
    "label": (np.int64, -1),  # label: start action, text prefix, intent, API or goal
    "detail": (np.int64, -1),  # label: a user text's suffix, a failure goal's reason
    "number": (np.int64, -1),  # a user text's number, a rating or a status code
    "measure": (np.float64, np.nan),  # an intent's confidence, an API call's duration
}

MOBILE_SHARE = 30  # percent of devices
USE_CASE_RATE = 0.55  # of conversations
OUTCOME_P = (0.6, 0.2, 0.2)  # success, failure, abandoned
FALLBACK_RATE = 0.12
API_RATE = 0.15  # per turn, besides the use case's own call
MAX_API_DURATION_MS = 30_000  # durations have one decimal, from 5 ms to this
STATUS_CODES = np.array([200, 201, 400, 401, 404, 429, 500, 502, 503])
STATUS_P = (0.90, 0.02, 0.015, 0.01, 0.02, 0.005, 0.02, 0.005, 0.005)
RATINGS = np.arange(RATING_RANGE[0], RATING_RANGE[1] + 1)
RATING_P = (0.08, 0.07, 0.15, 0.30, 0.40)
START_ACTION_P = (0.55, 0.30, 0.15)  # start_button, teaser, auto_start
# the default session inactivity limit: gaps are drawn on both sides of it and exactly on it
SESSION_LIMIT_MS = default("policies.userSession.expireOnInactivityInMinutes") * 60_000
# User gap before a turn: normal, beyond the session limit, exactly 10:00, 9:59.999, next day.
GAP_P = (0.925, 0.05, 0.01, 0.005, 0.01)


@dataclass(frozen=True)
class Visits:
    """The shape of each visit; enough to count its events before any time is drawn."""

    bot: np.ndarray
    impressions: np.ndarray
    turns: np.ndarray  # 0 when the visit starts no conversation
    case: np.ndarray  # use case (numbered across bots), -1 for none
    outcome: np.ndarray  # 0 success, 1 failure, 2 abandoned
    feedback: np.ndarray
    handover: np.ndarray
    end: np.ndarray
    api: np.ndarray  # per turn of the visits' conversations, in visit order
    events: np.ndarray

    def head(self, k: int) -> Visits:
        """The first `k` visits."""
        columns = {f.name: getattr(self, f.name)[:k] for f in fields(self)}
        columns["api"] = self.api[: int(self.turns[:k].sum())]
        return Visits(**columns)


def draw_visits(rng: np.random.Generator, catalogue: Catalogue, n: int) -> Visits:
    """`n` visits: the bot, page loads, whether and how long a conversation goes, its use case
    and outcome, its tail, and which turns call an API."""
    bot = rng.choice(len(catalogue.bot_share), n, p=catalogue.bot_share)
    impressions = rng.geometric(0.55, n)
    chats = rng.random(n) < catalogue.engagement[bot]
    pursues = chats & (rng.random(n) < USE_CASE_RATE)
    case = np.where(
        pursues,
        catalogue.case_offsets[bot] + (rng.random(n) * catalogue.case_counts[bot]).astype(np.int64),
        -1,
    )
    turns = np.minimum(rng.geometric(0.27, n), 30) * chats
    turns = np.where(pursues, np.maximum(turns, 2), turns)
    outcome = rng.choice(3, n, p=OUTCOME_P)
    feedback = chats & (rng.random(n) < 0.2)
    handover = chats & (rng.random(n) < np.where(pursues & (outcome == 1), 0.2, 0.04))
    end = chats & (rng.random(n) < 0.8)
    turn_visit = np.repeat(np.arange(n), turns)
    first_turn = flags_at(len(turn_visit), segment_starts(turns[chats]))
    api = (rng.random(len(turn_visit)) < API_RATE) | (first_turn & pursues[turn_visit])
    events = (
        impressions
        + chats * (2 + feedback + handover + end)
        + 3 * turns
        + np.bincount(turn_visit, weights=api, minlength=n).astype(np.int64)
        + pursues * (1 + (outcome < 2))
    )
    return Visits(bot, impressions, turns, case, outcome, feedback, handover, end, api, events)


def visits_for(rng: np.random.Generator, catalogue: Catalogue, target: int) -> Visits:
    """The first visits whose events reach `target` (overshooting by less than one visit)."""
    if target <= 0:
        return draw_visits(rng, catalogue, 0)
    n = int(target / EVENTS_PER_VISIT * 1.2) + 16
    while True:
        visits = draw_visits(rng, catalogue, n)
        reached = np.cumsum(visits.events)
        if reached[-1] >= target:
            return visits.head(int(np.searchsorted(reached, target)) + 1)
        n *= 2


def visit_starts(plan: Plan, rng: np.random.Generator, window: int, visits: int) -> np.ndarray:
    """When each visit begins: an hour of the window by the day's rhythm, then any instant."""
    day, part = divmod(window, WINDOWS_PER_DAY)
    hours = np.arange(part * HOURS_PER_WINDOW, (part + 1) * HOURS_PER_WINDOW)
    hour_p = plan.hour_weight[day, hours] / plan.hour_weight[day, hours].sum()
    return (
        plan.start_ms
        + day * DAY_MS
        + rng.choice(hours, visits, p=hour_p) * HOUR_MS
        + rng.integers(0, HOUR_MS, visits)
    )


@dataclass(frozen=True)
class PageLoads:
    """The impressions of the window's visits, visit after visit."""

    visit: np.ndarray
    at: np.ndarray
    first: np.ndarray  # index of each visit's first page load


def page_loads(rng: np.random.Generator, visits: Visits, start: np.ndarray) -> PageLoads:
    """Page loads of a visit, tens of seconds apart."""
    visit = np.repeat(np.arange(len(start)), visits.impressions)
    gaps = lognormal_ms(rng, 45_000, 0.9, len(visit), 1_000, 1_800_000)
    first = segment_starts(visits.impressions)
    gaps[first] = 0
    return PageLoads(visit, start[visit] + segment_cumsum(gaps, visits.impressions), first)


@dataclass(frozen=True)
class Conversations:
    """The window's conversations: one per visit with turns, numbered from 0."""

    visit: np.ndarray
    turns: np.ndarray
    case: np.ndarray
    start: np.ndarray  # when conversation_start occurred

    @property
    def index(self) -> np.ndarray:
        return np.arange(len(self.visit))


def open_conversations(
    rng: np.random.Generator, catalogue: Catalogue, visits: Visits, pages: PageLoads
) -> tuple[Conversations, list[Frame]]:
    """Each conversation starts from one of its visit's page loads, by a start button (after a
    while), a teaser (sooner) or automatically; the bot greets at once."""
    visit = np.flatnonzero(visits.turns > 0)
    n = len(visit)
    action = rng.choice(len(START_ACTION_P), n, p=START_ACTION_P)
    delay = np.select(
        [action == 0, action == 1],
        [
            lognormal_ms(rng, 20_000, 0.9, n, 1_000, 900_000),
            lognormal_ms(rng, 8_000, 0.7, n, 500, 300_000),
        ],
        rng.integers(300, 3_000, n),
    )
    anchor = pages.first[visit] + (rng.random(n) * visits.impressions[visit]).astype(np.int64)
    start = pages.at[anchor] + delay
    action_label = np.where(rng.random(n) < 0.97, catalogue.start_actions[action], -1)
    conversations = Conversations(visit, visits.turns[visit], visits.case[visit], start)
    index = conversations.index
    greeting_at = start + rng.integers(150, 900, n)
    return conversations, [
        {
            "type": np.full(n, CONVERSATION_START),
            "occurred": start,
            "visit": visit,
            "conversation": index,
            "label": action_label,
        },
        {
            "type": np.full(n, BOT_MESSAGE),
            "occurred": greeting_at,
            "visit": visit,
            "conversation": index,
        },
    ]


def user_gaps(rng: np.random.Generator, turns: int, first: np.ndarray) -> np.ndarray:
    """The user's pause before each turn's message, by the mix of `GAP_P`; a conversation's
    first message comes seconds after its start."""
    kind = rng.choice(len(GAP_P), turns, p=GAP_P)
    gap = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            lognormal_ms(rng, 20_000, 0.9, turns, 2_000, 540_000),
            rng.integers(SESSION_LIMIT_MS + 1, 3 * HOUR_MS, turns),
            np.full(turns, SESSION_LIMIT_MS),
            np.full(turns, SESSION_LIMIT_MS - 1),
        ],
        rng.integers(20 * HOUR_MS, 30 * HOUR_MS, turns),
    )
    gap[first] = lognormal_ms(rng, 6_000, 0.6, int(first.sum()), 1_000, 60_000)
    return gap


def conversation_turns(
    rng: np.random.Generator, catalogue: Catalogue, visits: Visits, chats: Conversations
) -> tuple[np.ndarray, list[Frame]]:
    """Each turn: the user's message, the intent it matched, an optional API call and goal, and
    the bot's answer. Returns when each conversation's last answer came, and the events."""
    n = len(visits.api)
    conversation = np.repeat(chats.index, chats.turns)
    first_turn = segment_starts(chats.turns)
    last_turn = first_turn + chats.turns - 1
    is_first = flags_at(n, first_turn)
    user_at = chats.start[conversation] + segment_cumsum(user_gaps(rng, n, is_first), chats.turns)
    intent_at = user_at + rng.integers(80, 600, n)
    api = visits.api
    duration = np.round(np.clip(rng.lognormal(np.log(250), 0.8, n), 5, MAX_API_DURATION_MS), 1)
    api_at = intent_at + np.ceil(duration).astype(np.int64)
    goal_at = np.where(api, api_at, intent_at) + rng.integers(5, 60, n)
    answer_at = goal_at + rng.integers(100, 1_200, n)

    bot = visits.bot[chats.visit][conversation]
    case = chats.case[conversation]
    opens_case = is_first & (case >= 0)  # the turn that asks for the use case
    intent = np.where(
        rng.random(n) < FALLBACK_RATE, catalogue.fallback, pick(rng, catalogue.intents, bot)
    )
    intent[opens_case] = catalogue.case_intent[case][opens_case]
    confidence = np.where(
        intent == catalogue.fallback, rng.uniform(0.05, 0.45, n), 1 - rng.beta(1.5, 10, n)
    ).round(3)
    confidence[rng.random(n) < 0.05] = np.nan
    text = pick(rng, catalogue.texts, intent)
    has_text = rng.random(n) >= 0.04
    number = np.where(catalogue.text_numbered[text], rng.integers(100_000, 9_999_999, n), -1)
    api_label = np.where(opens_case, catalogue.case_api[case], pick(rng, catalogue.apis, bot))
    status = STATUS_CODES[rng.choice(len(STATUS_CODES), n, p=STATUS_P)]
    duration[rng.random(n) < 0.03] = np.nan
    # Goals: the use case's start goal on its first turn, its outcome on the last.
    outcome = visits.outcome[chats.visit][conversation]
    is_last = flags_at(n, last_turn)
    goal_kind = np.where(is_first, 0, np.where(is_last & (outcome < 2), 1 + outcome, -1))
    has_goal = (case >= 0) & (goal_kind >= 0)
    any_case = np.maximum(case, 0)
    goal = catalogue.case_goals[any_case, np.maximum(goal_kind, 0)]
    reason = np.where(goal_kind == 2, pick(rng, catalogue.case_reasons, any_case), -1)

    visit = chats.visit[conversation]
    events = [
        {
            "type": np.full(n, USER_MESSAGE),
            "occurred": user_at,
            "visit": visit,
            "conversation": conversation,
            "label": np.where(has_text, catalogue.text_prefix[text], -1),
            "detail": np.where(has_text, catalogue.text_suffix[text], -1),
            "number": np.where(has_text, number, -1),
        },
        {
            "type": np.full(n, INTENT_MATCHED),
            "occurred": intent_at,
            "visit": visit,
            "conversation": conversation,
            "label": intent,
            "measure": confidence,
        },
        {
            "type": np.full(int(api.sum()), API_CALL),
            "occurred": api_at[api],
            "visit": visit[api],
            "conversation": conversation[api],
            "label": api_label[api],
            "number": status[api],
            "measure": duration[api],
        },
        {
            "type": np.full(int(has_goal.sum()), GOAL),
            "occurred": goal_at[has_goal],
            "visit": visit[has_goal],
            "conversation": conversation[has_goal],
            "label": goal[has_goal],
            "detail": reason[has_goal],
        },
        {
            "type": np.full(n, BOT_MESSAGE),
            "occurred": answer_at,
            "visit": visit,
            "conversation": conversation,
        },
    ]
    return answer_at[last_turn], events


def conversation_tails(
    rng: np.random.Generator, visits: Visits, chats: Conversations, last_answer: np.ndarray
) -> list[Frame]:
    """After the last answer: an optional handover, feedback, and the conversation's end."""
    n = len(chats.visit)
    handover_at = last_answer + rng.integers(500, 3_000, n)
    feedback_at = last_answer + lognormal_ms(rng, 12_000, 0.6, n, 2_000, 300_000)
    end_at = np.maximum(handover_at, feedback_at) + rng.integers(30_000, 240_000, n)
    rating = RATINGS[rng.choice(len(RATINGS), n, p=RATING_P)]
    events = []
    for event_type, happens, at, extra in (
        (HANDOVER, visits.handover[chats.visit], handover_at, {}),
        (FEEDBACK, visits.feedback[chats.visit], feedback_at, {"number": rating}),
        (CONVERSATION_END, visits.end[chats.visit], end_at, {}),
    ):
        events.append(
            {
                "type": np.full(int(happens.sum()), event_type),
                "occurred": at[happens],
                "visit": chats.visit[happens],
                "conversation": chats.index[happens],
                **{name: values[happens] for name, values in extra.items()},
            }
        )
    return events


def add_identities(
    plan: Plan,
    catalogue: Catalogue,
    rng: np.random.Generator,
    window: int,
    visits: Visits,
    pages: PageLoads,
    events: Frame,
) -> Frame:
    """Who and where: each visit's visitor (a returning device of its organisation's pool, whose
    hash decides web or mobile), the page of each impression, and the conversations' keys."""
    org = catalogue.bot_org[visits.bot]
    pool_member = (plan.pools[org] * rng.random(len(visits.bot)) ** 3).astype(np.uint64)
    visitor = (org.astype(np.uint64) << np.uint64(40)) | pool_member
    visitor_key = visitor ^ plan.visitor_salt
    mobile = (mix64(visitor_key) % np.uint64(100) < MOBILE_SHARE).astype(np.int8)
    page_bot, page_mobile = visits.bot[pages.visit], mobile[pages.visit]
    is_impression = events["type"] == IMPRESSION
    events["page"][is_impression] = np.where(
        page_mobile == 1,
        pick(rng, catalogue.app_pages, page_bot),
        pick(rng, catalogue.web_pages, page_bot),
    )
    visit = events.pop("visit")
    conversation = events.pop("conversation")
    events["bot"] = visits.bot[visit].astype(np.int16)
    events["visitor_key"] = visitor_key[visit]
    events["channel"] = mobile[visit]
    counter = (np.uint64(window) << np.uint64(32)) | np.maximum(conversation, 0).astype(np.uint64)
    events["conversation_key"] = counter ^ plan.conversation_salt
    return events


def window_events(
    plan: Plan, catalogue: Catalogue, rng: np.random.Generator, window: int, target: int
) -> Frame:
    """The valid events of the visits that begin in `window`, about `target` of them."""
    visits = visits_for(rng, catalogue, target)
    pages = page_loads(rng, visits, visit_starts(plan, rng, window, len(visits.bot)))
    parts: list[Frame] = [
        {"type": np.full(len(pages.visit), IMPRESSION), "occurred": pages.at, "visit": pages.visit}
    ]
    chats, opening = open_conversations(rng, catalogue, visits, pages)
    last_answer, turns = conversation_turns(rng, catalogue, visits, chats)
    tails = conversation_tails(rng, visits, chats, last_answer)
    events = concat_frames([*parts, *opening, *turns, *tails], EVENT_COLUMNS)
    return add_identities(plan, catalogue, rng, window, visits, pages, events)
