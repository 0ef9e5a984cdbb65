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
from functools import partial
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Sequence,
    TypeVar,
)

import click

from . import __version__, clilang
from . import vocab as V

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import FrameType
    from typing import NoReturn

    from rich.console import Console

    from .api import CompiledPolicy
    from .jsonl import JsonResult
    from .ledger import Ledger
    from .resolve import Workspace
    from .inputs import InputError, InputProblem
    from .simulate import Outcome, Run, StartProgress, Tick

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "jsonl", "table"]),
    default="json",
    show_default=True,
    help="json for programs (every number with its trace); jsonl: one result per line, each "
    "written as soon as it is final; table for people.",
)
PARAMS = click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A value the notice does not give, declared by the policy with `param` (repeatable).",
)
NO_TRACE = click.option("--no-trace", is_flag=True, help="Leave the trace out of JSON output.")
SEARCH = click.option(
    "--path",
    "search",
    multiple=True,
    type=click.Path(exists=True),
    metavar="FILE|DIR",
    help="More .pol files (or folders) where the policy a policy implements is looked for "
    "(repeatable; the policy's own folder is always searched).",
)


class Failure(Exception):
    """A reported failure: message already formatted; exit code 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _WriteFailed(Exception):
    """Standard output could not be written (a closed pipe, a full disk, an encoding that
    cannot show the text)."""

    def __init__(self, error: OSError | UnicodeEncodeError):
        self.error = error

    def reason(self) -> str:
        e = self.error
        if isinstance(e, UnicodeEncodeError):
            return (
                f"its encoding ({e.encoding}) cannot show {e.object[e.start : e.start + 1]!r}; "
                "set PYTHONIOENCODING=utf-8"
            )
        return e.strerror or str(e)


class _Output:
    """Everything a command prints on standard output.  Held in memory up to ``LIMIT``
    characters, so that an error found while printing leaves standard output empty; a
    longer output (a year of claims) is streamed once it passes the limit, so it never
    sits in memory whole.  Any failure to write is a ``_WriteFailed``."""

    LIMIT = 16 << 20

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0
        self.streaming = False

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.streaming or self.size > self.LIMIT:
            self.streaming = True
            self._drain()

    def _drain(self) -> None:
        try:
            sys.stdout.write("".join(self.parts))
        except (OSError, UnicodeEncodeError) as e:
            raise _WriteFailed(e) from None
        finally:
            self.parts, self.size = [], 0

    def finish(self) -> None:
        if self.parts:
            self._drain()
        try:
            sys.stdout.flush()
        except OSError as e:
            raise _WriteFailed(e) from None


_output = _Output()


def _print(text: str = "", nl: bool = True) -> None:
    _output.write(text + "\n" if nl else text)


def _stdout_gone() -> None:
    """Point file descriptor 1 at the null device, so that the interpreter's own last
    flush of standard output cannot fail again and print a traceback on the way out."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (
        OSError,
        ValueError,
        AttributeError,
    ):  # no real file descriptor (a test runner's capture)
        pass


def _lang(option: str | None, texts: list[str]) -> str:
    """The language of diagnostics: chosen, else the policy's own keywords, else the locale."""
    option = option or clilang.explicit()
    if option:
        return option
    if texts:
        from .parser import detect_language

        return detect_language("\n".join(texts))
    return _locale_lang()


def _read_json(path: str) -> Any:
    """The records file (or standard input) through the one strict JSON reader."""
    from .inputs import InputError
    from .jsonread import JSONSyntaxError, read_json

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as e:
        raise Failure(f"{path}: {e.strerror or e}") from None
    try:
        return read_json(raw, path)
    except JSONSyntaxError as e:
        raise Failure(str(e)) from None
    except InputError as e:
        raise _input_failure(e, path) from None


def _say(msg_id: str, **args: object) -> str:
    """A message of the command line, in the language it speaks."""
    from .messages import text

    return text(msg_id, _locale_lang(), **args)


def _parse_params(items: Iterable[str]) -> dict[str, str]:
    from .inputs import short

    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(
                _say("cli.not_name_value", item=short(item)), param_hint="--param"
            )
        k, v = item.split("=", 1)
        if k.strip() in out:
            raise click.BadParameter(
                _say("cli.given_twice", name=short(k.strip(), raw=True)), param_hint="--param"
            )
        out[k.strip()] = v.strip()
    return out


def _looks_like_json(path: str) -> bool:
    if path.endswith((".json", ".jsonl")):
        return True
    if path == "-" or path.endswith(".pol"):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(64).decode("utf-8-sig", errors="replace").lstrip()
    except OSError:
        return False
    return head[:1] in ("[", "{")


def _not_swapped(policy: str, records: str | None, records_name: str) -> None:
    """A JSON file where the policy goes, or a policy where the records go, is a usage
    error that says so (the commonest one: ``settle VISITS POLICY``)."""
    if _looks_like_json(policy):
        if records is not None and records.endswith(".pol"):
            raise click.UsageError(
                _say("cli.swapped", policy=policy, records=records, name=records_name)
            )
        raise click.UsageError(_say("cli.json_as_policy", policy=policy))
    if records is not None and records.endswith(".pol"):
        raise click.UsageError(_say("cli.policy_as_records", records=records, name=records_name))


def _load(policy_path: str, search: Iterable[str]) -> CompiledPolicy:
    from .api import CompiledPolicy, add_paths, check_unit
    from .diagnostics import ERROR, render
    from .messages import text
    from .resolve import Workspace

    ws = Workspace()
    add_paths(ws, search)
    unit = ws.add_file(policy_path)
    result = check_unit(unit, ws)
    _warn_skipped(ws)
    if not result.ok:
        lang = _lang(None, [unit.text])
        errors = [d for d in result.diagnostics if d.severity == ERROR]
        summary = text("cli.policy_errors", lang, path=policy_path, count=len(errors))
        raise Failure("\n".join(render(d, ws.sources, lang) for d in errors) + "\n" + summary)
    if result.ir is None:
        from .api import NotAPolicy

        raise Failure(str(NotAPolicy(policy_path)))
    return CompiledPolicy(result.ir)


def _warn_skipped(ws: Workspace) -> None:
    for file, reason in ws.skipped:
        click.echo(_say("cli.skipped", file=file, reason=reason), err=True)


def _problem_line(p: InputProblem) -> str:
    """An input problem on one line, where and what, in the language spoken (the reason
    from the catalogue: ``inputs.Reason``)."""
    lang = _locale_lang()
    if lang == "en":
        return str(p)
    from .inputs import escape, said, short

    where = f"{p.source}: " if p.source else ""
    if p.record is not None:
        who = _say("cli.problem_who", psn=short(p.psn_no, raw=True)) if p.psn_no else ""
        where += _say("cli.problem_record", n=p.record, who=who)
    return where + _say(
        "cli.problem_field",
        field=short(p.field, 60, raw=True),
        message=escape(said(p.message, lang)),
    )


