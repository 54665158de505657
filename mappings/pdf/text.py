"""Text for the fpdf2 core fonts (Helvetica), which encode Latin-1 only.

French text is Latin-1 except for a few typographic characters; they are transliterated, a documented and
deterministic choice (the PDF must be identical on every machine, so no system font is looked up):
``œ Œ`` -> ``oe OE``, ``’ ‘ ‚`` -> ``'``, ``“ ” „`` -> ``"``, ``– — ‑`` -> ``-``, ``…`` -> ``...``, ``€`` ->
``EUR``, ``•`` -> ``-``, narrow / non-breaking spaces -> space, ``Ÿ`` -> ``Y``. « » é è ê à ç ô û ï … are Latin-1
and kept. Any other character outside Latin-1 loses its accents (NFKD) or becomes ``?``.
"""

from __future__ import annotations

import unicodedata

__all__ = ["TRANSLITERATION", "latin1"]

TRANSLITERATION = {
    "œ": "oe", "Œ": "OE", "’": "'", "‘": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
    "‑": "-", "…": "...", "€": "EUR", "•": "-", "\u202f": " ", "\u2009": " ", "\u2007": " ", "Ÿ": "Y",
    "\u00a0": " ", "‹": "<", "›": ">", "™": "(TM)",
}


def latin1(text: str) -> str:
    """``text`` with every character encodable in Latin-1 (see the module docstring)."""
    out = []
    for char in text:
        if char in TRANSLITERATION:
            out.append(TRANSLITERATION[char])
        elif ord(char) < 256:
            out.append(char)
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if ord(c) < 256
                            and not unicodedata.combining(c))
            out.append(plain or "?")
    return "".join(out)
