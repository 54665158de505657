"""FHIRPath invariants through fhirpathpy, compiled once, with a strict syntax check at load time.

fhirpathpy's parser recovers silently from syntax errors (``name.(`` evaluates to an empty collection, i.e. a
silently failing invariant); we re-run its ANTLR grammar with an error listener that raises, require the whole
input to be consumed, and evaluate the compiled expression once on an empty resource so that unknown functions
("Not implemented: foo") are also caught when the profile is loaded, not on a user's write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

CompiledPath = Callable[..., Any]
_MODEL = models["r4"]


class _Raise(ErrorListener):
    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
        raise ValueError(f"syntax error at column {column}: {msg}")


def check_syntax(expression: str) -> None:
    """Raise ValueError when ``expression`` is not a complete, well-formed FHIRPath expression."""
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    stream = CommonTokenStream(lexer)
    parser = FHIRPathParser(stream)
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise())
    parser.expression()
    if stream.LA(1) != Token.EOF:
        raise ValueError(f"unexpected {stream.LT(1).text!r} at column {stream.LT(1).column}")


def compile_invariant(expression: str, resource_type: str) -> CompiledPath:
    """Syntax-check, compile (R4 model, for choice types) and dry-run ``expression``."""
    check_syntax(expression)
    try:
        compiled: CompiledPath = fhirpathpy.compile(expression, _MODEL)
        compiled({"resourceType": resource_type})
    except Exception as exc:  # fhirpathpy raises bare Exceptions
        raise ValueError(str(exc) or type(exc).__name__) from exc
    return compiled


def holds(compiled: CompiledPath, node: Any) -> bool:
    """FHIR invariant semantics: the constraint holds when the expression yields exactly ``true``."""
    result = compiled(node)
    return isinstance(result, list) and len(result) == 1 and result[0] is True
