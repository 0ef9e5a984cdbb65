"""The intermediate representation: what every backend and analysis reads.

Two layers, both immutable and serialisable:

* ``core`` -- the policy's *data*, resolved and typed: expressions, conditions,
  unique-hit decision tables, the rules of each dated version, requirements;
* ``program`` -- *how it executes*: for each kind of evaluation (settle, credit,
  may-pay) the ordered steps over declared counters, with reasons in priority
  order, rounding points and ledger keys.  A backend executes the program and
  nothing else; ``backends/reference.py`` is the oracle the others are tested
  against.
"""

from .core import *  # noqa: F401,F403
from .core import Expr, Cond, Value, Rules, TRUE  # noqa: F401
from .program import *  # noqa: F401,F403
