"""Words as data: system prompts, category visual briefs and per-role scene templates.

Each template lists its placeholders in a header comment; `load(name)` returns the text.
"""

from importlib import resources


def load(name: str) -> str:
    """Return the text of `prompts/<name>` (e.g. "scenes/lifestyle.md")."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
