"""The SQL backend: the IR program lowered to a sqlglot expression tree (``base``),
generated per dialect and run by an engine (``duckdb``: DuckDB; Spark to come on the
same lowering).  Steps without a closed form in SQL run as the sequential step
(``sequential``), a plain function over each person's visits in settlement order.

Importing this package imports neither sqlglot nor duckdb: ``policylang[sql]`` is an
optional extra, and the backend class says what to install when it is missing."""
