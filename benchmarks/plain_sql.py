"""A hand-written DuckDB query for the Guiyang rules, and visits generated in DuckDB.

The SQL section of ``benchmarks/run.py`` times the DuckDB backend's generated query
against ``HAND_SQL``: what an engineer would write for policies/guiyang-2022.pol with
window functions, by hand, knowing the rules (one version from 2023-01-01, everyone
covered, designated institutions only, a 150-yuan yearly deductible, a 2000-yuan
yearly cap, ratios by level plus 5 points for retirees, rounding half up to the fen;
the account pays the person's share at designated institutions from 2022-09-01).
Money is integer fen, as the generated query has it.

``generate_sql(n)`` builds the table the generated query reads (``visits``, columns as
``policylang.backends.sql.base.visit_columns``) in DuckDB itself, from ``range()`` and
hashes of the row number, so that ten million visits cost no Python: about 20 visits
per person over 2022-10-01..2024-03-31, half with a time of day, bills below, at and
above the deductible and large enough to reach the cap, a few balances; the platform's
optional codes are not given (NULL).
"""

from __future__ import annotations

from policylang.inputs import PLATFORM_FIELDS


def generate_sql(n: int, seed: int = 7, table: str = "visits") -> str:
    persons = max(1, n // 20)

    def h(k: int) -> str:  # a pseudo-random UBIGINT per row, one stream per k
        return f"hash(i, {seed}, {k})"

    return f"""
CREATE OR REPLACE TABLE {table} AS
WITH r AS (
  SELECT i, {h(1)} % {persons} AS p, {h(2)} AS h2, {h(3)} AS h3, {h(4)} AS h4,
         {h(5)} AS h5, {h(6)} AS h6, {h(7)} AS h7, {h(8)} AS h8
  FROM range({n}) t(i)
), s AS (
  SELECT *, DATE '2022-10-01' + CAST(h2 % 548 AS INTEGER) AS day,
         CASE WHEN h4 % 100 < 3 THEN [0, 1, 15000, 15001][CAST((h4 // 100) % 4 AS INTEGER) + 1]
              WHEN h4 % 100 < 25 THEN 1 + (h4 // 100) % 15000
              WHEN h4 % 100 < 90 THEN 15000 + (h4 // 100) % 45001
              ELSE 60000 + (h4 // 100) % 340001 END AS total
  FROM r
)
SELECT
  CAST(i AS BIGINT) AS row_no,
  'P' || lpad(CAST(p AS VARCHAR), 7, '0') AS psn_no,
  CASE WHEN hash(p, {seed}, 11) % 10 < 3 THEN 'retiree' ELSE 'active' END AS psn_type,
  hash(p, {seed}, 12) % 10 = 0 AS flxempe_flag,
  day AS setl_date,
  CASE WHEN h3 % 2 = 0 THEN NULL
       ELSE CAST(day AS TIMESTAMP) + to_seconds(CAST(25200 + (h3 // 2) % 50400 AS BIGINT))
  END AS setl_time,
  ['unrated', 'level1', 'level2', 'level3'][CAST(h5 % 4 AS INTEGER) + 1] AS hosp_lv,
  CASE WHEN (h5 // 4) % 100 < 5 THEN FALSE WHEN (h5 // 4) % 100 < 35 THEN TRUE END AS designated,
  CAST(total AS BIGINT) AS medfee_sumamt,
  CAST(CASE WHEN h6 % 10 < 3 THEN (h6 // 10) % (total // 3 + 1) ELSE 0 END AS BIGINT)
    AS fulamt_ownpay_amt,
  CAST(CASE WHEN h7 % 10 < 1 THEN (h7 // 10) % (total // 3 + 1) ELSE 0 END AS BIGINT)
    AS overlmt_selfpay,
  CAST(CASE WHEN h8 % 10 < 2 THEN (h8 // 10) % (total // 3 + 1) ELSE 0 END AS BIGINT)
    AS preselfpay_amt,
  CAST(CASE WHEN (h3 // 2) % 100 < 15 THEN (h2 // 1000) % 300001 END AS BIGINT) AS acct_balc,
  {_PLATFORM}
FROM s
"""


# the platform's optional codes and identifiers (inputs.PLATFORM_FIELDS): not given, so every
# visit is the scheme's own (insutype 310, med_type 11) and may use the account, as HAND_SQL assumes
_PLATFORM = ",\n  ".join(f"CAST(NULL AS VARCHAR) AS {f}" for f in PLATFORM_FIELDS)


_ORDER = (
    "ORDER BY setl_date, setl_time NULLS FIRST, row_no"
    " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
)

HAND_SQL = f"""
WITH b AS (
  SELECT row_no, psn_no, setl_date, setl_time, medfee_sumamt, acct_balc,
         medfee_sumamt - fulamt_ownpay_amt - overlmt_selfpay - preselfpay_amt AS inscp,
         setl_date >= DATE '2023-01-01' AND COALESCE(designated, TRUE) AS paid,
         setl_date >= DATE '2023-01-01' AS in_force,
         COALESCE(designated, TRUE) AS designated,
         YEAR(setl_date) AS yr,
         CASE hosp_lv WHEN 'level2' THEN 7000 WHEN 'level3' THEN 6500 ELSE 7500 END
           + CASE WHEN psn_type = 'retiree' THEN 500 ELSE 0 END AS ratio
  FROM visits
), d AS (
  SELECT *,
         SUM(CASE WHEN paid THEN inscp ELSE 0 END) OVER (PARTITION BY psn_no, yr {_ORDER}) AS dsum,
         COUNT(acct_balc) OVER (PARTITION BY psn_no {_ORDER}) AS seg
  FROM b
), r AS (
  SELECT *, CASE WHEN paid THEN LEAST(15000, dsum) - LEAST(15000, dsum - inscp) ELSE 0 END AS ded
  FROM d
), r2 AS (
  SELECT *, CASE WHEN paid THEN ((inscp - ded) * ratio + 5000) // 10000 ELSE 0 END AS raw
  FROM r
), c AS (
  SELECT *, SUM(raw) OVER (PARTITION BY psn_no, yr {_ORDER}) AS csum
  FROM r2
), f AS (
  SELECT *, CAST(LEAST(200000, csum) - LEAST(200000, csum - raw) AS BIGINT) AS fund
  FROM c
), a AS (
  SELECT *, CASE WHEN designated AND setl_date >= DATE '2022-09-01' THEN medfee_sumamt - fund
                 ELSE 0 END AS may
  FROM f
), w AS (
  SELECT *, SUM(may) OVER (PARTITION BY psn_no, seg {_ORDER}) AS asum,
         MAX(acct_balc) OVER (PARTITION BY psn_no, seg {_ORDER}) AS start
  FROM a
), p AS (
  SELECT *, CAST(CASE WHEN start IS NULL THEN 0
                      ELSE GREATEST(0, start - asum + may) - GREATEST(0, start - asum)
                 END AS BIGINT) AS acct_pay
  FROM w
)
SELECT row_no,
       inscp AS inscp_scp_amt,
       CAST(ded AS BIGINT) AS act_pay_dedc,
       CASE WHEN paid THEN ratio END AS pool_prop_selfpay,
       fund AS hifp_pay,
       fund AS fund_pay_sumamt,
       medfee_sumamt - fund AS psn_part_amt,
       acct_pay,
       medfee_sumamt - fund - acct_pay AS psn_cash_pay,
       CAST(CASE WHEN start IS NOT NULL THEN GREATEST(0, start - asum) END AS BIGINT) AS balc,
       CASE WHEN NOT in_force THEN 'not_in_force'
            WHEN NOT designated THEN 'not_designated'
            WHEN fund > 0 THEN NULL
            WHEN inscp = 0 THEN 'no_in_policy_amount'
            WHEN inscp - ded = 0 THEN 'within_deductible'
            WHEN raw > 0 THEN 'cap_reached'
            ELSE 'rounds_to_zero' END AS reason
FROM p
"""

RESULT_COLUMNS = (
    "inscp_scp_amt",
    "act_pay_dedc",
    "pool_prop_selfpay",
    "hifp_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
    "reason",
)
