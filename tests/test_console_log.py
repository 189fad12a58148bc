"""The CLI's console log: an error's messages without Dagster's stack traces."""

from orchestration.console_log import MAX_LINE, concise

CHAINED = (
    'job - run - 123 - boom - STEP_FAILURE - Execution of step "boom" failed.\n\n'
    "dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while "
    'executing op "boom":'
    '\n\nStack Trace:\n  File "step.py", line 1, in run\n    yield\n'
    "\nThe above exception was caused by the following exception:\n"
    'RuntimeError: wrapper\n\nStack Trace:\n  File "asset.py", line 9, in boom\n    raise\n'
    "\nThe above exception occurred during handling of the following exception:\n"
    "KeyError: 'the real reason'\n\nStack Trace:\n  File \"asset.py\", line 7, in boom\n"
)


def test_an_error_keeps_every_message_of_its_chain_and_no_stack_trace() -> None:
    assert concise(CHAINED).splitlines() == [
        'job - run - 123 - boom - STEP_FAILURE - Execution of step "boom" failed.',
        "",
        "dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while "
        'executing op "boom":',
        "",
        "The above exception was caused by the following exception:",
        "RuntimeError: wrapper",
        "",
        "The above exception occurred during handling of the following exception:",
        "KeyError: 'the real reason'",
        "(its stack trace: this run's event log, in the Dagster UI)",
    ]


def test_a_long_line_is_cut_and_a_plain_message_left_alone() -> None:
    long = "x" * (MAX_LINE + 50)
    assert concise(f"first\n{long}") == f"first\n{'x' * MAX_LINE} … ({MAX_LINE + 50:,} characters)"
    assert concise("2026-11-26: 6,491 accepted") == "2026-11-26: 6,491 accepted"
