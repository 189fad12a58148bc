"""What the demo's bots are: organisations, bots, their KPI use cases, intents and API
connectors, the pages hosting them, and what users type; and the same as lookup arrays.

Every string the generator writes besides identities and timestamps is interned here as an
integer label code (`Catalogue.labels`), so that traffic is drawn as integer arrays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from demo.arrays import ragged
from ingest.vocabulary import START_ACTIONS


@dataclass(frozen=True)
class UseCase:
    """A KPI use case: its goal names are what a `kpiDashboards` entry refers to."""

    title: str
    intent: str
    api: str
    start: str
    success: str
    failure: str
    failure_reasons: tuple[str, ...]


@dataclass(frozen=True)
class BotProfile:
    name: str
    share: float  # share of all visits
    engagement: float  # probability that a visit starts a conversation
    use_cases: tuple[UseCase, ...]
    intents: tuple[str, ...]  # further intents besides the use cases' and `fallback`
    apis: tuple[str, ...]  # further API connector aliases
    web_paths: tuple[str, ...]
    app_screens: tuple[str, ...]


ORGANIZATIONS = ("acme-retail", "globex-bank")

BOTS = (
    BotProfile(
        name="ClassicFlow",
        share=0.45,
        engagement=0.24,
        use_cases=(
            UseCase(
                "Password reset",
                "reset_password",
                "identity-api",
                "pw_reset_start",
                "pw_reset_done",
                "pw_reset_failed",
                ("account_locked", "email_not_found", "timeout"),
            ),
            UseCase(
                "Order status",
                "order_status",
                "orders-api",
                "order_status_start",
                "order_status_done",
                "order_status_failed",
                ("order_not_found", "backend_unavailable"),
            ),
        ),
        intents=("greeting", "opening_hours", "returns_policy", "store_locator", "talk_to_agent"),
        apis=("crm-lookup", "knowledge-base"),
        web_paths=("/", "/help", "/account/login", "/orders"),
        app_screens=("home", "orders"),
    ),
    BotProfile(
        name="HelpDeskBot",
        share=0.30,
        engagement=0.30,
        use_cases=(
            UseCase(
                "Ticket creation",
                "create_ticket",
                "servicenow",
                "ticket_create_start",
                "ticket_created",
                "ticket_create_failed",
                ("missing_details", "backend_unavailable"),
            ),
            UseCase(
                "Product return",
                "start_return",
                "returns-api",
                "return_start",
                "return_done",
                "return_failed",
                ("outside_return_window", "item_not_eligible"),
            ),
        ),
        intents=("greeting", "ticket_status", "opening_hours", "talk_to_agent"),
        apis=("knowledge-base",),
        web_paths=("/support", "/support/tickets", "/returns"),
        app_screens=("support",),
    ),
    BotProfile(
        name="LoanAdvisor",
        share=0.25,
        engagement=0.18,
        use_cases=(
            UseCase(
                "Loan quote",
                "loan_quote",
                "credit-score",
                "loan_quote_start",
                "loan_quote_done",
                "loan_quote_failed",
                ("credit_check_failed", "amount_too_high"),
            ),
            UseCase(
                "Appointment booking",
                "book_appointment",
                "calendar",
                "appointment_start",
                "appointment_booked",
                "appointment_failed",
                ("no_slots_available",),
            ),
        ),
        intents=("greeting", "interest_rates", "branch_locator", "talk_to_agent"),
        apis=("crm-lookup",),
        web_paths=("/loans", "/loans/mortgage", "/contact"),
        app_screens=("loans", "appointments"),
    ),
)

FALLBACK = "fallback"  # the intent of an input the bot did not understand

# What users type, per intent; `{n}` is replaced by a random 6-7 digit number. Several carry
# personal data (emails, phone numbers) on purpose: the pipeline must mask them.
USER_TEXTS: dict[str, tuple[str, ...]] = {
    "reset_password": (
        "I forgot my password",
        "reset my password, my email is mary.k{n}@example.com",
        "can't log in, account jdoe{n}@mail.example",
    ),
    "order_status": (
        "where is my order {n}?",
        "order #{n} hasn't arrived",
        "status of my delivery please",
    ),
    "create_ticket": (
        "my laptop won't boot",
        "printer on floor 3 is broken, call me on +353 87 {n}",
        'the VPN says "error {n}"',
    ),
    "start_return": ("I want to return item {n}", "how do I send back my order?"),
    "loan_quote": ("I'd like a quote for a loan of {n} euros", "how much can I borrow?"),
    "book_appointment": (
        "book an appointment with an advisor",
        "can someone call me? my number is 087 {n}",
    ),
    "greeting": ("hi", "hello there", "good morning"),
    "opening_hours": ("when are you open?", "opening hours on sunday?"),
    "returns_policy": ("what is your returns policy?",),
    "store_locator": ("nearest store to Dublin 8", "is there a shop near me?"),
    "ticket_status": ("any update on ticket INC{n}?", "status of my ticket"),
    "interest_rates": ("what are your mortgage rates?", "current interest rate?"),
    "branch_locator": ("where is the closest branch?",),
    "talk_to_agent": ("can I talk to a human please", "agent", "call me back at +44 7700 {n}"),
    FALLBACK: ("asdfgh", "Ça ne marche pas 😕", "my email is anna.{n}@example.org help", "blue"),
}
NUMBER_SLOT = "{n}"


def json_fragment(text: str) -> str:
    """`text` escaped for use inside a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


