"""Regenerate docs/diagnostics.md from the diagnostic catalogue."""

from pathlib import Path
import sys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policylang.diagnostics import catalogue_markdown  # noqa: E402

(ROOT / "docs" / "diagnostics.md").write_text(catalogue_markdown(), encoding="utf-8")
print("wrote docs/diagnostics.md")
