"""Words as data: system prompts, category visual briefs and per-role scene templates.

Each template lists its placeholders in a header comment; `load(name)` returns the text,
`template(name)` the text without that comment and `sections(text)` its `## name` sections.
"""

import re
from importlib import resources


def load(name: str) -> str:
    """Return the text of `prompts/<name>` (e.g. "scenes/lifestyle.md")."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def template(name: str) -> str:
    """The text of `prompts/<name>` without its leading `<!-- ... -->` header comment."""
    text = load(name)
    return text.split("-->", 1)[1].strip() if text.startswith("<!--") else text


def sections(text: str) -> dict[str, str]:
    """The `## name` sections of a prompt file: name -> its body, stripped."""
    return {name: body.strip() for name, body in re.findall(r"^## (\w+)\s*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)}
