"""The one WHERE-clause builder of the repositories: optional filters, ANDed together."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def where(filters: Iterable[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """``[("status = ?", value), ...]`` -> ``("WHERE status = ? AND ...", [value, ...])``.

    A filter whose value is None is left out; with none left the clause is empty. A tuple
    value fills several marks, e.g. ``("(at, id) < (?, ?)", (at, id))``.
    """
    clauses: list[str] = []
    args: list[Any] = []
    for sql, value in filters:
        if value is not None:
            clauses.append(sql)
            args.extend(value if isinstance(value, tuple) else (value,))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args
