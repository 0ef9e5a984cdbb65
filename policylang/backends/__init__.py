"""Backends turn the IR into something that evaluates.  ``scalar`` evaluates one
record at a time in Python; a columnar, SQL or generated-Python backend is a new
module here consuming the same ``policylang.ir`` and must give identical results."""
