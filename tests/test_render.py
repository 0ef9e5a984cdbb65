"""``policylang render``: the summary an officer holds against the notice, in Markdown
and in one self-contained HTML page, in English and Chinese."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import policylang
from policylang.cli import main
from policylang.render import render

from .conftest import FIXTURES, POLICIES

SHIPPED = {"guiyang": POLICIES / "guiyang-2022.pol", "shanxi": POLICIES / "shanxi-2022.pol"}


def _render(path: Path, fmt: str, lang: str) -> str:
    r = CliRunner().invoke(main, ["render", str(path), "--format", fmt, "--lang", lang])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_render_snapshot(name, fmt, lang, snapshot):
    assert _render(SHIPPED[name], fmt, lang) == snapshot


def test_every_number_of_guiyang_is_there_with_its_clause(guiyang):
    md = render(guiyang.ir, "md", "en")
    for row in (
        "| Deductible | 150 yuan per year | 二(一)",
        "| Cap | 2000 yuan per year | 二(一)",
        "| unrated, level1 | 75% | 80%",
        "| level2 | 70% | 75%",
        "| level3 | 65% | 70%",
        "| 慢特病门诊保障病种 | 37 in all | 二(四)",
    ):
        assert row in md, row
    assert "“普通门诊统筹年度起付标准确定为150元”" in md  # the quoted sentence, as a note
    assert "In force from 2022-09-01" in md and "In force from 2023-01-01" in md


def test_ratios_are_evaluated_from_the_ir_not_copied(guiyang):
    """The cell is the table's row plus every uplift the profile triggers: change the
    uplift and the retiree cells follow."""
    import attrs

    from policylang.describe import ratio_cell

    rules = guiyang.ir.sections["pooling"].versions[0].rules
    assert str(ratio_cell(rules, "level3", ("retiree", False)).ratio) == "0.70"
    bigger = attrs.evolve(
        rules,
        adjustments=(attrs.evolve(rules.adjustments[0], points=rules.adjustments[0].points * 2),),
    )
    assert str(ratio_cell(bigger, "level3", ("retiree", False)).ratio) == "0.75"
    assert str(ratio_cell(bigger, "level3", ("active", True)).ratio) == "0.65"


def test_versions_and_inherited_sections_and_conditional_uplifts():
    city = policylang.load(FIXTURES / "variations" / "city.pol").ir
    md = render(city, "md", "en")
    assert "In force from 2023-01-01 to 2023-12-31" in md and "In force from 2024-01-01" in md
    assert "Inherited from demo_province." in md
    assert (
        "Not in the table (they depend on other inputs or on parameters): +5 points when age >= 70"
        in md
    )
    assert "| 2000 yuan per year" not in md and "| Cap | 1500 yuan per year |" in md


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "valid" / "banded-ratios.pol",
        FIXTURES / "valid" / "fullwidth-accepted.pol",
        FIXTURES / "variations" / "city.pol",
        FIXTURES / "variations" / "province.pol",
    ],
)
def test_every_test_policy_renders(path):
    ir = policylang.load(path).ir
    for lang in ("en", "zh"):
        assert render(ir, "md", lang).startswith("# ")
        assert render(ir, "html", lang).startswith("<!DOCTYPE html>")


def test_html_is_self_contained(guiyang):
    page = render(guiyang.ir, "html", "zh")
    assert '<meta charset="utf-8">' in page and "<style>" in page
    assert not re.search(
        r"""(src|href)=["'](?!#)""", page
    )  # nothing fetched: only links to its own notes
    assert "@import" not in page and "url(" not in page and "<script" not in page
    assert (
        'title="普通门诊统筹年度起付标准确定为150元"' in page
    )  # the quote as a tooltip on the clause


def test_render_needs_a_clean_policy(tmp_path):
    bad = tmp_path / "bad.pol"
    bad.write_text("policy x { level city rounding half_up to 0.01 yuan }", encoding="utf-8")
    r = CliRunner().invoke(main, ["render", str(bad)])
    assert r.exit_code == 1 and r.stdout == ""


# ---- the page in a browser ------------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of RGB(A) bytes of an 8-bit PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i : i + 3]) for r in rows for i in range(0, stride, channels)]


def screenshot(browser: str, page: Path, tmp_path: Path, size: tuple[int, int]):
    """Chromium's headless screenshot of ``page`` (``--no-sandbox``: the tests may run as
    root): width, height and pixels (``read_png``)."""
    shot = tmp_path / f"{page.stem}.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            f"--window-size={size[0]},{size[1]}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists(), "Chromium wrote no screenshot"
    return read_png(shot)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_html_renders_its_tables_in_chromium(tmp_path, guiyang, lang):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "no Chromium on this machine: apt-get install chromium (as root; .ci/run does it in CI)"
        )
    page = tmp_path / "guiyang.html"
    page.write_text(render(guiyang.ir, "html", lang), encoding="utf-8")
    width, height, pixels = screenshot(browser, page, tmp_path, (1000, 1400))
    assert (width, height) == (1000, 1400)
    white = pixels.count(b"\xff\xff\xff")
    assert white < len(pixels) * 0.97, "the page is blank"
    # the tables are there: the header cells' background (#e8eef6) and the borders (#9aa5b1)
    header = pixels.count(bytes.fromhex("e8eef6"))
    border = pixels.count(bytes.fromhex("9aa5b1"))
    assert header > 2000 and border > 1000, (header, border)


def test_readme_shows_render_output_as_it_is():
    from .conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    excerpt = readme.split(
        "An excerpt of `policylang render policies/guiyang-2022.pol --lang en`:", 1
    )[1]
    excerpt = excerpt.split("```markdown\n", 1)[1].split("```", 1)[0]
    assert excerpt.count("\n") > 10 and excerpt in _render(
        ROOT / "policies" / "guiyang-2022.pol", "md", "en"
    )


def test_help_of_the_new_commands_does_not_import_lark():
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from policylang.cli import main\n"
            "for cmd in ('render', 'diff'):\n"
            "    try:\n"
            "        main([cmd, '--help'], standalone_mode=False)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert 'lark' not in sys.modules, 'lark imported'",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "--format [md|html]" in r.stdout and "GNU diff" in r.stdout


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_the_summary_names_the_policy_and_its_ir_hash(fmt, lang):
    """The summary is of one compiled program: its id and IR content hash, the same as the
    results carry (and unchanged by translating the policy or the summary)."""
    compiled = policylang.load(SHIPPED["guiyang"])
    out = _render(SHIPPED["guiyang"], fmt, lang)
    assert compiled.hash.startswith("sha256:") and compiled.hash in out
    assert "guiyang_2022" in out
    heading = {"en": "Summary of policy guiyang_2022 (IR content hash ", "zh": "IR 内容哈希 "}
    assert heading[lang] in out
