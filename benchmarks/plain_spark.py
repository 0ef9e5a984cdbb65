"""A hand-written Spark SQL query for the Guiyang rules: the reference the Spark section of
``benchmarks/run.py`` times the Spark backend against.

It is ``plain_sql.HAND_SQL`` (window functions over the visits table, integer fen,
written by hand for policies/guiyang-2022.pol) in Spark's SQL: integer division is
``DIV`` (DuckDB's ``//``); everything else -- ``LEAST``/``GREATEST``, ``ROWS`` frames with
``row_no`` as the tiebreak, ``CAST(... AS BIGINT)`` -- is common to both.  Spark's
``SUM(BIGINT)`` is a BIGINT (ANSI mode, as the backend's session has it, fails on an
overflow rather than wrapping; ten million visits of at most 4,000 yuan are far from it).
"""

from __future__ import annotations

import plain_sql

HAND_SQL = plain_sql.HAND_SQL.replace(" // ", " DIV ")
RESULT_COLUMNS = plain_sql.RESULT_COLUMNS

assert " // " not in HAND_SQL and " DIV " in HAND_SQL
