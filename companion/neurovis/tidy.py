"""``python -m neurovis format [PATH ...]``: ``ruff format`` plus the line-length fixes it leaves,
never changing what the code does.

``ruff format`` alone would drop the ``;`` that ends a chapter cell (in a notebook it hides the
cell's value), and it leaves every line that only a person could shorten: prose and long strings.
This command, file by file:

1. records the chapter cells (``notebooks/*.py``, jupytext percent format) whose last statement
   ends with ``;``, runs ``ruff format``, and puts each such ``;`` back with ``# fmt: skip``;
2. rewraps overlong prose at 100 characters with the same words: docstring paragraphs, comment
   blocks and the markdown cells of chapters (inline code and ``$math$`` are never broken, no line
   is made to start like a list item, headings, tables, fences and ``$$`` lines are left alone),
   and moves an overlong trailing comment onto its own line above the code;
3. splits overlong string literals at a space into implicit concatenations (``"ab " "cd"`` is the
   same constant), refills runs of such pieces, and runs ``ruff format`` again.

A file is written only when its syntax tree (``core.sourcecode.fingerprint``) and its cells'
trailing semicolons are unchanged; otherwise it is left as it was and reported. The lines still
over the limit are listed for a person (a display-math line, a heading, a long expression).
Then ``python -m neurovis resync`` carries the new cell sources into the executed notebooks.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

WIDTH = 100
_SKIP = "  # fmt: skip"


# ------------------------------------------------------------------------ chapter cells and ';'
def _cells(lines: list[str]) -> list[tuple[int, int]]:
    """(first line, end) of each percent-format cell, the marker line included."""
    starts = [i for i, line in enumerate(lines) if line.startswith("# %%")]
    return [(s, starts[k + 1] if k + 1 < len(starts) else len(lines)) for k, s in enumerate(starts)]


def _is_code(marker: str) -> bool:
    return "[markdown]" not in marker and "[md]" not in marker


def quiet_cells(text: str) -> list[int]:
    """Indices of the code cells whose source ends with ``;`` (IPython then shows no value)."""
    from .core.sourcecode import ends_with_semicolon

    lines = text.split("\n")
    return [
        k
        for k, (s, e) in enumerate(_cells(lines))
        if _is_code(lines[s]) and ends_with_semicolon("\n".join(lines[s + 1 : e]))
    ]


def _end_of_cell(lines, span):
    """(line index, column) where the last statement of a code cell ends."""
    s, e = span
    last = ast.parse("\n".join(lines[s + 1 : e])).body[-1]
    row = s + last.end_lineno
    return row, len(lines[row].encode()[: last.end_col_offset].decode())


def drop_semicolons(text: str, cells: list[int]) -> str:
    """Take the final ``;`` (and the ``# fmt: skip`` that kept it) off ``cells`` before
    ``ruff format``, which would otherwise drop it together with the blank line after it."""
    lines = text.split("\n")
    spans = _cells(lines)
    for k in cells:
        row, col = _end_of_cell(lines, spans[k])
        line = lines[row]
        m = re.match(r"^(\s*);(.*)$", line[col:])
        if not m:
            continue
        rest = m.group(2).rstrip()
        rest = "" if rest.strip() == "# fmt: skip" else rest.removesuffix(_SKIP)
        lines[row] = line[:col] + m.group(1) + rest if rest else line[:col]
    return "\n".join(lines)


def restore_semicolons(text: str, cells: list[int]) -> str:
    """Put back the ``;`` that ended each of ``cells`` (dropped by ``ruff format``), marked
    ``# fmt: skip`` so that the formatter keeps it."""
    from .core.sourcecode import ends_with_semicolon

    lines = text.split("\n")
    spans = _cells(lines)
    for k in cells:
        s, e = spans[k]
        body = "\n".join(lines[s + 1 : e])
        if ends_with_semicolon(body):
            continue
        last = ast.parse(body).body[-1]
        row = s + last.end_lineno
        line = lines[row]
        col = len(line.encode()[: last.end_col_offset].decode())
        rest = line[col:].rstrip()
        lines[row] = line[:col] + ";" + rest + _SKIP
        while isinstance(getattr(last, "orelse", None) or getattr(last, "body", None), list):
            last = (getattr(last, "orelse", None) or last.body)[-1]  # the innermost last statement
        call = last.value if isinstance(last, ast.Expr) else None
        if (
            len(lines[row]) > WIDTH
            and last.lineno == last.end_lineno
            and not rest
            and isinstance(call, ast.Call)
            and line[col - 1] == ")"
        ):  # one long line: the arguments on a line of their own, as ruff would lay them out
            ind = line[: len(line) - len(line.lstrip())]
            opening = len(line.encode()[: call.func.end_col_offset].decode())
            if line[opening] == "(":
                args = line[opening + 1 : col - 1].strip()
                if len(ind) + 4 + len(args) <= WIDTH:
                    lines[row] = f"{line[: opening + 1]}\n{ind}    {args}\n{ind});{_SKIP}"
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ prose
_START = re.compile(r"^([-*+] |\d+[.)] )")
_FIELD = re.compile(r"^[A-Za-z_][\w.]*(, [A-Za-z_][\w.]*)*: ")
_SPECIAL = re.compile(r"^(\||#|```|~~~|\$\$|:::|>|\{|%|!|\.\. |>>>|---|===)")
_BAD_START = re.compile(r"^([-+*>#=|]+|\d+[.)]|#.*)$")
_SHORT = 72  # a line shorter than this ends its paragraph: its break was meant
_RULE = re.compile(r"^(\s*)# (-{10,}) (.*)$")
_PRAGMA = re.compile(r"#\s*(noqa|fmt:|type:|pragma|pyright:|pylint:)")


def _indent(t: str) -> int:
    return len(t) - len(t.lstrip(" "))


def words(text: str) -> list[str]:
    """The words of ``text``; inline code (`...`, ``...``) and inline math ($...$) stay whole."""
    chars, in_code, in_math, i = list(text), 0, False, 0
    while i < len(chars):
        ch = chars[i]
        if ch == "`" and not in_math:
            n = 1
            while i + n < len(chars) and chars[i + n] == "`":
                n += 1
            in_code = n if not in_code else (0 if n == in_code else in_code)
            i += n
            continue
        if ch == "$" and not in_code and (i == 0 or chars[i - 1] != "\\"):
            if i + 1 < len(chars) and chars[i + 1] == "$":
                i += 1
            else:
                in_math = not in_math
        elif ch == " " and (in_code or in_math):
            chars[i] = "\0"
        i += 1
    if in_code or in_math:  # unbalanced: plain words
        return text.split()
    return [w.replace("\0", " ") for w in "".join(chars).split(" ") if w]


class _Prose:
    """Lines as (prefix, text): prefix None for lines that are not prose."""

    def __init__(self, prefixes, texts, docstring=False, width=WIDTH):
        self.p, self.t, self.doc, self.width = prefixes, texts, docstring, width

    def starts(self, j):
        t = self.t[j].lstrip()
        return bool(_START.match(t) or (self.doc and _FIELD.match(t)))

    def special(self, j):
        t = self.t[j].strip()
        return bool(_SPECIAL.match(t)) or t in ('"""', "'''")

    def same(self, i, j):
        return 0 <= j < len(self.t) and self.p[j] is not None and self.p[j] == self.p[i]

    def plain(self, j):
        return self.t[j].strip() and not self.special(j)

    def long(self, j):
        return len(self.p[j]) + len(self.t[j].rstrip()) >= _SHORT

    def reflow(self, i) -> tuple[int, int, list[str]] | str:
        """Refill the paragraph around line ``i``: (start, end, new texts) or why not."""
        if self.special(i):
            return "a heading, table, fence, math or directive line"
        s = i
        while (
            not self.starts(s)
            and self.same(i, s - 1)
            and self.plain(s - 1)
            and _indent(self.t[s - 1]) <= _indent(self.t[s])
            and not self.t[s - 1].rstrip().endswith("::")
            and self.long(s - 1)
        ):
            s -= 1
        first = _indent(self.t[s])
        m = _START.match(self.t[s].lstrip())
        cont = first + (len(m.group(1)) if m else 0)
        if s + 1 <= i and self.same(i, s + 1) and self.plain(s + 1) and not self.starts(s + 1):
            cont = _indent(self.t[s + 1])
        e = s + 1
        while (
            self.same(i, e)
            and self.plain(e)
            and not self.starts(e)
            and _indent(self.t[e]) == cont
            and not self.t[e - 1].rstrip().endswith("::")
            and (e - 1 <= i or self.long(e - 1))
        ):
            e += 1
        if e <= i:
            return "no paragraph found"
        ws = words(" ".join(t.strip() for t in self.t[s:e]))
        room = self.width - len(self.p[i])
        out, cur = [], " " * first
        for w in ws:
            cand = cur + " " + w if cur.strip() else cur + w
            if len(cand) > room and cur.strip():
                carry = []  # never start a line with what reads as a list marker or heading
                while _BAD_START.match(carry[0] if carry else w) and len(cur.split()) > 1:
                    cur, _, last = cur.rpartition(" ")
                    carry.insert(0, last)
                out.append(cur)
                cur = " " * cont + " ".join(carry + [w])
            else:
                cur = cand
        out.append(cur)
        return s, e, out

    def fix(self, problems, where, backwards=False):
        order = range(len(self.t) - 1, -1, -1) if backwards else range(len(self.t))
        k = order[0] if len(self.t) else 0
        step = -1 if backwards else 1
        while 0 <= k < len(self.t):
            if self.p[k] is not None and len(self.p[k]) + len(self.t[k].rstrip()) > self.width:
                r = self.reflow(k)
                if isinstance(r, str):
                    problems.append(f"{where}:{k + 1}: {r}")
                else:
                    s, e, new = r
                    pre = self.p[k]
                    self.t[s:e], self.p[s:e] = new, [pre] * len(new)
                    k = s - 1 if backwards else s + len(new)
                    continue
            k += step

    def lines(self):
        return [(p + t).rstrip() if p is not None else t for p, t in zip(self.p, self.t)]


def _docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                yield first


def _comments(lines):
    """{line index: column} of comments alone on their line, and of trailing comments."""
    alone, trailing = {}, {}
    toks = tokenize.generate_tokens(io.StringIO("\n".join(lines)).readline)
    for t in toks:
        if t.type == tokenize.COMMENT:
            (r, c) = t.start
            (alone if not lines[r - 1][:c].strip() else trailing)[r - 1] = c
    return alone, trailing


def move_trailing_comments(lines: list[str], width: int = WIDTH) -> list[str]:
    """Overlong trailing comments onto their own line(s) above the code (pragmas stay)."""
    lines = list(lines)
    _, trailing = _comments(lines)
    for k in sorted(trailing, reverse=True):
        line, c = lines[k], trailing[k]
        if len(line) <= width:
            continue
        code, comment = line[:c].rstrip(), line[c:]
        if len(code) > width or _PRAGMA.search(comment):
            continue  # left to the string splitter or to a person
        ind = " " * _indent(code)
        prose = _Prose([ind + "# "], [comment[1:].strip()], width=width)
        prose.fix([], "")
        lines[k : k + 1] = prose.lines() + [code]
    return lines


def rewrap(text: str, notebook: bool = False, width: int = WIDTH, where: str = ""):
    """(text with overlong prose rewrapped, [lines left for a person])."""
    problems: list[str] = []
    lines = text.split("\n")
    # docstrings, bottom up so that the line numbers above stay valid
    for d in sorted(_docstrings(ast.parse(text)), key=lambda d: -d.lineno):
        a, b = d.lineno - 1, d.end_lineno
        if not any(len(lines[k]) > width for k in range(a, b)):
            continue
        ind = d.col_offset
        own = [not lines[k][:ind].strip() for k in range(a, b)]
        prose = _Prose(
            [" " * ind if o else None for o in own],
            [lines[k][ind:] if o else lines[k] for k, o in zip(range(a, b), own)],
            docstring=True,
            width=width,
        )
        prose.fix(problems, f"{where}:{a + 1} (docstring)", backwards=True)
        lines[a:b] = prose.lines()
    lines = move_trailing_comments(lines, width)
    # comment blocks and markdown cells
    alone, _ = _comments(lines)
    header = set()
    if notebook:  # jupytext's YAML header
        for k, line in enumerate(lines):
            if line.startswith("# %%"):
                break
            header.add(k)
    prefixes, texts = [], []
    for k, line in enumerate(lines):
        c = alone.get(k)
        body = line[c + 1 :] if c is not None else None
        if c is None or k in header or line.startswith("# %%") or (body and body[0] != " "):
            prefixes.append(None)
            texts.append(line)
        else:
            prefixes.append(line[:c] + "# ")
            texts.append(body[1:])
    prose = _Prose(prefixes, texts, width=width)
    prose.fix(problems, where)
    lines = prose.lines()
    alone, _ = _comments(lines)
    out, in_math = [], False
    for k, line in enumerate(lines):
        m = _RULE.match(line)
        if k in alone and m and len(line) > width:  # "# ------ section": fewer dashes
            ind, dashes, title = m.groups()
            line = f"{ind}# {'-' * (len(dashes) - len(line) + width)} {title}"
        opens = notebook and k in alone and k not in header and line.startswith("# $$")
        if opens or in_math:  # display math, $$ ... $$: TeX ignores the line breaks
            closes = line.rstrip().endswith("$$") and (in_math or len(line.strip()) > 4)
            in_math = not closes
            out += _break_math(line, width)
        else:
            out.append(line)
    return "\n".join(out), problems


def _break_math(line: str, width: int) -> list[str]:
    """A markdown line of display math cut at spaces (never after a backslash)."""
    out = []
    while len(line) > width:
        cuts = [
            i
            for i in range(5, width)
            if line[i] == " " and line[i - 1] not in "\\ " and line[i + 1] != " "
        ]
        if not cuts:
            break
        out.append(line[: cuts[-1]])
        line = "#   " + line[cuts[-1] + 1 :]
    return out + [line]


# ---------------------------------------------------------------------------------- strings
def _split_points(body: str, f: bool) -> list[int]:
    """Where a string's content may be cut: after a space, outside f-string fields."""
    pts, depth, i = [], 0, 0
    while i < len(body):
        ch = body[i]
        if f and ch in "{}":
            if depth == 0 and body[i + 1 : i + 2] == ch:
                i += 2
                continue
            depth += 1 if ch == "{" else -1
        elif ch == " " and depth == 0 and body[i + 1 : i + 2] not in (" ", ""):
            if not body[:i].endswith("\\"):
                pts.append(i + 1)
        i += 1
    return pts


def split_strings(text: str, width: int = WIDTH) -> str:
    """Cut each string literal that crosses the limit into two adjacent literals (in parentheses
    where it stands outside brackets); ``ruff format`` then lays them out."""
    lines = text.split("\n")
    depth, at = 0, {}
    for t in tokenize.generate_tokens(io.StringIO(text).readline):
        if t.type == tokenize.OP and t.string in "([{":
            depth += 1
        elif t.type == tokenize.OP and t.string in ")]}":
            depth -= 1
        elif (
            t.type == tokenize.STRING
            and t.start[0] == t.end[0]
            and len(lines[t.start[0] - 1]) > width
        ):
            at.setdefault(t.start[0], []).append((t, depth))
    for row in sorted(at, reverse=True):
        line = lines[row - 1]
        crossing = [(t, d) for t, d in at[row] if t.start[1] < width - 1 < t.end[1]]
        if not crossing:
            continue
        tok, d = crossing[-1]
        m = re.match(r"^([rRbBuUfF]*)('|\")", tok.string)
        if not m or tok.string[len(m.group(1)) :].startswith(m.group(2) * 3):
            continue
        prefix, q = m.groups()
        body = tok.string[len(prefix) + 1 : -1]
        col, extra = tok.start[1], 0 if d else 1
        pts = [
            p
            for p in _split_points(body, "f" in prefix.lower())
            if p >= 10 and col + extra + len(prefix) + p + 2 <= width
        ]
        if not pts:
            continue
        p = pts[-1]
        a, b = f"{prefix}{q}{body[:p]}{q}", f"{prefix}{q}{body[p:]}{q}"
        pad = " " * (col + extra)
        head, tail = line[:col], line[tok.end[1] :]
        lines[row - 1] = f"{head}{a}\n{pad}{b}{tail}" if d else f"{head}({a}\n{pad}{b}){tail}"
    return "\n".join(lines)


def _string_line(line: str):
    """(indent, prefix, quote, content, trailing comma) of a line that is one string literal."""
    m = re.match(r"""^(\s*)([rRbBuUfF]*)(["'])(.*)\3(,?)$""", line)
    if not m:
        return None
    try:
        toks = [
            t
            for t in tokenize.generate_tokens(io.StringIO(line.strip()).readline)
            if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)
        ]
    except (tokenize.TokenError, SyntaxError):
        return None
    if [t.type for t in toks] not in ([tokenize.STRING], [tokenize.STRING, tokenize.OP]):
        return None
    if len(toks) == 2 and toks[1].string != ",":
        return None
    return m.groups()


