"""The capacity model's half-hours in PostgreSQL: storage/capacity_repository.py's
statements, with the recount summed from call_capacity() (migrations/006_capacity_half_hours.sql,
the one statement of what a call adds that the trigger uses too) and the callback attempts
read from their jsonb."""

from __future__ import annotations

from callcentre.domain.capacity import SLOT_SECONDS
from callcentre.storage.capacity_repository import WEEK, SqlCapacityHistory
from callcentre.storage.postgres.db import PgDatabase

_RECOUNT = """
SELECT h.queue, h.start, SUM(h.arrivals)::integer AS arrivals,
       SUM(h.answered)::integer AS answered, SUM(h.talked)::integer AS talked,
       SUM(h.talk_us)::bigint AS talk_us, SUM(h.abandoned)::integer AS abandoned,
       SUM(h.wait_us)::bigint AS wait_us
FROM calls c CROSS JOIN LATERAL call_capacity(c, 1) h
GROUP BY h.queue, h.start
"""
# $1, $2: the window's ends, each used twice (numbered() leaves $n marks alone)
_CALLBACKS = f"""
SELECT trunc((a ->> 'start')::float8 / {SLOT_SECONDS})::integer AS b,
       SUM((a ->> 'end')::float8 - (a ->> 'start')::float8)
FROM callbacks c CROSS JOIN LATERAL jsonb_array_elements(c.attempts) a
WHERE c.due_by >= $1::float8 - {WEEK} AND c.due_by < $2::float8 + {WEEK}
  AND (a ->> 'start')::float8 >= $1::float8 AND (a ->> 'start')::float8 < $2::float8
  AND a ->> 'end' IS NOT NULL {{site}}
GROUP BY b
"""


class PgCapacityHistory(SqlCapacityHistory):
    _RECOUNT = _RECOUNT
    _CALLBACKS = _CALLBACKS
    _SITE = "AND c.site = $3"
    _HALF_HOUR = f"trunc({{}} / {SLOT_SECONDS})::integer"
    _TEMP = "pg_temp.capacity_recount"

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
