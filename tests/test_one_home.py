"""Each metric rule is written once, as a dbt docs block (dbt_project/models/docs/*.md): the dbt
models, Superset's bundle and the human docs use or point to it, and nothing restates a
configuration default (their home is the JSON Schema, see test_config_schema.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

SUPERSET = REPO / "superset"
sys.path.insert(0, str(SUPERSET))
from dbt_docs import DbtDocs, DocsError  # noqa: E402  (superset/, importable from either env)

sys.path.remove(str(SUPERSET))

RULES = REPO / "dbt_project/models/docs/metric_rules.md"
_DOC = re.compile(r"""doc\(\s*['"](\w+)['"]\s*\)""")
# a phrase of each long rule: found in its block and nowhere else in the repository's text
RULE_PHRASES = {
    "session_rule": "since the previous user-side event",
    "conversation_rule": "a running session is never cut",
    "unique_impression_rule": "the first one at or after the end",
    "kpi_outcome_rule": "else failure if",
    "missed_input_rule": "latest user_message text at or before",
    "business_hours_rule": "on a weekday the dashboard does not list",
}
# configuration defaults written next to their setting (the schema holds them)
RESTATED_DEFAULT = re.compile(
    r"default\s+(UTC|\d+)|\(\d+ ?h\)|\d+-(minute|hour)\b|\b(10|1440) minutes\b", re.IGNORECASE
)


def _text_files(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [REPO / name for name in listed if (REPO / name).is_file()]


def _rendered_bundle() -> dict[str, dict]:
    """The bundle as provision.py hands it to Superset's importer (in Superset's env)."""
    script = (
        "import json, pathlib, provision, yaml; "
        "print(json.dumps({n: yaml.safe_load(t) for n, t in "
        "provision.render_bundle(pathlib.Path('/w.duckdb')).items()}))"
    )
    python = SUPERSET / ".venv/bin/python"
    result = subprocess.run(
        [str(python), "-c", script], cwd=SUPERSET, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_block_is_used_and_every_reference_names_a_block() -> None:
    blocks = DbtDocs.load().blocks
    used: set[str] = set()
    for path in _text_files("dbt_project/models", "superset/assets"):
        if path.suffix in {".yml", ".yaml"}:
            for name in _DOC.findall(str(yaml.safe_load(path.read_text()))):
                assert name in blocks, f"{path.relative_to(REPO)}: no docs block {name!r}"
                used.add(name)
    assert set(blocks) - used == set(), "docs blocks nothing uses"


def test_the_superset_bundle_keeps_no_copy_of_the_dbt_docs() -> None:
    docs = DbtDocs.load()
    bundle = _rendered_bundle()
    for name, rendered in bundle.items():
        assert not _DOC.search(json.dumps(rendered)), f"{name}: a doc() reference is left"
        if not name.startswith("datasets/"):
            continue
        source = yaml.safe_load((SUPERSET / "assets" / name).read_text())
        assert "description" not in source, f"{name}: the dataset's description is dbt's"
        assert not any("description" in c for c in source["columns"]), f"{name}: column copy"
        model = docs.models[rendered["table_name"]]
        assert rendered["description"] == model.description
        for column in rendered["columns"]:
            assert column["description"] == model.columns[column["column_name"]], name
        assert all(m["description"] for m in rendered["metrics"]), f"{name}: undescribed metric"
    sessions = bundle["charts/usage__sessions.yaml"]["description"]
    assert sessions == " ".join(docs.blocks["session_rule"].split())


def test_an_unknown_block_is_refused() -> None:
    with pytest.raises(DocsError, match="no dbt docs block 'sesion_rule'"):
        DbtDocs.load().render("Sessions: {{ doc('sesion_rule') }}")


@pytest.mark.parametrize(("block", "phrase"), RULE_PHRASES.items())
def test_each_rule_is_worded_once(block: str, phrase: str) -> None:
    assert phrase in " ".join(DbtDocs.load().blocks[block].lower().split())
    found = [
        path.relative_to(REPO).as_posix()
        for path in _text_files()
        if path != RULES
        and path.suffix in {".md", ".yml", ".yaml", ".sql", ".py", ".json"}
        and not path.name.startswith("test_")
        and phrase in " ".join(path.read_text(errors="replace").lower().split())
    ]
    assert found == [], f"{block} is restated in {found}"


def test_no_description_restates_a_configuration_default() -> None:
    files = _text_files(
        "dbt_project/models", "superset/assets", "docs", "orchestration/config_edit.py"
    )
    for path in files:
        if path.suffix not in {".md", ".yml", ".yaml", ".py"}:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if RESTATED_DEFAULT.search(line) and "unit_tests" not in path.name:
                pytest.fail(f"{path.relative_to(REPO)}:{number}: {line.strip()}")


def test_links_to_the_rules_land_on_a_heading() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", RULES.read_text(), re.MULTILINE)
    }
    links = 0
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for anchor in re.findall(r"metric_rules\.md#([\w-]+)\)", path.read_text()):
            assert anchor in headings, f"{path.name}: #{anchor} is no heading of {RULES.name}"
            links += 1
    assert links >= 20
