"""Text a seller typed, made safe for where we write it: control characters out of titles and alt
text, and spreadsheet cells that cannot run as formulas. No I/O here; publish and the models call it.
"""

from __future__ import annotations

import re
import unicodedata

# Terminal escape sequences are removed whole (ESC[31m leaves nothing, not "[31m"): CSI, OSC (ended
# by BEL or ESC \), then any other two-character ESC sequence; 0x9b is the one-byte CSI.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
)
# Bidirectional embedding, override and isolate marks: invisible, and they reorder what a reader sees.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# A cell starting with one of these is read as a formula (or a DDE call) by Excel, LibreOffice and
# Google Sheets; OWASP's CSV-injection guidance: prefix such a cell with a single quote.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def strip_control(text: str, *, one_line: bool = True) -> str:
    """Visible text: escape sequences and control characters (NUL, BEL, backspace, DEL, C1, bidi
    overrides) removed, tabs turned into spaces, runs of spaces collapsed. Line breaks become spaces
    too, unless `one_line=False` (a whole brief, whose lines mean something), where they stay `\n`."""
    if not text:
        return ""
    text = _ESCAPE_SEQUENCE.sub("", text)
    if not one_line:
        text = re.sub(r"\r\n?|[\v\f\u2028\u2029\x85]", "\n", text)
    kept = []
    for char in text:
        if char == "\n" and not one_line:
            kept.append(char)
        elif char in "\t\n\r\v\f\u2028\u2029\x85":
            kept.append(" ")
        elif unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS:
            continue
        else:
            kept.append(char)
    return re.sub(r" {2,}", " ", "".join(kept)).strip()


def spreadsheet_cell(value: object) -> object:
    """A value for a CSV/TSV cell that a spreadsheet shows as the text it is: a string starting with a
    formula trigger gets a leading `'` (the text after it is kept exactly); numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
