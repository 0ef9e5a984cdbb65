"""The SQL backend: the IR program lowered to a sqlglot expression tree (``base``),
generated per dialect and run by an engine (``duckdb``: DuckDB; ``spark``: Spark SQL on a
SparkSession, the same backend with another engine).  Steps without a closed form in SQL
run as the sequential step (``sequential``), a plain function over each person's visits
in settlement order.

Importing this package imports neither sqlglot nor duckdb nor pyspark: ``policylang[sql]``
and ``policylang[spark]`` are optional extras, and the backend class says what to install
when one is missing."""
