"""The demo generator: deterministic, realistic landing files for demos, tests and load tests.

Not part of the pipeline: nothing in `ingest` or `orchestration` imports it except the CLI's
`servisbot-metrics generate`. It writes what a messenger platform would deliver, following the
contract's raw events (section 1), whose vocabulary it imports from `ingest.vocabulary`.

Modules, in the order data flows through them:

* `catalogue`: organisations, bots, their KPI use cases and intents, and what users type;
* `rhythm`: delivery windows, the weekday and hour-of-day rhythm, the run's plan;
* `traffic`: visitors, visits, conversations and their events, one delivery window at a time;
* `delivery`: receipt times, late arrivals and redeliveries, the lines of each delivery window;
* `dirt`: malformed lines for every rejection reason, and blank lines;
* `ndjson`: the lines as NDJSON text, written to landing files;
* `generator`: `generate()`, the entry point, and what it reports;
* `arrays`: the vectorised helpers the others share.
"""

from demo.generator import GenerateResult, generate

__all__ = ["GenerateResult", "generate"]
