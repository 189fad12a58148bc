"""The CLI's console log: Dagster's own, with an error's message but not its stack trace.

A failing step logs its error with the Python stack trace of Dagster's machinery, twice (the
step's failure, then the run's), before the CLI's one-line reason; and a step skipped after it
names every dbt output it waited for on one line. On the console each error keeps its message
and each line its first MAX_LINE characters; the run's event log keeps everything (the Dagster
UI shows the CLI's runs too).
"""

from __future__ import annotations

import logging
import re

import dagster as dg

# A stack trace in Dagster's text of an error (SerializableErrorInfo.to_string), up to the
# exception that caused it or during whose handling it occurred, whose message is kept.
STACK_TRACE = re.compile(
    r"\nStack Trace:\n.*?(?=\nThe above exception (?:was caused by|occurred during)|\Z)",
    re.DOTALL,
)
MAX_LINE = 400


def concise(message: str) -> str:
    """`message` without its stack traces, each line at most MAX_LINE characters."""
    text, traces = STACK_TRACE.subn("", message)
    lines = [
        line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]} … ({len(line):,} characters)"
        for line in text.rstrip().splitlines()
    ]
    if traces:
        lines.append("(its stack trace: this run's event log, in the Dagster UI)")
    return "\n".join(lines)


class _Concise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shorter = concise(message)
        if shorter != message:
            record.msg, record.args = shorter, ()
        return True


@dg.logger(
    dg.colored_console_logger.config_schema,
    description="Dagster's colored console logger, without stack traces or very long lines.",
)
def concise_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    logger.addFilter(_Concise())
    return logger
