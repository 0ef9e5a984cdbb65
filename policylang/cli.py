"""The ``policylang`` command line.

Exit codes: 0 success; 1 errors in a policy or in the input (reported, nothing
else printed on standard output); 2 usage errors (click's own).  No Python
traceback ever reaches the user: unexpected failures are reported in one line.

Only click is imported up front: the rest of policylang (and lark) is imported
inside the commands, so that ``policylang --help`` starts quickly.
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__

if TYPE_CHECKING:
    from .api import CompiledPolicy
    from .inputs import InputError

FORMAT = click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "table"]), default="json",
                      show_default=True,
                      help="json for programs (every number with its trace); jsonl: one result per line, each "
                           "written as soon as it is final; table for people.")
PARAMS = click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                      help="A value the notice does not give, declared by the policy with `param` (repeatable).")
NO_TRACE = click.option("--no-trace", is_flag=True, help="Leave the trace out of JSON output.")
SEARCH = click.option("--path", "search", multiple=True, type=click.Path(exists=True), metavar="FILE|DIR",
                      help="More .pol files (or folders) where the policy a policy implements is looked for "
                           "(repeatable; the policy's own folder is always searched).")


class Failure(Exception):
    """A reported failure: message already formatted; exit code 1."""


def _lang(option: str | None, texts: list[str]) -> str:
    if option:
        return option
    if texts:
        from .parser import detect_language

        return detect_language("\n".join(texts))
    loc = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise Failure(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def _read_json(path: str):
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        text = raw.decode("utf-8-sig")  # a byte-order mark from Windows tools is fine
    except UnicodeDecodeError:
        raise Failure(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise Failure(f"{path}: {e.strerror}") from None
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise Failure(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    except Failure as e:
        raise Failure(f"{path}: invalid input: {e}") from None
    except RecursionError:
        raise Failure(f"{path}: the JSON is nested too deeply") from None


def _parse_params(items) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        k, v = item.split("=", 1)
        if k.strip() in out:
            raise click.BadParameter(f"{k.strip()} is given twice", param_hint="--param")
        out[k.strip()] = v.strip()
    return out


def _load(policy_path: str, search) -> CompiledPolicy:
    from .api import CompiledPolicy, check_unit, policy_files
    from .diagnostics import ERROR, render
    from .resolve import Workspace

    ws = Workspace()
    for f in policy_files(search):
        ws.add_file(f)
    unit = ws.add_file(policy_path)
    result = check_unit(unit, ws)
    if not result.ok:
        lang = _lang(None, [unit.text])
        errors = [d for d in result.diagnostics if d.severity == ERROR]
        summary = (f"{policy_path}: 政策有 {len(errors)} 个错误,未进行计算" if lang == "zh"
                   else f"{policy_path}: the policy has {len(errors)} error(s); nothing was evaluated")
        raise Failure("\n".join(render(d, ws.sources, lang) for d in errors) + "\n" + summary)
    return CompiledPolicy(result.ir)


def _input_failure(e: InputError, source: str) -> Failure:
    from .inputs import InputProblem

    lines = []
    for p in e.problems:
        if p.source is None:
            p = InputProblem(p.record, p.field, p.message, p.psn_no, source)
        lines.append(str(p))
    lines.append(f"{len(e.problems)} problem(s) in the input; nothing was evaluated")
    return Failure("\n".join(lines))


def _width(s: str) -> int:
    from .diagnostics import display_width

    return display_width(s) if s else 0


def _table(rows: list[dict], columns: list[str]) -> str:
    cells = [[("" if r.get(c) is None else str(r.get(c)).lower() if isinstance(r.get(c), bool) else str(r.get(c)))
              for c in columns] for r in rows]
    widths = [max([_width(c)] + [_width(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values):
        return "  ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths)).rstrip()
    out = [line(columns), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def _emit(results, fmt: str, columns: list[str], no_trace: bool):
    if fmt == "jsonl":
        from .jsonl import write_lines

        write_lines(results, sys.stdout, not no_trace)
        return
    if fmt == "json":  # one record at a time: a year of claims need not sit in memory twice
        out = sys.stdout
        out.write("[")
        for i, r in enumerate(results):
            out.write(("\n  " if i == 0 else ",\n  ")
                      + json.dumps(r.to_json(trace=not no_trace), ensure_ascii=False, indent=2).replace("\n", "\n  "))
        out.write("\n]\n" if results else "]\n")
    else:
        click.echo(_table([r.to_json(trace=False) for r in results], columns))


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Failure as e:
            click.echo(str(e), err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as e:  # noqa: BLE001 - never a traceback at the CLI
            click.echo(f"policylang: internal error: {type(e).__name__}: {e}\n"
                       "This is a bug in policylang, not in your input; please report it with the files used.",
                       err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="policylang")
def main():
    """Check and evaluate employee medical-insurance outpatient mutual-aid
    policies (职工医保门诊共济保障) written as .pol files.

    \b
    Examples:
      policylang check policies/
      policylang settle policies/guiyang-2022.pol examples/guiyang-visits.json --format table
      policylang credit policies/guiyang-2022.pol examples/guiyang-persons.json \\
          --param guizhou_avg_pension_2022=3125.50
      policylang may-pay policies/guiyang-2022.pol examples/guiyang-requests.json

    Exit codes: 0 ok, 1 errors in a policy or the input, 2 usage errors.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for editors and CI.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None,
              help="Language of the messages (default: the file's keywords, else the locale).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(paths, fmt, lang, strict):
    """Parse and check policies (files or folders of .pol files).

    Every problem is reported, as file:line:col with the source line, a stable
    code (see docs/diagnostics.md) and a hint.  Policies they implement are found
    among the .pol files beside them."""
    from .api import check_paths
    from .diagnostics import ERROR, WARNING, render, to_json

    results, ws = check_paths(paths)
    if not results:
        raise Failure("no .pol files found in " + ", ".join(paths))
    diags = [d for r in results for d in r.diagnostics]
    lang = _lang(lang, [ws.units[r.file].text for r in results])
    errors = sum(1 for d in diags if d.severity == ERROR)
    warnings = sum(1 for d in diags if d.severity == WARNING)
    if fmt == "json":
        click.echo(to_json(diags, lang))
    else:
        for d in diags:
            click.echo(render(d, ws.sources, lang), err=True)
            click.echo("", err=True)
        if lang == "zh":
            click.echo(f"已检查 {len(results)} 个文件:{errors} 个错误,{warnings} 个警告", err=True)
        else:
            click.echo(f"{len(results)} file(s) checked: {errors} error(s), {warnings} warning(s)", err=True)
    if errors or (strict and warnings):
        sys.exit(1)


