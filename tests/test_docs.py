"""The newcomer documents: docs/architecture.md exists, the README links it, and its CLI contract
names every subcommand the command really has (so the document is kept true as commands change)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ui.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


def test_readme_links_the_architecture_document_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/architecture.md)" in readme
    assert "../shared" not in readme, "a clone has no ../shared folder: link documents inside the repository"
    assert ARCHITECTURE.is_file()


def test_architecture_document_covers_its_sections():
    text = ARCHITECTURE.read_text()
    for heading in ("The flow", "Layers", "Engines", "Persistence", "Contracts", "Bad input"):
        assert re.search(rf"^## .*{heading}", text, re.MULTILINE | re.IGNORECASE), heading


def test_architecture_document_lists_every_subcommand():
    text = ARCHITECTURE.read_text()
    for command in _subcommands():
        assert f"listing-studio {command}" in text, f"docs/architecture.md does not describe `{command}`"
