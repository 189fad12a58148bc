"""The dbt project's documentation, read where it is written, for the Superset bundle.

Every description of a dataset or a column is the dbt model's (``dbt_project/models/**/*.yml``),
and a metric rule is a dbt docs block (``{% docs session_rule %}`` in
``dbt_project/models/docs/*.md``): the bundle under ``superset/assets/`` keeps no copy. The
provisioner fills a dataset's missing descriptions from its model and replaces every
``{{ doc('name') }}`` in the bundle with the block's text, as dbt does for its own docs. Only
PyYAML is needed (the Superset environment has no dbt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
_BLOCK = re.compile(r"{%-?\s*docs\s+(\w+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.DOTALL)
_DOC = re.compile(r"""{{\s*doc\(\s*(['"])(\w+)\1\s*\)\s*}}""")


class DocsError(ValueError):
    """A reference to a docs block or a model that the dbt project does not have."""


@dataclass(frozen=True)
class Model:
    description: str
    columns: dict[str, str]


@dataclass(frozen=True)
class DbtDocs:
    blocks: dict[str, str]
    models: dict[str, Model]

    @classmethod
    def load(cls, project_dir: Path = DBT_PROJECT_DIR) -> DbtDocs:
        models_dir = project_dir / "models"
        blocks = {
            name: text.strip()
            for path in sorted(models_dir.rglob("*.md"))
            for name, text in _BLOCK.findall(path.read_text(encoding="utf-8"))
        }
        docs = cls(blocks, {})
        for path in sorted(models_dir.rglob("*.yml")):
            for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
                columns = model.get("columns", [])
                docs.models[model["name"]] = Model(
                    docs.render(model.get("description", "")),
                    {c["name"]: docs.render(c.get("description", "")) for c in columns},
                )
        return docs

    def render(self, text: str) -> str:
        """`text` with each {{ doc('name') }} replaced by its block, on one line (a tooltip)."""

        def block(match: re.Match[str]) -> str:
            name = match[2]
            if name not in self.blocks:
                raise DocsError(f"no dbt docs block {name!r} (dbt_project/models/docs/*.md)")
            return self.blocks[name]

        return " ".join(_DOC.sub(block, text).split())

    def render_all(self, node: Any) -> Any:
        """Every string in a bundle file with its doc() references replaced."""
        if isinstance(node, dict):
            return {key: self.render_all(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.render_all(item) for item in node]
        if isinstance(node, str) and _DOC.search(node):
            return self.render(node)
        return node

    def describe_dataset(self, dataset: dict[str, Any]) -> None:
        """Fill a physical dataset's missing descriptions (its own and its columns') from its
        dbt model; a description given in the bundle is kept."""
        model = self.models.get(dataset["table_name"])
        if model is None:
            raise DocsError(f"dataset {dataset['table_name']!r} is no dbt model")
        dataset["description"] = dataset.get("description") or model.description
        for column in dataset.get("columns", []):
            name = column["column_name"]
            if not column.get("description"):
                if name not in model.columns:
                    raise DocsError(f"{dataset['table_name']}.{name}: no description in dbt")
                column["description"] = model.columns[name]