def _evaluate(method: str, policy: str, records: str, fmt: str, params, no_trace: bool, columns: list[str],
              search=()):
    """Load POLICY, read the JSON array RECORDS, evaluate, print; errors leave stdout empty."""
    from .inputs import InputError

    compiled = _load(policy, search)
    spooled = None
    try:
        if records == "-" and method == "settle":  # read twice when it is JSON Lines
            spooled = records_path = _spool()
        else:
            records_path = records
        if method == "settle" and records_path != "-" and _is_jsonl(records_path, records):
            _settle_lines(compiled, records_path, records, fmt, params, no_trace, columns)
            return
        data = _read_json(records_path if spooled else records)
        try:
            results = getattr(compiled, method)(data, _parse_params(params), trace=not no_trace)
        except InputError as e:
            raise _input_failure(e, records) from None
        _emit(results, fmt, columns, no_trace)
    finally:
        if spooled:
            os.unlink(spooled)


def _spool() -> str:
    from .jsonl import spool_stdin

    return spool_stdin()


def _is_jsonl(path: str, shown: str) -> bool:
    from .jsonl import is_jsonl

    try:
        return is_jsonl(path)
    except OSError as e:
        raise Failure(f"{shown}: {e.strerror}") from None


def _settle_lines(compiled, path: str, shown: str, fmt: str, params, no_trace: bool, columns: list[str]):
    """JSON Lines input: checked in full first, then settled and written chunk by chunk."""
    from .inputs import InputError
    from .jsonl import JsonlError, read_chunks, write_lines

    stream = compiled.settle_stream(lambda: read_chunks(path), _parse_params(params), trace=not no_trace)
    try:
        first = next(stream, None)  # the whole input is checked before this returns
    except InputError as e:
        raise _input_failure(e, shown) from None
    except JsonlError as e:
        raise Failure(str(e).replace(path, shown)) from None
    import itertools

    results = itertools.chain([first] if first is not None else [], stream)
    if fmt == "jsonl":
        write_lines(results, sys.stdout, not no_trace)
    else:
        _emit(list(results), fmt, columns, no_trace)