def _input_failure(e: InputError, source: str) -> Failure:
    from .inputs import PARAMS, InputProblem
    from .messages import text

    lines = []
    for p in e.problems:
        if p.source is None or p.source == PARAMS:
            p = InputProblem(
                p.record, p.field, p.message, p.psn_no, "--param" if p.source == PARAMS else source
            )
        lines.append(_problem_line(p))
    lines.append(text("cli.input_problems", _locale_lang(), count=len(e.problems)))
    return Failure("\n".join(lines))


def _set_lang(ctx, param, value):
    """--lang (the group's or a command's): speak it from now on, help included."""
    if value is not None:
        clilang.choose(value)
    return value or clilang.explicit()


def _text_or_json(help_text: str) -> Callable[[F], F]:
    """--format text|json (text by default): people or programs."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=help_text,
    )


def _lang_option(help_text: str, expose: bool = True) -> Callable[[F], F]:
    """--lang: spoken from the moment it is read (help and usage errors too)."""
    return click.option(
        "--lang",
        type=click.Choice(["en", "zh"]),
        default=None,
        is_eager=True,
        expose_value=expose,
        callback=_set_lang,
        help=help_text,
    )


LANG = _lang_option(
    "Language of the messages and table headers (default: English, or Chinese where the "
    "locale is zh; JSON's message stays English unless --lang zh is given)."
)

# The columns of each command's table; money columns are right-aligned and summed in a
# totals row.  Headers and reasons come from the message catalogue.
COLUMNS = {
    "settle": [
        "psn_no",
        "setl_time",
        "medfee_sumamt",
        "inscp_scp_amt",
        "act_pay_dedc",
        "pool_prop_selfpay",
        "hifp_pay",
        "psn_part_amt",
        "acct_pay",
        "psn_cash_pay",
        "balc",
        "reason",
    ],
    "credit": ["psn_no", "on", "credit", "reason", "rule", "clause"],
    "may_pay": [
        "psn_no",
        "relation",
        "item",
        "venue",
        "on",
        "allowed",
        "reason",
        "channel",
        "clause",
    ],
}
SUMMED = {
    *V.FURTHER_FUND_FIELDS,
    "fund_pay_sumamt",
    "medfee_sumamt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "credit",
}
RIGHT = SUMMED | {"pool_prop_selfpay", "balc"}
ENUM_COLUMNS = {"relation", "item", "venue", "channel"}


def _locale_lang() -> str:
    """What a person reads: the chosen language, else the locale's."""
    return clilang.human()


def _table(
    rows: list[dict], columns: list[str], lang: str = "en", right: Collection[str] = ()
) -> str:
    """A table of records (the ledger's and resettle's), headed by the catalogue's names."""
    from .messages import MESSAGES, text
    from .tables import text_table

    cells = [
        [
            (
                ""
                if r.get(c) is None
                else str(r.get(c)).lower()
                if isinstance(r.get(c), bool)
                else str(r.get(c))
            )
            for c in columns
        ]
        for r in rows
    ]
    header = [text(f"col.{c}", lang) if f"col.{c}" in MESSAGES else c for c in columns]
    return text_table(header, cells, {i for i, c in enumerate(columns) if c in right})


def _cell(column: str, value: Any, lang: str) -> str:
    from .messages import reason, value as shown

    if column == "reason":
        return reason(value, lang)
    if value is None:
        return ""
    if column == "pool_prop_selfpay":
        from .runtime import percent

        return percent(Decimal(value))
    if isinstance(value, bool) or column in ENUM_COLUMNS:
        return shown(value, lang)
    return str(value)


def _with_funds(columns: list[str], records: list[dict]) -> list[str]:
    """A policy that declares further funds shows each fund and the funds' total after
    the pooling fund's column."""
    funds = [f for f in V.FURTHER_FUND_FIELDS if records and f in records[0]]
    if not funds or "hifp_pay" not in columns:
        return columns
    at = columns.index("hifp_pay") + 1
    return columns[:at] + funds + ["fund_pay_sumamt"] + columns[at:]


def results_table(results: Iterable[JsonResult], method: str, lang: str) -> str:
    """The table of ``settle``, ``credit`` or ``may-pay``: readable headers, reasons in
    words, and for money a totals row."""
    from .messages import text
    from .tables import text_table

    records = [r.to_json(trace=False) for r in results]
    columns = _with_funds(COLUMNS[method], records)
    rows = [
        [
            text("reason.reversal", lang)
            if c == "reason" and rec.get("op") == "reverse"
            else _cell(c, rec.get(c), lang)
            for c in columns
        ]
        for rec in records
    ]
    right = {i for i, c in enumerate(columns) if c in RIGHT}
    total: list[str] | None = None
    summed = [c for c in columns if c in SUMMED]
    if summed and records:
        from .runtime import fen, fen_text

        total = [""] * len(columns)
        total[0] = text("table.total", lang)
        for i, c in enumerate(columns):
            if c in SUMMED:
                total[i] = fen_text(
                    sum(fen(Decimal(rec[c])) for rec in records if rec.get(c) is not None)
                )
    return text_table([text(f"col.{c}", lang) for c in columns], rows, right, total)


def _emit(
    results: Sequence[JsonResult], fmt: str, method: str, no_trace: bool, lang: str | None
) -> None:
    if fmt == "jsonl":
        from .jsonl import write_lines

        _output.streaming = (
            True  # the input was checked in full: each line goes out as soon as it is final
        )
        write_lines(results, _output, not no_trace, lang or "en")
        _output.finish()
        return
    if fmt == "json":  # one record at a time: a year of claims need not sit in memory twice
        out = _output
        out.write("[")
        for i, r in enumerate(results):
            out.write(
                ("\n  " if i == 0 else ",\n  ")
                + json.dumps(
                    r.to_json(trace=not no_trace, lang=lang or "en"), ensure_ascii=False, indent=2
                ).replace("\n", "\n  ")
            )
        out.write("\n]\n" if results else "]\n")
    else:
        _print(results_table(results, method, lang or _locale_lang()))


def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """--help through the command's output, so that writing it fails as any output does."""
    if value and not ctx.resilient_parsing:
        _print(ctx.get_help())
        ctx.exit()


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        said = clilang.click_text("%(prog)s, version %(version)s")
        _print(said % {"prog": "policylang", "version": __version__})
        ctx.exit()


class _HelpThroughOutput:
    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.callback = _show_help
        return option


