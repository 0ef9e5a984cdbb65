"""policylang: executable employee medical-insurance outpatient mutual-aid policies.

Write a notice as a ``.pol`` file, check it, and evaluate it exactly to the fen::

    import policylang
    guiyang = policylang.load("policies/guiyang-2022.pol")
    results = guiyang.settle(visits)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import CheckResult, CompiledPolicy, check_paths, load, loads
    from .diagnostics import Diagnostic, PolicyError
    from .errors import PolicylangError
    from .inputs import InputError, InputProblem
    from .ledger import Adjustment, Ledger, LedgerError, ResettleOutcome, SettleOutcome
    from .parser import parse
    from .resolve import SourceError
    from .runtime import CreditResult, MayPayResult, TraceStep, VisitResult

__all__ = [
    "Adjustment",
    "CheckResult",
    "CompiledPolicy",
    "CreditResult",
    "Diagnostic",
    "InputError",
    "InputProblem",
    "Ledger",
    "LedgerError",
    "MayPayResult",
    "PolicyError",
    "PolicylangError",
    "ResettleOutcome",
    "SettleOutcome",
    "SourceError",
    "TraceStep",
    "VisitResult",
    "check_paths",
    "load",
    "loads",
    "parse",
]
__version__ = "0.1.0"

# The public names are imported on first use, so that `import policylang` (and the
# command line's --help) does not pay for lark and the parser.
_HOME = {
    "CheckResult": "api",
    "CompiledPolicy": "api",
    "check_paths": "api",
    "load": "api",
    "loads": "api",
    "Diagnostic": "diagnostics",
    "PolicyError": "diagnostics",
    "InputError": "inputs",
    "InputProblem": "inputs",
    "parse": "parser",
    "PolicylangError": "errors",
    "Adjustment": "ledger",
    "Ledger": "ledger",
    "LedgerError": "ledger",
    "ResettleOutcome": "ledger",
    "SettleOutcome": "ledger",
    "CreditResult": "runtime",
    "MayPayResult": "runtime",
    "TraceStep": "runtime",
    "VisitResult": "runtime",
    "SourceError": "resolve",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value  # later look-ups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
