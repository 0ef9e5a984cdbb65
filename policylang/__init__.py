"""policylang: executable employee medical-insurance outpatient mutual-aid policies.

Write a notice as a ``.pol`` file, check it, and evaluate it exactly to the fen::

    import policylang
    guiyang = policylang.load("policies/guiyang-2022.pol")
    results = guiyang.settle(visits)
"""

from .api import CheckResult, CompiledPolicy, check_paths, load, loads
from .diagnostics import Diagnostic, PolicyError
from .inputs import InputError
from .parser import parse

__all__ = ["CheckResult", "CompiledPolicy", "Diagnostic", "InputError", "PolicyError", "check_paths", "load",
           "loads", "parse"]
__version__ = "0.1.0"
