"""Data-quality suites (Great Expectations 1.x) on ingested delivery days (the marts are checked
by their dbt tests)."""

import os

# before any great_expectations import in this package: no usage statistics (no network here)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