class _Command(_HelpThroughOutput, click.Command):
    """A command whose help is in the language the command line speaks."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        root = ctx.find_root().command
        assert isinstance(root, click.Group)
        with clilang.help_in(clilang.human(), root, ctx):
            super().format_help(ctx, formatter)


class _Group(_HelpThroughOutput, click.Group):
    command_class = _Command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        clilang.start()
        try:
            return super().main(*args, **kwargs)
        finally:
            clilang.reset()

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with clilang.help_in(clilang.human(), self, ctx):
            super().format_help(ctx, formatter)

    def make_context(self, info_name, args, parent=None, **extra):
        """The group's own --help and --version print before any command runs."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.Exit:
            try:
                _output.finish()
            except _WriteFailed as e:
                _stdout_gone()
                if not isinstance(e.error, BrokenPipeError):
                    click.echo(f"cannot write <stdout>: {e.reason()}", err=True)
                raise click.exceptions.Exit(
                    141 if isinstance(e.error, BrokenPipeError) else 1
                ) from None
            raise

    def invoke(self, ctx):
        global _output
        _output = _Output()
        try:
            try:
                result = super().invoke(ctx)
            except (SystemExit, click.exceptions.Exit):
                _output.finish()  # a command that prints and then exits 1 (check --format json)
                raise
            _output.finish()
            return result
        except _WriteFailed as e:
            _stdout_gone()
            if isinstance(e.error, BrokenPipeError):
                ctx.exit(141)  # the reader left (`| head`): quietly, as a tool killed by SIGPIPE
            click.echo(f"cannot write <stdout>: {e.reason()}", err=True)
            ctx.exit(1)
        except Failure as e:
            if str(e):
                click.echo(str(e), err=True)
            ctx.exit(e.code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo(_say("cli.interrupted"), err=True)
            ctx.exit(130)
        except Exception as e:  # noqa: BLE001 - never a traceback at the CLI
            if (
                type(e).__name__ == "SourceError"
            ):  # a policy file named that cannot be read (resolve.SourceError)
                click.echo(str(e), err=True)
                ctx.exit(1)
            click.echo(
                f"policylang: internal error: {type(e).__name__}: {e}\n"
                "This is a bug in policylang, not in your input; please report it with the files "
                "used.",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
@_lang_option(
    "Language of messages, help and table headers for every command (default: "
    "$POLICYLANG_LANG, else the locale: LANG=zh_CN.* is Chinese).",
    expose=False,
)
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
@_text_or_json("text for people, json for editors and CI.")
@_lang_option("Language of the messages (default: the file's keywords, else the locale).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(paths, fmt, lang, strict):
    """Parse and check policies (files or folders of .pol files).

    Every problem is reported, as file:line:col with the source line, a stable
    code (see docs/diagnostics.md) and a hint.  Policies they implement are found
    among the .pol files beside them."""
    from .api import check_paths
    from .diagnostics import ERROR, WARNING, render, to_json
    from .messages import text

    results, ws = check_paths(paths)
    _warn_skipped(ws)
    if not results:
        raise Failure(_say("cli.no_pol_files", paths=", ".join(paths)))
    diags = [d for r in results for d in r.diagnostics]
    lang = _lang(lang, [ws.units[r.file].text for r in results])
    errors = sum(1 for d in diags if d.severity == ERROR)
    warnings = sum(1 for d in diags if d.severity == WARNING)
    if fmt == "json":
        _print(to_json(diags, lang))
    else:
        for d in diags:
            click.echo(render(d, ws.sources, lang), err=True)
            click.echo("", err=True)
        click.echo(
            text("cli.checked", lang, files=len(results), errors=errors, warnings=warnings),
            err=True,
        )
    if errors or (strict and warnings):
        sys.exit(1)


def _evaluate(
    method: str,
    policy: str,
    records: str,
    fmt: str,
    params: Iterable[str],
    no_trace: bool,
    lang: str | None,
    search: Iterable[str] = (),
) -> None:
    """Load POLICY, read the JSON array RECORDS, evaluate, print; errors leave stdout empty."""
    from .inputs import InputError

    _not_swapped(
        policy, records, {"settle": "VISITS", "credit": "PERSONS", "may_pay": "REQUESTS"}[method]
    )
    compiled = _load(policy, search)
    spooled = None
    try:
        if records == "-" and method == "settle":  # read twice when it is JSON Lines
            spooled = records_path = _spool()
        else:
            records_path = records
        if method == "settle" and records_path != "-" and _is_jsonl(records_path, records):
            _settle_lines(compiled, records_path, records, fmt, params, no_trace, lang)
            return
        data = _read_json(records_path if spooled else records)
        try:
            results = getattr(compiled, method)(data, _parse_params(params), trace=not no_trace)
        except InputError as e:
            raise _input_failure(e, records) from None
        if method != "settle":  # a settlement carries them already
            results = [_Stamped(r, compiled.id, compiled.hash) for r in results]
        from .messages import vocabulary_names

        with vocabulary_names(
            compiled.ir.vocab
        ):  # a relation or item the policy's vocabulary adds, in Chinese
            _emit(results, fmt, method, no_trace, lang)
    finally:
        if spooled:
            os.unlink(spooled)


class _Stamped:
    """A credit or may-pay result whose JSON names the policy and the IR program's hash, as a
    settlement's does (the hash is unchanged by formatting or translating the policy)."""

    def __init__(self, result: Any, policy_id: str, ir_hash: str) -> None:
        self.result, self.stamp = result, (policy_id, ir_hash)

    def to_json(self, trace: bool = True, lang: str = "en") -> dict:
        out = self.result.to_json(trace=trace, lang=lang)
        steps = out.pop("trace", None)
        out["policy"], out["ir_hash"] = self.stamp
        if steps is not None:
            out["trace"] = steps
        return out


def _spool() -> str:
    from .jsonl import spool_stdin

    return spool_stdin()


def _is_jsonl(path: str, shown: str) -> bool:
    from .jsonl import is_jsonl

    try:
        return is_jsonl(path)
    except OSError as e:
        raise Failure(f"{shown}: {e.strerror}") from None


def _settle_lines(
    compiled: CompiledPolicy,
    path: str,
    shown: str,
    fmt: str,
    params: Iterable[str],
    no_trace: bool,
    lang: str | None,
) -> None:
    """JSON Lines input: checked in full first, then settled and written chunk by chunk."""
    from .inputs import InputError
    from .jsonl import JsonlError, read_chunks, write_lines

    stream = compiled.settle_stream(
        lambda: read_chunks(path), _parse_params(params), trace=not no_trace
    )
    try:
        first = next(stream, None)  # the whole input is checked before this returns
    except InputError as e:
        raise _input_failure(e, shown) from None
    except JsonlError as e:
        raise Failure(str(e).replace(path, shown)) from None
    import itertools

    results = itertools.chain([first] if first is not None else [], stream)
    if fmt == "jsonl":
        _output.streaming = True
        write_lines(results, _output, not no_trace, lang or "en")
    else:
        _emit(list(results), fmt, "settle", no_trace, lang)


@main.command()
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("visits", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@FORMAT
@PARAMS
@NO_TRACE
@SEARCH
@click.option(
    "--ledger",
    "ledger_in",
    type=click.Path(dir_okay=False),
    metavar="IN.json",
    help="Continue from this ledger: what each person has used, balances, settlements that can be "
    'reversed.  Records may then also be reversals ({"op": "reverse", ...}).',
)
@click.option(
    "--ledger-out",
    "ledger_out",
    type=click.Path(dir_okay=False),
    metavar="OUT.json",
    help="Write the ledger after these visits (atomically: OUT may be IN).  Without --ledger, a "
    "new ledger starts.",
)
@LANG
def settle(policy, visits, fmt, params, no_trace, search, ledger_in, ledger_out, lang):
    """Settle general-outpatient VISITS (a JSON array, or JSON Lines) under POLICY.

    Visits of several persons may be mixed and in any order; each person's
    visits are applied in setl_time order (visits at the same time in the order
    given), and one result is printed per visit in input order.  The table ends
    with the totals of its money columns."""
    if ledger_in is None and ledger_out is None:
        _evaluate("settle", policy, visits, fmt, params, no_trace, lang, search)
        return
    from .inputs import InputError
    from .ledger import LedgerError

    compiled = _load(policy, search)
    try:
        ledger = compiled.read_ledger(ledger_in) if ledger_in else compiled.new_ledger()
    except LedgerError as e:
        raise Failure(str(e)) from None
    data = _read_json(visits)
    try:
        outcome = compiled.settle(data, _parse_params(params), trace=not no_trace, ledger=ledger)
    except InputError as e:
        raise _input_failure(e, visits) from None
    if ledger.dropped:
        click.echo(
            f"{ledger_in}: written under another version of {compiled.id}; counters it no longer "
            "declares "
            f"were dropped: {', '.join(ledger.dropped)}",
            err=True,
        )
    if ledger_out:
        _write_ledger(outcome.ledger, ledger_out)
    _emit(outcome.results, fmt, "settle", no_trace, lang)


def _write_ledger(ledger: Ledger, path: str) -> None:
    try:
        ledger.write(path)
    except OSError as e:
        raise Failure(f"cannot write {path}: {e.strerror}") from None


@main.command("ledger")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("ledger_path", metavar="LEDGER", type=click.Path(exists=True, dir_okay=False))
@click.option("--psn", "psn_no", metavar="PSN_NO", help="Only this person.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@SEARCH
@LANG
def ledger_cmd(policy, ledger_path, psn_no, fmt, search, lang):
    """Show what each person has used according to LEDGER: every counter by period,
    the balance, and the settlements that can still be reversed."""
    from .ledger import LedgerError
    from .messages import text as words

    _not_swapped(policy, ledger_path, "LEDGER")
    compiled = _load(policy, search)
    try:
        ledger = compiled.read_ledger(ledger_path)
    except LedgerError as e:
        raise Failure(str(e)) from None
    persons = sorted({p for p, *_ in ledger.used} | set(ledger.balances) | set(ledger.seq))
    if psn_no is not None:
        persons = [p for p in persons if p == psn_no]
    rows = []
    for p in persons:
        for c in ledger.counters(p):
            rows.append(
                {
                    "psn_no": p,
                    "counter": c["counter"],
                    "period": c["period"],
                    "each": c["each"],
                    "used": c["used"],
                }
            )
    live = sorted(
        (e for e in ledger.entries.values() if e.reversed_seq is None and e.psn_no in persons),
        key=lambda e: (e.psn_no, e.seq),
    )
    if fmt == "json":
        _print(
            json.dumps(
                {
                    "counters": rows,
                    "balances": {p: _fen_or_none(ledger.balances.get(p)) for p in persons},
                    "reversible": [e.setl_id for e in live],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    lang = _locale_lang()
    _print(
        _table(rows, ["psn_no", "counter", "period", "each", "used"], lang, {"used"})
        if rows
        else words("ledger.no_counters", lang)
    )
    for p in persons:
        _print(
            words(
                "ledger.person",
                lang,
                psn=p,
                balance=_fen_or_none(ledger.balances.get(p)) or words("ledger.unknown", lang),
                seq=ledger.seq.get(p, 0),
                reversible=", ".join(e.setl_id for e in live if e.psn_no == p)
                or words("ledger.none", lang),
            )
        )


def _fen_or_none(f):
    from .runtime import fen_text

    return None if f is None else fen_text(f)


@main.command()
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument(
    "corrections", required=False, type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
@click.option(
    "--ledger",
    "ledger_in",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="IN.json",
    help="The ledger the visits were settled into.",
)
@click.option(
    "--ledger-out",
    "ledger_out",
    type=click.Path(dir_okay=False),
    metavar="OUT.json",
    help="Write the updated ledger (atomically: OUT may be IN).",
)
@click.option(
    "--from", "start", metavar="DATE", help="Re-settle every visit settled on or after this date."
)
@click.option("--until", "end", metavar="DATE", help="...and on or before this date.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True
)
@PARAMS
@SEARCH
@LANG
def resettle(policy, corrections, ledger_in, ledger_out, start, end, fmt, params, search, lang):
    """Re-settle recorded visits (补退) under POLICY — an amended version of the
    ledger's policy, or the same one with CORRECTIONS (a JSON array of visits
    carrying the setl_id of a recorded settlement and the corrected fields).

    With --from/--until, every visit settled in that period is re-settled; a
    person's later visits are always re-settled too.  Prints one adjustment per
    re-settled visit: old and new amounts and the difference each party pays or
    gets back."""
    from .inputs import InputError, parse_date
    from .ledger import LedgerError

    _not_swapped(policy, corrections, "CORRECTIONS")
    compiled = _load(policy, search)
    try:
        ledger = compiled.read_ledger(ledger_in)
    except LedgerError as e:
        raise Failure(str(e)) from None
    if corrections is None and start is None and end is None:
        raise click.UsageError("give CORRECTIONS, or a period with --from/--until")
    dates = []
    for opt, value in (("--from", start), ("--until", end)):
        try:
            dates.append(None if value is None else parse_date(value))
        except Exception:  # noqa: BLE001
            raise click.BadParameter(
                f"expected a date such as 2024-01-01, got {value!r}", param_hint=opt
            ) from None
    data = _read_json(corrections) if corrections else []
    try:
        outcome = compiled.resettle(
            ledger, data, _parse_params(params), start=dates[0], end=dates[1]
        )
    except InputError as e:
        raise _input_failure(e, corrections or "ledger") from None
    if ledger_out:
        _write_ledger(outcome.ledger, ledger_out)
    rows = [a.to_json() for a in outcome.adjustments]
    if fmt == "json":
        _print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        flat = [
            {
                "setl_id": r["setl_id"],
                "psn_no": r["psn_no"],
                "setl_time": r["setl_time"],
                "old_hifp_pay": r["old"]["hifp_pay"],
                "new_hifp_pay": r["new"]["hifp_pay"],
                "fund_difference": r["difference"]["fund_pay_sumamt"],
                "cash_difference": r["difference"]["psn_cash_pay"],
            }
            for r in rows
        ]
        money = {"old_hifp_pay", "new_hifp_pay", "fund_difference", "cash_difference"}
        _print(_table(flat, list(flat[0]) if flat else ["setl_id"], _locale_lang(), money))


@main.command()
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("persons", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@FORMAT
@PARAMS
@NO_TRACE
@SEARCH
@LANG
def credit(policy, persons, fmt, params, no_trace, search, lang):
    """Compute the personal-account credit of PERSONS (a JSON array) under POLICY."""
    _evaluate("credit", policy, persons, fmt, params, no_trace, lang, search)


@main.command("may-pay")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("requests", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@FORMAT
@PARAMS
@NO_TRACE
@SEARCH
@LANG
def may_pay(policy, requests, fmt, params, no_trace, search, lang):
    """Decide whether the personal account may pay each of REQUESTS (a JSON array)."""
    _evaluate("may_pay", policy, requests, fmt, params, no_trace, lang, search)


TOKEN_ENV = "POLICYLANG_TOKEN"
MIN_TOKEN = 16


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _service_token(token_file: str | None, no_auth: bool) -> str | None:
    env = os.environ.get(TOKEN_ENV)
    if no_auth:
        if token_file or env:
            raise click.UsageError(
                f"--no-auth, but a token is given ({'--token-file' if token_file else TOKEN_ENV}); "
                "choose one"
            )
        return None
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise click.BadParameter(
                f"cannot read {token_file}: {e}", param_hint="--token-file"
            ) from None
        if os.name == "posix" and os.stat(token_file).st_mode & 0o077:
            click.echo(f"warning: {token_file} can be read by other users (chmod 600 it)", err=True)
    elif env is not None:
        token = env.strip()
    else:
        raise click.UsageError(
            f"refusing to start without a token: give --token-file FILE or set {TOKEN_ENV} "
            "(requests then need 'Authorization: Bearer TOKEN'), or --no-auth explicitly"
        )
    if len(token) < MIN_TOKEN or any(c.isspace() for c in token):
        raise click.UsageError(
            f"the token must be at least {MIN_TOKEN} characters without spaces, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--db",
    "db_url",
    default="sqlite:///policylang.sqlite3",
    show_default=True,
    metavar="URL",
    help="Where the ledgers are kept: sqlite:///PATH (sqlite:////ABSOLUTE/PATH) or "
    "postgresql://USER:PASSWORD@HOST:PORT/DBNAME.  The schema is created and migrated.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on.  Put a TLS proxy in front of anything but loopback.",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help=f"The bearer token requests must carry (else ${TOKEN_ENV}).",
)
@click.option(
    "--no-auth", is_flag=True, help="Accept requests without a token (loopback addresses only)."
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Append the audit lines (one JSON line per settlement) to FILE instead of standard error.",
)
@click.option(
    "--pool-size",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="PostgreSQL connections (concurrent requests in the database).",
)
@PARAMS
@SEARCH
def serve(policies, db_url, host, port, token_file, no_auth, audit_log, pool_size, params, search):
    """Settle visits over HTTP, keeping each person's ledger in a database.

    POST /settle, /reverse, /presettle, /resettle and GET /ledger/PSN_NO take and give
    the JSON of `settle` (docs/json-contract.md); OpenAPI docs at /docs.  With several
    POLICY files, a request names one with ?policy=ID; each has its own ledger.  A
    settlement is idempotent by setl_id.  Needs the service extra:
    pip install 'policylang[service]'."""
    token = _service_token(token_file, no_auth)
    if no_auth and not _is_loopback(host):
        raise click.UsageError(f"--no-auth is allowed on a loopback address only, not {host}")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise Failure(
            "policylang serve needs the service extra: pip install 'policylang[service]'"
        ) from None
    from .service.engine import ServicePolicy
    from .service.store import StoreError

    compiled = _load_distinct(policies, search)
    values = _parse_params(params)
    declared = {c.id: json.loads(c.ir_json()).get("params", {}) for c, _ in compiled}
    for name in values:
        if not any(name in d for d in declared.values()):
            raise click.BadParameter(
                f"no policy given declares the parameter {name}", param_hint="--param"
            )
    service_policies = [
        ServicePolicy(c, _service_params(c, path, values, declared[c.id])) for c, path in compiled
    ]
    from .service.serve import run

    try:
        run(service_policies, db_url, host, port, token, audit_log, pool_size)
    except StoreError as e:
        raise Failure(f"policylang serve: {e}") from None


def _load_distinct(
    policies: Iterable[str], search: Iterable[str]
) -> list[tuple[CompiledPolicy, str]]:
    """Each policy compiled, with its path; one id given twice is an error."""
    compiled: list[tuple[CompiledPolicy, str]] = []
    for path in policies:
        c = _load(path, search)
        if any(p.id == c.id for p, _ in compiled):
            raise Failure(f"{path}: policy {c.id} is given twice; each policy has one ledger")
        compiled.append((c, path))
    return compiled


def _service_params(
    c: CompiledPolicy, path: str, values: dict[str, str], declared: dict
) -> dict[str, str]:
    """The --param values the policy declares, checked now (a bad or missing parameter is
    said at start, not in every answer; one the account rules need is a warning)."""
    from .inputs import InputError

    mine = {k: v for k, v in values.items() if k in declared}
    try:
        c.settle([], mine)
    except InputError as e:
        raise _input_failure(e, "--param") from None
    try:
        c.may_pay([], mine)
    except InputError as e:
        from .inputs import said

        reasons = "; ".join(said(p.message, _locale_lang()) for p in e.problems)
        click.echo(_say("cli.account_params", path=path, reasons=reasons), err=True)
    return mine


@main.command()
@click.argument("code")
@_lang_option("Explain in this language only (default: English and Chinese side by side).")
def explain(code, lang):
    """Explain a diagnostic code, such as H501."""
    from .diagnostics import CATALOGUE, explain as explain_code

    from .inputs import short

    text = explain_code(code, lang)
    if text is None:
        raise Failure(
            _say("cli.unknown_code", code=short(code), codes=", ".join(sorted(CATALOGUE)))
        )
    _print(text)


@main.command("compile")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--emit",
    type=click.Choice(["ir", "sql"]),
    default="ir",
    show_default=True,
    help="ir: the IR program as JSON (byte-stable; spans relative to the policy's folder); "
    "sql: the settle program as one SQL query.",
)
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="The SQL dialect (with --emit sql).",
)
@SEARCH
@LANG
def compile_cmd(policy, emit, dialect, search, lang):
    """Compile POLICY and print what it compiles to.

    The IR holds every rule of settlement as steps over declared counters, each
    with its clause and source span; its "hash" excludes spans, so formatting or
    translating the policy leaves it unchanged.

    With --emit sql, the settle program becomes one query over a table of visits
    (money in integer fen; the comment before it states the columns, parameters
    and results).  A program with a step that has no closed form in SQL (two caps
    charged together, an amount that changes within a year) is refused, naming the
    step: the duckdb and spark backends settle it with a sequential step instead."""
    _not_swapped(policy, None, "")
    compiled = _load(policy, search)
    if emit == "ir":
        _print(compiled.ir_json(), nl=False)
        return
    try:
        from .backends.sql import base
    except ImportError as e:
        raise Failure(
            f"--emit sql needs sqlglot ({e.name} is missing): pip install 'policylang[sql]'"
        ) from None
    from .backends.common import NotSupported

    try:
        text = base.settle_sql(compiled.ir, dialect, ir_hash=compiled.hash)
    except NotSupported as e:
        raise Failure(f"{policy}: cannot be written as one {dialect} query: {e}") from None
    _print(text, nl=False)


@main.command("synth")
@click.option(
    "--persons", type=click.IntRange(min=1), required=True, help="How many insured persons."
)
@click.option(
    "--years", type=click.IntRange(1, 50), default=1, show_default=True, help="How many years."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="The same seed, the same file."
)
@click.option(
    "--from-year",
    type=click.IntRange(1990, 2100),
    default=2023,
    show_default=True,
    help="The first year of claims.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The claims file: Parquet, or CSV when it ends in .csv.",
)
def synth_cmd(persons, years, seed, from_year, output):
    """Write synthetic claims for trying `simulate`: made-up persons and their
    general-outpatient visits, with the JSON contract's field names.

    The distributions (visits per person, bill sizes, hospital levels, person
    categories, dates) are listed in docs/tools.md; the same seed gives the same file."""
    try:
        from .synth import synth
    except ImportError as e:  # pragma: no cover - numpy and pyarrow are in the columnar extra
        raise Failure(f"synth needs {e.name}: pip install 'policylang[columnar]'") from None
    try:
        n = synth(persons, years, seed, Path(output), from_year)
    except OSError as e:
        raise Failure(f"{output}: {e.strerror or e}") from None
    _print(
        f"wrote {n:,} visits of {persons:,} persons ({years} year(s) from {from_year}) to {output}"
    )


@main.command("simulate")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument("claims", type=click.Path(exists=True))
@click.option(
    "--reform",
    type=click.Path(exists=True, dir_okay=False),
    help="A second policy (a reform) to settle the same claims under and compare.",
)
@PARAMS
@click.option(
    "--engine",
    default="columnar",
    show_default=True,
    metavar="columnar|duckdb|spark|scalar",
    help="The backend that settles the claims (any in the backend list: one with a table path "
    "runs whole columns; scalar and reference run row by row).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Folder for the per-visit results (Parquet, one dataset per policy), summary.json and "
    "report.html; written whole or not at all.",
)
@click.option(
    "--memory-limit",
    metavar="SIZE",
    help="Settle the claims in partitions by person so as to stay within SIZE (512M, 4G; "
    "default: 2G, or half the machine's memory when less). Results are the same.",
)
@LANG
@SEARCH
def simulate_cmd(policy, claims, reform, params, engine, out, memory_limit, lang, search):
    """Settle a year of CLAIMS under POLICY (and a --reform) and report the fund's outlay.

    CLAIMS is Parquet (a file or a folder of files) or CSV, with the JSON
    contract's field names. The report gives the fund's outlay in total, by month,
    hospital level and person category, the persons reaching the cap and the
    visits absorbed by the deductible; with --reform, the baseline, the reform and
    their difference (reform minus baseline)."""
    from . import simulate as sim
    from .inputs import InputError

    lang = lang or _locale_lang()
    given = _parse_params(params)
    runs = _simulation_runs(policy, reform, given, search)
    _exit_on_sigterm()  # so that a killed run removes its temporary folders
    try:
        limit = sim.parse_size(memory_limit) if memory_limit else None
        console = _console()
        with _progress(console, lang) as progress:
            outcome = sim.simulate(
                runs,
                claims,
                engine,
                Path(out) if out else None,
                limit,
                progress,
                partial(_write_report, lang=lang),
            )
    except sim.SimulationError as e:
        raise Failure(str(e)) from None
    except _backend_errors() as e:
        raise Failure(f"--engine {engine}: {e}") from None
    except ImportError as e:
        raise Failure(f"simulate needs {e.name}: pip install 'policylang[columnar]'") from None
    except InputError as e:
        raise _input_failure(e, claims) from None
    from .simreport import print_report

    print_report(outcome, lang, console)
    if out:
        console.print(text_of("sim.results", lang, path=str(Path(out) / "*")))
        console.print(text_of("sim.html", lang, path=str(Path(out) / "report.html")))


def _exit_on_sigterm() -> None:
    import signal

    def stop(signum: int, frame: FrameType | None) -> NoReturn:
        raise SystemExit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding caller's): its own business
        pass


def text_of(msg_id: str, lang: str, **args: Any) -> str:
    from .messages import text

    return text(msg_id, lang, **args)


def _backend_errors() -> tuple[type[Exception], ...]:
    from .backends import BackendUnavailable, NotSupported

    return (BackendUnavailable, NotSupported)


def _console() -> Console:
    from rich.console import Console

    probe = Console(file=sys.stdout)
    return probe if probe.is_terminal else Console(file=sys.stdout, width=120)


def _progress(console: Console, lang: str) -> AbstractContextManager[StartProgress | None]:
    """A progress bar on the terminal; nothing when standard output is not one."""
    import contextlib

    if not console.is_terminal:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total}",
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )

    @contextlib.contextmanager
    def showing() -> Iterator[StartProgress]:
        with bar:

            def start(what: str, total: int) -> Tick:
                task = bar.add_task(text_of("sim.settling", lang), total=total)
                return lambda: bar.advance(task)

            yield start

    return showing()


def _write_report(outcome: Outcome, folder: Path, lang: str) -> None:
    from .simreport import html_report, summary

    (folder / "summary.json").write_text(
        json.dumps(summary(outcome), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (folder / "report.html").write_text(html_report(outcome, lang), encoding="utf-8")


def _simulation_runs(
    policy: str, reform: str | None, given: dict[str, str], search: Iterable[str]
) -> list[Run]:
    """The baseline (and the reform), each with the parameters it declares; a parameter
    neither declares is an error."""
    from .simulate import Run

    compiled = [("baseline", _load_alone(policy, search))]
    if reform:
        compiled.append(("reform", _load_alone(reform, search)))
    unknown = [n for n in given if not any(n in c.ir.params for _, c in compiled)]
    if unknown:
        declared = sorted({p for _, c in compiled for p in c.ir.params})
        raise Failure(
            _say(
                "cli.params_undeclared",
                names=", ".join(unknown),
                declared=", ".join(declared) or _say("why.none"),
            )
        )
    return [
        Run(label, c, {k: v for k, v in given.items() if k in c.ir.params}) for label, c in compiled
    ]


@main.command("render")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html"]),
    default="md",
    show_default=True,
    help="md: Markdown; html: one self-contained page (inline CSS, nothing fetched).",
)
@LANG
@SEARCH
def render_cmd(policy, fmt, lang, search):
    """Summarise POLICY for holding against its notice.

    Deductibles, caps, the ratio of every hospital level and person category
    (uplifts applied), crediting rules and who may pay for what from the personal
    account, for each dated version, each row with its clause and the quoted
    sentence as a note."""
    from .render import render

    _not_swapped(policy, None, "")
    compiled = _load(policy, search)
    _print(render(compiled.ir, fmt, lang or _locale_lang()), nl=False)


def _load_alone(policy_path: str, search: Iterable[str]) -> CompiledPolicy:
    """Load one policy for ``diff``: OLD and NEW are often two versions of one policy, with
    one id, in one folder, so each is read on its own (its folder and --path are searched
    only for the policy it implements)."""
    from .api import loads
    from .diagnostics import ERROR, PolicyError, render
    from .messages import text as words

    try:
        source = Path(policy_path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise Failure(
            f"{policy_path}: {getattr(e, 'strerror', None) or _say('cli.not_utf8')}"
        ) from None
    try:
        here = Path(policy_path)
        beside = [p for p in sorted(here.parent.glob("*.pol")) if p.resolve() != here.resolve()]
        return loads(source, file=policy_path, search=[*beside, *search])
    except PolicyError as e:
        lang = _lang(None, [source])
        errors = [d for d in e.diagnostics if d.severity == ERROR]
        raise Failure(
            "\n".join(render(d, e.sources, lang) for d in errors)
            + "\n"
            + words("cli.policy_errors", lang, path=policy_path, count=len(errors))
        ) from None


class DiffTrouble(click.ClickException):
    """diff's errors exit 2 (like GNU diff's), with nothing on standard output."""

    exit_code = 2

    def show(self, file=None):
        click.echo(self.message, err=True)


@main.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False))
@click.argument("new", type=click.Path(exists=True, dir_okay=False))
@PARAMS
@_text_or_json('text for people; json: {"values": [...], "visits": [...], ...}.')
@LANG
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="List every differing visit found, not one per kind of person and version.",
)
@SEARCH
def diff_cmd(old, new, params, fmt, lang, every, search):
    """What changed in meaning from OLD to NEW: changed values with their dates, and
    concrete visits that settle differently.

    Visits are explored on the boundaries the two policies distinguish (version
    dates, hospital levels, person categories, deductible and cap thresholds,
    declared inputs) and settled under both.  A parameter not given with --param
    gets the same stand-in value in both (the report says which).

    Exit codes, like GNU diff: 0 no visit settles differently, 1 some do, 2 trouble."""
    for path in (old, new):
        _not_swapped(path, None, "")
    from . import semdiff

    try:
        given = _parse_params(params)
        before, after = _load_alone(old, search), _load_alone(new, search)
        shown = lang or ("en" if fmt == "json" else _locale_lang())
        report = semdiff.compare(before, after, old, new, given, shown, every)
    except Failure as e:
        raise DiffTrouble(str(e)) from None
    except click.BadParameter as e:
        raise DiffTrouble(f"--param: {e.format_message()}") from None
    except semdiff.UnknownParam as e:
        raise DiffTrouble(_say("diff.undeclared", name=e)) from None
    except Exception as e:  # noqa: BLE001 - an input problem from a parameter's value, or a bug
        from .inputs import InputError

        if isinstance(e, InputError):
            raise DiffTrouble(str(e)) from None
        raise DiffTrouble(f"policylang: internal error: {type(e).__name__}: {e}") from None
    if fmt == "json":
        _print(json.dumps(semdiff.to_json(report, shown), ensure_ascii=False, indent=2))
    else:
        _print(semdiff.to_text(report, shown), nl=False)
    sys.exit(0 if report.identical else 1)


@main.command("why")
@click.argument("policy", type=click.Path(exists=True, dir_okay=False))
@click.argument(
    "records", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
@click.option(
    "--record",
    "record",
    type=click.IntRange(min=1),
    metavar="N",
    help="Explain the N-th record of INPUT (counted from 1).",
)
@click.option(
    "--psn", "psn", metavar="NO", help="Explain every record of the person with this psn_no."
)
@click.option(
    "--setl-id", "setl_id", metavar="ID", help="Explain the visit with this setl_id (结算ID)."
)
@click.option(
    "--kind",
    type=click.Choice(["settle", "credit", "may-pay"]),
    default=None,
    help="What INPUT holds (default: told by its fields).",
)
@_text_or_json("text for people, json for programs.")
@PARAMS
@SEARCH
@LANG
def why_cmd(policy, records, record, psn, setl_id, kind, fmt, params, search, lang):
    """Explain a result step by step: the version in force, the deductible used,
    the ratio and why (table row, uplifts), the cap and what is left of it, the
    rounding and the personal account; each step with its clause, the sentence
    of the notice and the values it read.

    INPUT holds visits (settle), persons (credit) or requests (may-pay), as for
    those commands, or is a worked example file (its input and params); all of
    them are evaluated (a visit's deductible and cap depend on the person's
    earlier visits) and the records chosen by --record or --psn (default: all)
    are explained."""
    from .inputs import InputError
    from . import why

    if sum(x is not None for x in (record, psn, setl_id)) > 1:
        raise click.UsageError(_say("why.one_selector"))
    _not_swapped(policy, records, "INPUT")
    compiled = _load(policy, search)
    data, given = _why_input(records, _read_records(records), _parse_params(params))
    kind = {"may-pay": "may_pay"}.get(kind, kind) or why.detect_kind(data)
    if kind is None:
        raise click.UsageError(_say("why.no_kind", records=records))
    selected = _why_selected(records, data, record, psn, setl_id)
    try:
        shown = lang or ("en" if fmt == "json" else _locale_lang())
        explanations = why.explain(compiled, data, given, kind, selected, shown)
    except InputError as e:
        raise _input_failure(e, records) from None
    if fmt == "json":
        _print(
            json.dumps(
                why.to_json(compiled.id, policy, compiled.hash, explanations),
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        _print_styled(why.render_lines(compiled.id, policy, explanations, shown))


def _print_styled(lines: list[tuple[str, str]]) -> None:
    """Lines for people: styled by rich on a terminal, plain text otherwise."""
    if not _is_terminal():
        for text, _ in lines:
            _print(text)
        return
    from rich.console import Console
    from rich.text import Text

    import io

    out = io.StringIO()
    console = Console(
        file=out, force_terminal=True, color_system="standard", highlight=False, soft_wrap=True
    )
    for text, style in lines:
        console.print(Text(text, style=style or ""))
    _print(out.getvalue(), nl=False)


def _is_terminal() -> bool:
    try:
        return sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
    except (AttributeError, ValueError):
        return False


def _why_input(records: str, data: Any, given: dict[str, str]) -> tuple[list, dict[str, str]]:
    """The records of INPUT and the parameters: a worked example file gives its input and
    its params (those on the command line win)."""
    if isinstance(data, dict) and isinstance(data.get("input"), list):
        given = {**{str(k): str(v) for k, v in (data.get("params") or {}).items()}, **given}
        data = data["input"]
    if not isinstance(data, list):
        raise Failure(_say("why.not_array", records=records))
    return data, given


def _why_selected(
    records: str, data: list, record: int | None, psn: str | None, setl_id: str | None
) -> list[int]:
    """The indexes of the records to explain: --record, --psn or --setl-id (default all)."""
    if record is not None:
        if record > len(data):
            raise click.BadParameter(
                _say("why.too_few", records=records, count=len(data)), param_hint="--record"
            )
        return [record - 1]
    if psn is not None:
        selected = [
            i for i, r in enumerate(data) if isinstance(r, dict) and str(r.get("psn_no")) == psn
        ]
        if not selected:
            raise click.BadParameter(
                _say("why.no_psn", records=records, psn=psn), param_hint="--psn"
            )
        return selected
    if setl_id is not None:
        selected = [
            i
            for i, r in enumerate(data)
            if isinstance(r, dict) and str(r.get("setl_id", "")).strip() == setl_id
        ]
        if not selected:
            raise click.BadParameter(
                _say("why.no_setl_id", records=records, id=setl_id), param_hint="--setl-id"
            )
        return selected
    return list(range(len(data)))


def _read_records(path: str) -> Any:
    """A JSON array, or JSON Lines (read whole)."""
    if path != "-" and _is_jsonl(path, path):
        from .jsonl import JsonlError, read_chunks

        try:
            return [r for chunk in read_chunks(path) for r in chunk]
        except JsonlError as e:
            raise Failure(str(e)) from None
    return _read_json(path)


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@_text_or_json('text for people; json for programs and CI: {"summary": {...}, "examples": [...]}.')
@SEARCH
@LANG
def test_cmd(paths, fmt, search, lang):
    """Run the worked examples: those written in policies (example "..." { ... })
    and JSON example files (input + expected, as in tests/examples/).

    PATH is a .pol file, a JSON example file or a folder (searched for both;
    default: the current folder).  Each example prints PASS or FAIL; a failure
    shows each differing field, expected and actual, and the trace steps that
    computed the actual number.

    \b
    Exit codes: 0 every example passed, 1 some example failed, 2 some example
    could not run (a policy with errors, an input problem, no policy found)."""
    from .examples import collect_and_run, exit_code, report, to_json
    from .messages import text

    shown = lang or ("en" if fmt == "json" else _locale_lang())
    paths = list(paths) or _configured_test_paths(shown)
    outcomes = collect_and_run(paths, search, shown)
    if not outcomes:
        raise Failure(text("test.none_found", shown, paths=", ".join(paths)), 2)
    if fmt == "json":
        _print(json.dumps(to_json(outcomes), ensure_ascii=False, indent=2))
    else:
        _print(report(outcomes, shown))
    code = exit_code(outcomes)
    if code:
        sys.exit(code)  # the report stands: it says which failed


def _configured_test_paths(lang: str) -> list[str]:
    """``test-paths`` of ``[tool.policylang]`` in ./pyproject.toml, else the current folder."""
    from .examples import ConfigError, configured_paths

    try:
        return configured_paths(Path("."), lang) or ["."]
    except ConfigError as e:
        raise Failure(str(e), 2) from None


@main.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default=None,
    help="Write every keyword, type name and enumeration value in English or Chinese "
    "(default: as each file mostly does).",
)
@click.option(
    "--write",
    is_flag=True,
    help="Rewrite the files in place (atomically; unchanged files are not touched).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; list the files that are not formatted and exit 1 if any.",
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help=(
        "Write nothing; show what formatting would change as a unified diff, and exit 1 if "
        "anything."
    ),
)
def fmt_cmd(paths, lang, write, check, show_diff):
    """Print policies in canonical layout, keeping their comments.

    PATH is a .pol file, a folder (every .pol file under it) or - (standard
    input).  The text is printed to standard output unless --write, --check or
    --diff is given.

    \b
    Exit codes (like diff): 0 formatted (or printed, or rewritten), 1 some file is
    not formatted (--check, --diff), 2 errors: a file that does not parse, or usage."""
    from .formatter import FormatProblem, format_file

    _fmt_usage(paths, write, check or show_diff)
    files = _policy_paths(paths)
    if not files:
        raise Failure(_say("cli.no_pol_files", paths=", ".join(paths)), 2)
    errors = changed = 0
    for path in files:
        try:
            old, new = format_file(path, lang)
        except FormatProblem as e:
            click.echo(str(e), err=True)
            errors += 1
            continue
        if check or show_diff:
            changed += _fmt_report(path, old, new, show_diff)
        elif write:
            if old != new:
                _write_atomically(Path(path), new)
                click.echo(_say("fmt.formatted", path=path), err=True)
        else:
            _print(new, nl=False)
    if errors:
        sys.exit(2)  # what was printed for the other files stands
    if changed:
        if check:
            click.echo(_say("fmt.not_formatted", changed=changed, total=len(files)), err=True)
        sys.exit(1)


def _fmt_usage(paths: tuple[str, ...], write: bool, compare: bool) -> None:
    if write and compare:
        raise click.UsageError(_say("fmt.write_and_check"))
    if write and "-" in paths:
        raise click.UsageError(_say("fmt.write_stdin"))


def _fmt_report(path: str, old: str, new: str, show_diff: bool) -> int:
    """For --check and --diff: 1 when the file is not formatted (its name, or the diff,
    printed), else 0."""
    if old == new:
        return 0
    if not show_diff:
        _print(path)
        return 1
    import difflib

    name = "<stdin>" if path == "-" else path
    _print(
        "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                f"{name}",
                f"{name} (formatted)",
            )
        ),
        nl=False,
    )
    return 1


def _policy_paths(paths: Iterable[str]) -> list[str]:
    """Files as given; folders as every .pol file under them, in order."""
    out: list[str] = []
    for p in paths:
        if p != "-" and Path(p).is_dir():
            out.extend(str(f) for f in sorted(Path(p).rglob("*.pol")))
        else:
            out.append(p)
    return out


def _write_atomically(path: Path, text: str) -> None:
    """Rewrite a file keeping its permissions; a reader or a crash never sees half of it."""
    from .atomic import replace_file

    replace_file(path, lambda f: f.write(text), keep_mode=True)


# click's usage errors name a parameter's type ("File 'x' does not exist."): in the language spoken
clilang.name_types(main)

if __name__ == "__main__":  # pragma: no cover
    main()
