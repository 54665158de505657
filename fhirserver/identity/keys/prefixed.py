"""National ids made of a one-character type prefix followed by an identifier: the IDNPS (PS_IdNat, TRE_G08) and
the Struct_IdNat (french-interop.md §2.2, ``ansforge/interop-ig-portabilite`` PSIdNat.fsh, StructIdNat.fsh).

Both are read by :func:`read_prefixed` with a :class:`PrefixScheme` saying which prefixes exist, which of them
carry an identifier this package can check (RPPS, ADELI, FINESS, SIREN, SIRET) and what a value with an unknown
prefix is. The rest of the value after such a prefix is opaque: any visible ASCII characters, case kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from fhirserver.identity.keys.common import IdentifierError, canonical

_OPAQUE = re.compile(r"[!-~]+")  # visible ASCII, no whitespace

K = TypeVar("K", bound=str)


class Checked(Protocol):
    """The result of a ``check_*`` function: its canonical ``value``."""

    @property
    def value(self) -> str: ...


@dataclass(frozen=True)
class PrefixScheme(Generic[K]):
    """How one kind of prefixed national id is read.

    ``label`` names it in messages ("IDNPS"); ``kinds`` maps each prefix to what follows it; ``checkers`` maps
    some of those kinds to the check function of the identifier they carry (the other kinds are opaque);
    ``fallback`` is the kind of a value starting with none of the prefixes (the whole value is then the number,
    with an empty prefix), or None when such a value is refused.
    """

    label: str
    kinds: Mapping[str, K]
    checkers: Mapping[str, Callable[[str], Checked]] = field(default_factory=dict)
    fallback: K | None = None

    def expected_prefixes(self) -> str:
        """``0 (ADELI), 1 (cabinet ADELI) ... or 8 (RPPS)``: the known prefixes, for messages."""
        names = [f"{prefix} ({kind})" for prefix, kind in self.kinds.items()]
        return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def read_prefixed(value: str, scheme: PrefixScheme[K]) -> tuple[str, str, K, str]:
    """Check ``value`` against ``scheme``; return its canonical form, prefix, kind and number.

    The value is only stripped (these ids may be case-sensitive registry ids), must be visible ASCII, needs a
    number after a known prefix, and that number must pass the check of its kind when the scheme has one; a
    failure of that nested check is reported with the problem and expected key of the nested identifier.
    """
    label = scheme.label
    compact = canonical(value, label, opaque=True)
    if _OPAQUE.fullmatch(compact) is None:
        raise IdentifierError(
            label, "format", f"{label} {compact}: only visible ASCII characters are allowed", value=value
        )
    prefix, number = compact[0], compact[1:]
    kind = scheme.kinds.get(prefix)
    if kind is None:
        if scheme.fallback is not None:
            return compact, "", scheme.fallback, compact
        raise IdentifierError(
            label,
            "prefix",
            f"{label} {compact}: unknown prefix {prefix}, expected {scheme.expected_prefixes()}",
            value=value,
        )
    if not number:
        raise IdentifierError(
            label, "length", f"{label} {compact}: the number after prefix {prefix} is missing", value=value
        )
    check = scheme.checkers.get(kind)
    if check is not None:
        try:
            number = check(number).value
        except IdentifierError as exc:
            raise IdentifierError(
                label,
                exc.problem,
                f"{label} {compact} (prefix {prefix} = {kind}): {exc}",
                value=value,
                expected=exc.expected,
            ) from exc
    return prefix + number, prefix, kind, number