class Labels:
    """Strings (page urls, property values, text fragments) interned to integer codes."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        if value not in self._codes:
            self._codes[value] = len(self.values)
            self.values.append(value)
        return self._codes[value]


class Catalogue:
    """The organisations and bots of one run as lookup arrays of label codes.

    Bots beyond the three profiles repeat them with a number (`ClassicFlow2`); organisations
    beyond the two names are `org-N`. Bot `i` belongs to organisation `i * organizations // bots`.
    """

    def __init__(self, organizations: int, bots: int) -> None:
        self.org_names = [
            ORGANIZATIONS[i] if i < len(ORGANIZATIONS) else f"org-{i + 1}"
            for i in range(organizations)
        ]
        profiles = [BOTS[i % len(BOTS)] for i in range(bots)]
        self.bot_names = [
            p.name if i < len(BOTS) else f"{p.name}{i // len(BOTS) + 1}"
            for i, p in enumerate(profiles)
        ]
        self.bot_org = np.array([i * organizations // bots for i in range(bots)])
        share = np.array([p.share for p in profiles])
        self.bot_share = share / share.sum()
        self.engagement = np.array([p.engagement for p in profiles])

        self.labels = labels = Labels()
        self.fallback = labels.code(FALLBACK)
        self.start_actions = np.array([labels.code(a) for a in START_ACTIONS])
        hosts = [self.org_names[o] for o in self.bot_org]
        self.web_pages = ragged(
            [
                [labels.code(f"https://www.{org}.example{path}") for path in p.web_paths]
                for p, org in zip(profiles, hosts, strict=True)
            ]
        )
        self.app_pages = ragged(
            [
                [labels.code(f"app://{org}/{screen}") for screen in p.app_screens]
                for p, org in zip(profiles, hosts, strict=True)
            ]
        )
        # Intents a turn can match besides fallback; use-case intents first.
        self.intents = ragged(
            [
                [labels.code(i) for i in (*(u.intent for u in p.use_cases), *p.intents)]
                for p in profiles
            ]
        )
        self.apis = ragged([[labels.code(a) for a in p.apis] for p in profiles])
        self._add_use_cases(profiles)
        self._add_user_texts()

    def _add_use_cases(self, profiles: list[BotProfile]) -> None:
        """Use cases numbered across bots: bot `b` has those from `case_offsets[b]` on."""
        labels = self.labels
        cases = [u for p in profiles for u in p.use_cases]
        self.case_offsets = np.concatenate([[0], np.cumsum([len(p.use_cases) for p in profiles])])
        self.case_counts = np.diff(self.case_offsets)
        self.case_intent = np.array([labels.code(u.intent) for u in cases])
        self.case_api = np.array([labels.code(u.api) for u in cases])
        self.case_goals = np.array(  # start, success, failure
            [[labels.code(u.start), labels.code(u.success), labels.code(u.failure)] for u in cases]
        )
        self.case_reasons = ragged([[labels.code(r) for r in u.failure_reasons] for u in cases])

    def _add_user_texts(self) -> None:
        """User texts by intent label code; the number slot splits a text into a prefix and a
        suffix (labels holding JSON-escaped text) around a number."""
        labels = self.labels
        texts: list[list[int]] = []
        prefix, suffix, numbered = [], [], []
        for intent in labels.values.copy():
            rows = []
            for template in USER_TEXTS.get(intent, ()):
                head, _, tail = template.partition(NUMBER_SLOT)
                rows.append(len(prefix))
                prefix.append(labels.code(json_fragment(head)))
                suffix.append(labels.code(json_fragment(tail)))
                numbered.append(NUMBER_SLOT in template)
            texts.append(rows)
        self.texts = ragged(texts)
        self.text_prefix, self.text_suffix = np.array(prefix), np.array(suffix)
        self.text_numbered = np.array(numbered)
