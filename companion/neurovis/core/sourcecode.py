"""What a piece of Python source *means*, independent of its layout.

``fingerprint(source)`` is a canonical dump of the source's syntax tree: comments, line breaks,
indentation, quotes, parentheses and implicit string concatenation leave it unchanged, while any
change of a name, constant, operator or statement changes it. Docstrings stay in it as their words
(re-wrapping a docstring is layout). It underlies ``results.code_hash`` (a reference result is
stale only when the code changed, not when it was reformatted) and ``python -m neurovis resync``
(a committed notebook takes new cell sources only when the change is formatting only).

The dump omits empty lists and ``None`` fields, so that it does not change when a Python release
adds an empty field to a node (``type_params`` in 3.12) or when ``ast.dump`` changes its defaults.
"""

from __future__ import annotations

import ast
import io
import tokenize

_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _canon(node, docstring: bool = False) -> str:
    if isinstance(node, ast.AST):
        parts = []
        for name, value in ast.iter_fields(node):
            if value is None or (isinstance(value, list) and not value):
                continue
            if (
                name == "body"
                and isinstance(node, _DOC_OWNERS)
                and value
                and _is_docstring(value[0])
            ):
                words = " ".join(value[0].value.value.split())
                body = ["Docstring(" + repr(words) + ")"] + [_canon(v) for v in value[1:]]
                parts.append("body=[" + ", ".join(body) + "]")
                continue
            parts.append(f"{name}={_canon(value)}")
        return f"{type(node).__name__}(" + ", ".join(parts) + ")"
    if isinstance(node, list):
        return "[" + ", ".join(_canon(v) for v in node) + "]"
    return repr(node)


def fingerprint(source: str, ipython: bool = False) -> str:
    """Canonical dump of the syntax tree of ``source`` (raises ``SyntaxError``). ``ipython``: the
    source is a notebook cell; its IPython syntax (``%magic``, ``!shell``) is translated first."""
    return _canon(ast.parse(python_of_cell(source) if ipython else source))


def python_of_cell(source: str) -> str:
    """The plain Python that IPython runs for a notebook cell (magics and ``!`` lines
    translated)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def ends_with_semicolon(source: str) -> bool:
    """True when the last token of a notebook cell (comments and blank lines aside) is ``;``:
    IPython then does not display the value of the cell's last expression. ``ast`` drops that
    semicolon, so a change of it is a change of the cell's output, not of its layout."""
    last = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (
                tokenize.COMMENT,
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENDMARKER,
            ):
                last = tok
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source.rstrip().endswith(";")
    return last is not None and last.type == tokenize.OP and last.string == ";"