def refill_strings(text: str, width: int = WIDTH) -> str:
    """Refill runs of string-literal lines (an implicit concatenation) that hold a short piece."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        g = _string_line(lines[i])
        if not g or g[4]:
            i += 1
            continue
        run, j = [g], i + 1
        while j < len(lines):
            h = _string_line(lines[j])
            if not h or h[:3] != g[:3]:
                break
            run.append(h)
            j += 1
            if h[4]:
                break
        if len(run) >= 2 and any(len(r[3]) < 30 for r in run):
            ind, prefix, q = g[:3]
            rest, comma, out = "".join(r[3] for r in run), run[-1][4], []
            room = width - len(ind) - len(prefix) - 2
            while len(rest) > room - len(comma):
                pts = [p for p in _split_points(rest, "f" in prefix.lower()) if p <= room]
                if not pts:
                    break
                out.append(rest[: pts[-1]])
                rest = rest[pts[-1] :]
            out.append(rest)
            new = [f"{ind}{prefix}{q}{piece}{q}" for piece in out]
            new[-1] += comma
            if max(map(len, new)) <= max(width, max(map(len, lines[i:j]))):
                lines[i:j] = new
                j = i + len(new)
        i = j
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ files
def _ruff_format(path: Path, root: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--quiet", "--force-exclude", str(path)],
        cwd=root,
        check=True,
    )


def tidy_file(path: Path, root: Path, width: int = WIDTH) -> list[str]:
    """Format one file (see the module's doc); returns what is left for a person."""
    from .core.sourcecode import fingerprint

    path = Path(path)
    before = path.read_text(encoding="utf-8")
    notebook = path.parent.name == "notebooks"
    quiet = quiet_cells(before) if notebook else []
    try:
        first = drop_semicolons(before, quiet) if quiet else before
        first = "\n".join(move_trailing_comments(first.split("\n"), width))
        if first != before:
            path.write_text(first, encoding="utf-8")
        _ruff_format(path, root)
        text = path.read_text(encoding="utf-8")
        if text == before and not any(len(line) > width for line in text.split("\n")):
            return []
        text = restore_semicolons(text, quiet)
        text, _ = rewrap(text, notebook, width, where=str(path))
        for _ in range(3):
            new = split_strings(text, width)
            if new == text:
                break
            path.write_text(new, encoding="utf-8")
            _ruff_format(path, root)
            text = path.read_text(encoding="utf-8")
        path.write_text(refill_strings(text, width), encoding="utf-8")
        _ruff_format(path, root)
        text = path.read_text(encoding="utf-8")
        same = fingerprint(before) == fingerprint(text) and quiet_cells(text) == quiet
    except Exception as e:  # never leave a half-formatted file
        path.write_text(before, encoding="utf-8")
        return [f"{path}: left unchanged ({type(e).__name__}: {e})"]
    if not same:
        path.write_text(before, encoding="utf-8")
        return [f"{path}: left unchanged (formatting would change its syntax tree or a ';')"]
    long = [
        f"{path}:{k}: {len(line)} characters"
        for k, line in enumerate(text.split("\n"), 1)
        if len(line) > width
    ]
    return long


def tidy(paths=None, root: Path | None = None) -> list[str]:
    """``tidy_file`` on every ``.py`` file under ``paths`` (default: companion/ and notebooks/)
    that the ruff configuration does not exclude."""
    from .core.data import repo_root

    root = Path(root) if root else repo_root()
    targets = [str(p) for p in paths] if paths else ["companion", "notebooks"]
    listed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-files", *targets],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    files = sorted({Path(f.strip()) for f in listed if f.strip().endswith(".py")})
    report = []
    for f in files:
        report += tidy_file(f if f.is_absolute() else root / f, root)
    return report
