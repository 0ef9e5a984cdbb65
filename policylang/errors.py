"""The one base class of every error policylang raises to its callers.

``except policylang.PolicylangError`` catches them all: ``PolicyError`` (a policy
with errors; carries the diagnostics), ``InputError`` (bad records or parameters;
carries every problem), ``LedgerError`` (a ledger that is not this policy's, or
not a ledger)."""


class PolicylangError(Exception):
    """Base of every error policylang raises."""
