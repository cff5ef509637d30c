"""The configuration examples a user copies from README.md and docs/ are valid as written."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from llmportal.config import Catalog

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", "docs/gateway.md", "docs/configuration.md"]
_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)


def toml_blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for n, match in enumerate(_BLOCK.finditer((ROOT / doc).read_text())):
            found.append((f"{doc}#{n}", match.group(1)))
    return found


BLOCKS = toml_blocks()


def test_the_docs_hold_an_example_per_provider_type() -> None:
    types = set()
    for _, text in BLOCKS:
        types |= {p.get("type") for p in tomllib.loads(text).get("providers", [])}
    assert {"openai", "azure", "anthropic", "gemini", "bedrock"} <= types


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_each_example_is_valid(where: str, text: str) -> None:
    data = tomllib.loads(text)
    if data.get("providers") and data.get("models"):
        # A complete example: every model's provider is declared in it, every setting known.
        Catalog.model_validate(
            {k: data[k] for k in ("providers", "models", "plans", "default_model") if k in data}
        )