@main.command()
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("visits", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@FORMAT
@PARAMS
@NO_TRACE
@SEARCH
def settle(policy, visits, fmt, params, no_trace, search):
    """Settle general-outpatient VISITS (a JSON array) under POLICY.

    Visits of several persons may be mixed and in any order; each person's
    visits are applied in setl_time order, and one result is printed per visit
    in input order."""
    _evaluate("settle", policy, visits, fmt, params, no_trace,
              ["psn_no", "setl_time", "medfee_sumamt", "inscp_scp_amt", "act_pay_dedc", "pool_prop_selfpay",
               "hifp_pay", "psn_part_amt", "acct_pay", "psn_cash_pay", "balc", "reason"], search)


@main.command()
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("persons", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@FORMAT
@PARAMS
@NO_TRACE
@SEARCH
def credit(policy, persons, fmt, params, no_trace, search):
    """Compute the personal-account credit of PERSONS (a JSON array) under POLICY."""
    _evaluate("credit", policy, persons, fmt, params, no_trace, ["psn_no", "on", "credit", "reason", "rule", "clause"],
              search)


@main.command("may-pay")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("requests", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@FORMAT
@PARAMS
@NO_TRACE
@SEARCH
def may_pay(policy, requests, fmt, params, no_trace, search):
    """Decide whether the personal account may pay each of REQUESTS (a JSON array)."""
    _evaluate("may_pay", policy, requests, fmt, params, no_trace,
              ["psn_no", "relation", "item", "venue", "on", "allowed", "reason", "channel", "clause"], search)


@main.command()
@click.argument("code")
def explain(code):
    """Explain a diagnostic code, such as H501."""
    from .diagnostics import CATALOGUE, explain as explain_code

    text = explain_code(code)
    if text is None:
        raise Failure(f"unknown diagnostic code {code!r}; codes: {', '.join(sorted(CATALOGUE))}")
    click.echo(text)


@main.command("compile")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.option("--emit", type=click.Choice(["ir", "sql"]), default="ir", show_default=True,
              help="ir: the IR program as JSON (byte-stable; spans relative to the policy's folder); "
                   "sql: the settle program as one SQL query.")
@click.option("--dialect", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="The SQL dialect (with --emit sql).")
@SEARCH
def compile_cmd(policy, emit, dialect, search):
    """Compile POLICY and print what it compiles to.

    The IR holds every rule of settlement as steps over declared counters, each
    with its clause and source span; its "hash" excludes spans, so formatting or
    translating the policy leaves it unchanged.

    With --emit sql, the settle program becomes one query over a table of visits
    (money in integer fen; the comment before it states the columns, parameters
    and results).  A program with a step that has no closed form in SQL (two caps
    charged together, an amount that changes within a year) is refused, naming the
    step: the DuckDB backend settles it with a sequential step instead."""
    compiled = _load(policy, search)
    if emit == "ir":
        click.echo(compiled.ir_json(), nl=False)
        return
    try:
        from .backends.sql import base
    except ImportError as e:
        raise Failure(f"--emit sql needs sqlglot ({e.name} is missing): pip install 'policylang[sql]'") from None
    from .backends.common import NotSupported

    try:
        text = base.settle_sql(compiled.ir, dialect, ir_hash=compiled.hash)
    except NotSupported as e:
        raise Failure(f"{policy}: cannot be written as one {dialect} query: {e}") from None
    click.echo(text, nl=False)


@main.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None,
              help="Write the keywords in English or Chinese (default: as the file mostly does).")
@click.option("--write", is_flag=True,
              help="Rewrite the files in place (refused for files with comments, which are not kept yet).")
def fmt_cmd(paths, lang, write):
    """Print policies in canonical layout (or rewrite them with --write)."""
    from .diagnostics import ERROR, render
    from .formatter import format_policy
    from .parser import detect_language, parse
    from .source import comment_lines

    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        policy, diags = parse(text, path)
        if policy is None or any(d.severity == ERROR for d in diags):
            raise Failure("\n".join(render(d, {path: text}) for d in diags if d.severity == ERROR))
        out = format_policy(policy, lang or detect_language(text))
        if write:
            comments = comment_lines(text)
            if comments:
                raise Failure(f"{path}: not rewritten: the formatter does not keep comments yet, and this file has "
                              f"{len(comments)} comment line(s) (first at line {comments[0]}); "
                              "run without --write to see the formatted text")
            Path(path).write_text(out, encoding="utf-8")
        else:
            click.echo(out, nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
