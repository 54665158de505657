"""Potential-duplicate scoring of two Patients on the INS traits (identitovigilance, RNIV).

Pure functions, no database: :func:`compare` scores a pair from 0 to 100 and says which traits match, which
are close (a typing error, a compound name, inverted day and month…) and which differ; :func:`candidate_searches`
and :func:`block_keys` give the *blocks* (birth date, family name + birth year, family + first given name, INS)
inside which candidates are looked for, so that nobody compares every pair of 100 000 patients.

Traits (``../shared/specs/french-interop.md`` §1.3, FR Core ``fr-core-patient-ins``):

* birth family name: ``name`` with ``use = official``, else the first name that has a family;
* first birth given name: the first ``given`` of that name;
* list of birth given names: the name's extension ``fr-core-patient-birth-list-given-name`` (space separated),
  else every ``given`` of that name;
* birth date, sex (``unknown`` / ``other`` count as not known), birth place (the INSEE code in
  ``patient-birthPlace`` → ``fr-core-address-insee-code``; the city when there is no code);
* used names (``use = usual``): a birth name entered as the used name of the other record (married names);
* the INS matricule: the same INS is a certain duplicate, two different INS of the same system are two
  different persons (homonymes) whatever their traits.

Comparison ignores accents, case, hyphens, apostrophes and spaces ("Marie-Thérèse" = "MARIE THERESE",
"LE GALL" = "LEGALL"), tolerates one typing error (optimal string alignment distance: one substitution,
insertion, deletion or transposition of adjacent letters), a compound name against one of its parts, inverted
day and month, a one-digit error in the birth date, and family and given names entered the wrong way round.

Score: each trait has a weight (:data:`WEIGHTS`, total 100) and earns a share of it — 1 when equal, a partial
credit when close, 0 when different, :data:`MISSING_CREDIT` when one record lacks it (unknown, not evidence
either way). Then the caps: a different sex caps the score at :data:`SEX_CONFLICT_CAP` (sex miscoded, or two
persons), clearly different first given names at :data:`GIVEN_CONFLICT_CAP` (twins and siblings share
everything else), clearly different birth dates at :data:`DATE_CONFLICT_CAP` (homonymes). Grades: ``certain``
(same INS), ``probable`` (≥ :data:`PROBABLE`), ``possible`` (≥ :data:`POSSIBLE`), ``unlikely``,
``certainly-not`` (different INS). A merge is always a human decision of the
identitovigilance cell: even ``certain`` only proposes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from fhirserver.identity.ins import ins_system_info
from fhirserver.identity.traits import fold
from fhirserver.search.values import normalize_string

#: "doublon probable" from this score on
PROBABLE = 90
#: "doublon possible" from this score on (the default threshold of ``$duplicates``)
POSSIBLE = 70
#: weight of each trait (sum 100)
WEIGHTS: dict[str, int] = {
    "birth-family-name": 25,
    "first-given-name": 25,
    "birth-date": 25,
    "sex": 10,
    "birth-place": 10,
    "given-names": 5,
}
#: share of a trait's weight earned when one record lacks the trait
MISSING_CREDIT = 0.5
#: credit of a one-character difference, a compound name against one of its parts
CLOSE_NAME_CREDIT = 0.85
#: credit of a birth name found as the used name of the other record
USED_NAME_CREDIT = 0.8
#: credit of family and given names entered the wrong way round
SWAPPED_NAMES_CREDIT = 0.8
#: credit of the first given name found elsewhere in the other's list of given names
OTHER_GIVEN_CREDIT = 0.6
#: credit of inverted day and month, of a one-digit error in the birth date, of a compatible partial date
SWAPPED_DATE_CREDIT = 0.8
DATE_TYPO_CREDIT = 0.7
PARTIAL_DATE_CREDIT = 0.5
SEX_CONFLICT_CAP = 85
GIVEN_CONFLICT_CAP = 60
DATE_CONFLICT_CAP = 60
#: an identical non-INS identifier (same system and value, e.g. the same IPP imported twice)
SAME_IDENTIFIER_FLOOR = 95

#: the best score of a pair where no name (family or given, any use) of one is close to a name of the other:
#: no family credit, at most the given-list credit for the first given name, every other trait equal. Above
#: it, pairs without any close name can be skipped before reading them (the listing does).
NO_CLOSE_NAME_MAX = (OTHER_GIVEN_CREDIT * WEIGHTS["first-given-name"] + WEIGHTS["birth-date"] + WEIGHTS["sex"]
                     + WEIGHTS["birth-place"] + WEIGHTS["given-names"])

EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
EXT_BIRTH_GIVEN_LIST = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
#: identifier types that are no INS matricule although their system may be an INS OID (the NSS slice)
_NOT_INS_TYPES = frozenset({"NH"})
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})


# --- normalisation and similarity ------------------------------------------------------------------

@lru_cache(maxsize=65536)
def normalize_name(value: str) -> str:
    """Accents, case, hyphens, apostrophes and punctuation removed, spaces collapsed:
    ``"Marie-Thérèse d'Aubigné"`` → ``"marie therese d aubigne"``."""
    return fold(value.translate(_LIGATURES))


def osa_distance(a: str, b: str, limit: int | None = None) -> int:
    """Optimal string alignment distance: substitutions, insertions, deletions and transpositions of two
    adjacent characters each cost 1 (``MRATIN`` → ``MARTIN`` is 1, where Levenshtein says 2). With ``limit``,
    any distance above it may be reported as ``limit + 1`` (the computation stops early)."""
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if limit is not None and min(cur) > limit and (i == 1 or min(prev) > limit):
            return limit + 1  # every later row is at least min(previous two rows)
        prev2, prev = prev, cur
    return prev[-1]


def is_typo(a: str, b: str) -> bool:
    """One typing error (two for long strings) between two normalised values, spaces ignored."""
    ca, cb = a.replace(" ", ""), b.replace(" ", "")
    longest = max(len(ca), len(cb))
    allowed = 2 if longest >= 10 else 1
    if longest < 4 or abs(len(ca) - len(cb)) > allowed:
        return False
    # each edit adds or removes at most one letter of each string's multiset: a cheap necessary condition
    ma, mb = Counter(ca), Counter(cb)
    if (ma - mb).total() > allowed or (mb - ma).total() > allowed:
        return False
    return osa_distance(ca, cb, allowed) <= allowed


@lru_cache(maxsize=65536)
def name_similarity(a: str, b: str) -> tuple[float, str]:
    """Credit (0–1) and explanation for two names (family or given)."""
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return 0.0, "empty"
    if na == nb:
        return 1.0, "identical" if a == b else "identical once accents, case and separators are ignored"
    if na.replace(" ", "") == nb.replace(" ", ""):
        return 1.0, "identical once spaces, hyphens and apostrophes are ignored"
    ta, tb = na.split(), nb.split()
    if set(ta) <= set(tb) or set(tb) <= set(ta):
        return CLOSE_NAME_CREDIT, "compound name: one contains the other"
    if is_typo(na, nb):
        return CLOSE_NAME_CREDIT, "one-character difference (typing error?)"
    return 0.0, "different"


# --- traits ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Traits:
    """The identity traits of one Patient, as read for matching."""

    birth_family: str | None = None
    first_given: str | None = None
    given_list: tuple[str, ...] = ()
    used_families: tuple[str, ...] = ()
    birth_date: str | None = None
    sex: str | None = None
    birth_place_code: str | None = None
    birth_place_city: str | None = None
    #: (INS system OID, matricule) of the INS identifiers in use (not ``use = old``)
    ins: frozenset[tuple[str, str]] = frozenset()
    #: (system, value) of the other identifiers
    identifiers: frozenset[tuple[str, str]] = frozenset()


def _official_name(patient: Mapping[str, Any]) -> Mapping[str, Any] | None:
    names = [n for n in patient.get("name") or [] if isinstance(n, Mapping)]
    for name in names:
        if name.get("use") == "official" and name.get("family"):
            return name
    return next((n for n in names if n.get("family") and n.get("use") not in ("usual", "nickname", "old",
                                                                                "maiden")), None) or \
        next((n for n in names if n.get("family")), None)


def _birth_given_list(name: Mapping[str, Any] | None) -> tuple[str, ...]:
    if name is None:
        return ()
    for ext in name.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == EXT_BIRTH_GIVEN_LIST and isinstance(
                ext.get("valueString"), str):
            return tuple(normalize_name(ext["valueString"]).split())
    givens = [g for g in name.get("given") or [] if isinstance(g, str)]
    return tuple(normalize_name(" ".join(givens)).split())


def _birth_place(patient: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for ext in patient.get("extension") or []:
        if not isinstance(ext, Mapping) or ext.get("url") != EXT_BIRTH_PLACE:
            continue
        address = ext.get("valueAddress") or {}
        code = None
        for sub in address.get("extension") or []:
            if isinstance(sub, Mapping) and sub.get("url") == EXT_INSEE_CODE:
                code = (sub.get("valueCoding") or {}).get("code")
        city = address.get("city")
        return (code if isinstance(code, str) else None), (city if isinstance(city, str) else None)
    return None, None


def _is_ins(identifier: Mapping[str, Any]) -> bool:
    if ins_system_info(identifier.get("system")) is None:
        return False
    codes = {c.get("code") for c in (identifier.get("type") or {}).get("coding") or [] if isinstance(c, Mapping)}
    return not codes & _NOT_INS_TYPES


def ins_matricules(patient: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """(INS OID, matricule) of every INS identifier of ``patient`` still in use."""
    found = set()
    for ident in patient.get("identifier") or []:
        if isinstance(ident, Mapping) and _is_ins(ident) and ident.get("use") != "old" and isinstance(
                ident.get("value"), str):
            info = ins_system_info(ident.get("system"))
            assert info is not None
            found.add((info.oid, ident["value"].replace(" ", "").upper()))
    return frozenset(found)


def traits(patient: Mapping[str, Any]) -> Traits:
    official = _official_name(patient)
    givens = [g for g in (official or {}).get("given") or [] if isinstance(g, str)]
    used = tuple(n["family"] for n in patient.get("name") or [] if isinstance(n, Mapping)
                 and n.get("use") == "usual" and isinstance(n.get("family"), str))
    gender = patient.get("gender")
    code, city = _birth_place(patient)
    others = frozenset(
        (i["system"], i["value"]) for i in patient.get("identifier") or []
        if isinstance(i, Mapping) and isinstance(i.get("system"), str) and isinstance(i.get("value"), str)
        and not _is_ins(i))
    birth = patient.get("birthDate")
    return Traits(
        birth_family=(official or {}).get("family"),
        first_given=givens[0] if givens else None,
        given_list=_birth_given_list(official),
        used_families=used,
        birth_date=birth if isinstance(birth, str) else None,
        sex=gender if gender in ("male", "female") else None,
        birth_place_code=code,
        birth_place_city=city,
        ins=ins_matricules(patient),
        identifiers=others,
    )


# --- assessment ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TraitResult:
    """How one trait compares: ``match`` (equal), ``near`` (close), ``differ`` or ``missing`` (one side)."""

    trait: str
    outcome: str
    detail: str
    credit: float = 0.0


@dataclass(frozen=True)
class Assessment:
    score: int
    grade: str  # certain | probable | possible | unlikely | certainly-not
    results: tuple[TraitResult, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def matched(self) -> list[TraitResult]:
        return [r for r in self.results if r.outcome in ("match", "near")]

    @property
    def differing(self) -> list[TraitResult]:
        return [r for r in self.results if r.outcome == "differ"]


def grade_of(score: int) -> str:
    if score >= PROBABLE:
        return "probable"
    if score >= POSSIBLE:
        return "possible"
    return "unlikely"


def _missing(trait: str) -> TraitResult:
    return TraitResult(trait, "missing", "not known on both records", MISSING_CREDIT)


def _name_result(trait: str, a: str | None, b: str | None) -> TraitResult:
    if not a or not b:
        return _missing(trait)
    credit, why = name_similarity(a, b)
    outcome = "match" if credit == 1.0 else "near" if credit > 0 else "differ"
    return TraitResult(trait, outcome, why, credit)


def _family(a: Traits, b: Traits) -> TraitResult:
    result = _name_result("birth-family-name", a.birth_family, b.birth_family)
    if result.outcome not in ("differ",):
        return result
    pairs = [(x, y) for x in (a.birth_family, *a.used_families) for y in (b.birth_family, *b.used_families)]
    for x, y in pairs[1:]:
        if x and y and name_similarity(x, y)[0] >= CLOSE_NAME_CREDIT:
            return TraitResult("birth-family-name", "near", "the birth name of one record is a used name of "
                               "the other (married name?)", USED_NAME_CREDIT)
    return result


def _given(a: Traits, b: Traits) -> TraitResult:
    result = _name_result("first-given-name", a.first_given, b.first_given)
    if result.outcome != "differ" or not a.first_given or not b.first_given:
        return result
    ga, gb = normalize_name(a.first_given), normalize_name(b.first_given)
    if ga in b.given_list or gb in a.given_list:
        return TraitResult("first-given-name", "near", "the first given name of one record is in the other's "
                           "list of birth given names", OTHER_GIVEN_CREDIT)
    return result


def _given_list(a: Traits, b: Traits) -> TraitResult:
    if not a.given_list or not b.given_list:
        return _missing("given-names")
    if a.given_list == b.given_list:
        return TraitResult("given-names", "match", "same list of birth given names", 1.0)
    sa, sb = set(a.given_list), set(b.given_list)
    if sa <= sb or sb <= sa:
        return TraitResult("given-names", "near", "one list of given names contains the other", 0.7)
    if sa & sb:
        return TraitResult("given-names", "near", "some given names in common", 0.4)
    return TraitResult("given-names", "differ", "no given name in common", 0.0)


def swapped_date(value: str) -> str | None:
    """``1947-04-03`` → ``1947-03-04`` (day and month inverted), None when that is no other valid date."""
    if len(value) != 10:
        return None
    try:
        d = date.fromisoformat(value)
        swapped = date(d.year, d.day, d.month)
    except ValueError:
        return None
    return swapped.isoformat() if swapped != d else None


def _birth_date(a: Traits, b: Traits) -> TraitResult:
    trait = "birth-date"
    if not a.birth_date or not b.birth_date:
        return _missing(trait)
    da, db = a.birth_date[:10], b.birth_date[:10]
    if da == db:
        return TraitResult(trait, "match", "same birth date", 1.0)
    if len(da) == 10 and len(db) == 10:
        if swapped_date(da) == db:
            return TraitResult(trait, "near", "day and month inverted", SWAPPED_DATE_CREDIT)
        if osa_distance(da.replace("-", ""), db.replace("-", "")) == 1:
            return TraitResult(trait, "near", "one-digit difference (typing error?)", DATE_TYPO_CREDIT)
        return TraitResult(trait, "differ", "different birth dates", 0.0)
    if da.startswith(db) or db.startswith(da):
        return TraitResult(trait, "near", "a partial birth date compatible with the other", PARTIAL_DATE_CREDIT)
    return TraitResult(trait, "differ", "different birth dates", 0.0)


def _sex(a: Traits, b: Traits) -> TraitResult:
    if not a.sex or not b.sex:
        return _missing("sex")
    if a.sex == b.sex:
        return TraitResult("sex", "match", "same sex", 1.0)
    return TraitResult("sex", "differ", "different sex", 0.0)


def _birth_place_result(a: Traits, b: Traits) -> TraitResult:
    trait = "birth-place"
    if a.birth_place_code and b.birth_place_code:
        if a.birth_place_code == b.birth_place_code:
            return TraitResult(trait, "match", "same INSEE code of the birth place", 1.0)
        return TraitResult(trait, "differ", "different INSEE codes of the birth place", 0.0)
    if a.birth_place_city and b.birth_place_city:
        if normalize_name(a.birth_place_city) == normalize_name(b.birth_place_city):
            return TraitResult(trait, "near", "same birth place city (no INSEE code on both)", 0.8)
        return TraitResult(trait, "differ", "different birth place cities", 0.0)
    return _missing(trait)


def compare(pa: Mapping[str, Any], pb: Mapping[str, Any]) -> Assessment:
    """Score two Patients as potential duplicates (0–100) with the reasons."""
    return compare_traits(traits(pa), traits(pb))


def compare_traits(a: Traits, b: Traits) -> Assessment:
    """:func:`compare` on traits already read (a listing reads each patient's traits once)."""
    family, given = _family(a, b), _given(a, b)
    if family.outcome == "differ" and given.outcome == "differ" and a.birth_family and b.birth_family \
            and a.first_given and b.first_given \
            and name_similarity(a.birth_family, b.first_given)[0] >= CLOSE_NAME_CREDIT \
            and name_similarity(a.first_given, b.birth_family)[0] >= CLOSE_NAME_CREDIT:
        why = "family and given names entered the wrong way round"
        family = TraitResult("birth-family-name", "near", why, SWAPPED_NAMES_CREDIT)
        given = TraitResult("first-given-name", "near", why, SWAPPED_NAMES_CREDIT)
    results = (family, given, _birth_date(a, b), _sex(a, b), _birth_place_result(a, b), _given_list(a, b))
    raw = sum(WEIGHTS[r.trait] * r.credit for r in results)
    score = round(raw)
    notes: list[str] = []
    by_trait = {r.trait: r for r in results}
    if by_trait["sex"].outcome == "differ" and score > SEX_CONFLICT_CAP:
        score = SEX_CONFLICT_CAP
        notes.append(f"different sex: score capped at {SEX_CONFLICT_CAP}")
    if given.outcome == "differ" and score > GIVEN_CONFLICT_CAP:
        score = GIVEN_CONFLICT_CAP
        notes.append(f"different first given names (twins, siblings?): score capped at {GIVEN_CONFLICT_CAP}")
    if by_trait["birth-date"].outcome == "differ" and score > DATE_CONFLICT_CAP:
        score = DATE_CONFLICT_CAP
        notes.append(f"different birth dates (homonymes?): score capped at {DATE_CONFLICT_CAP}")
    shared_ins = a.ins & b.ins
    if shared_ins:
        ins = TraitResult("ins", "match", "same INS matricule", 1.0)
        return Assessment(100, "certain", (ins, *results), tuple(notes))
    systems_a, systems_b = {s for s, _ in a.ins}, {s for s, _ in b.ins}
    if systems_a & systems_b:
        ins = TraitResult("ins", "differ", "different INS matricules: two different persons (homonymes)", 0.0)
        return Assessment(0, "certainly-not", (ins, *results), tuple(notes))
    if a.ins and b.ins:
        notes.append("INS matricules of different systems (NIA and NIR?): compare them by hand")
    shared = a.identifiers & b.identifiers
    if shared:
        system = sorted(shared)[0][0]
        ident = TraitResult("identifier", "match", f"same identifier in system {system}", 1.0)
        score = max(score, SAME_IDENTIFIER_FLOOR)
        return Assessment(score, grade_of(score), (ident, *results), tuple(notes))
    return Assessment(score, grade_of(score), results, tuple(notes))


def names_close(names_a: Iterable[str], names_b: Iterable[str]) -> bool:
    """True when some name of one patient is close to some name of the other (:func:`name_similarity` > 0)."""
    return any(name_similarity(x, y)[0] > 0 for x in names_a for y in names_b)


# --- blocking --------------------------------------------------------------------------------------

def family_key(value: str) -> str:
    """The prefix a family-name block searches with: the indexed form (:func:`normalize_string`) cut at the
    first space, hyphen or apostrophe when what precedes has 3 letters or more (``dupont-martin`` → ``dupont``,
    ``le gall`` stays ``le gall``). The ``family`` search parameter matches it as a prefix."""
    norm = normalize_string(value)
    for i, c in enumerate(norm):
        if c in " -'’":
            return norm[:i] if i >= 3 else norm
    return norm


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")


def candidate_searches(patient: Mapping[str, Any]) -> list[list[tuple[str, str]]]:
    """Patient search parameters of the blocks ``patient``'s duplicates are looked for in (each a search
    of its own, on indexed parameters): same birth date, the day-and-month-inverted date, family name + birth
    year, family + first given name, the names the wrong way round, the same INS."""
    t = traits(patient)
    searches: list[list[tuple[str, str]]] = []
    if t.birth_date and len(t.birth_date) >= 10:
        searches.append([("birthdate", t.birth_date[:10])])
        swapped = swapped_date(t.birth_date[:10])
        if swapped:
            searches.append([("birthdate", swapped)])
    families = {family_key(f) for f in (t.birth_family, *t.used_families) if f}
    families.discard("")
    given = family_key(t.first_given) if t.first_given else ""
    for fam in sorted(families):
        if t.birth_date and len(t.birth_date) >= 4:
            searches.append([("family", _escape(fam)), ("birthdate", t.birth_date[:4])])
        if given:
            searches.append([("family", _escape(fam)), ("given", _escape(given))])
            searches.append([("family", _escape(given)), ("given", _escape(fam))])
    for oid, value in sorted(t.ins):
        searches.append([("identifier", f"urn:oid:{oid}|{value}")])
    return searches


def block_keys(birth: tuple[date, date] | None, families: Iterable[str], givens: Iterable[str]
               ) -> set[tuple[str, ...]]:
    """Blocking keys of one patient from its *indexed* values (the birthdate range [low, high), the indexed
    family and given names), for the system-wide listing: the same keys as :func:`candidate_searches`."""
    keys: set[tuple[str, ...]] = set()
    fams = {family_key(f) for f in families} - {""}
    first_givens = {family_key(g) for g in givens} - {""}
    if birth is not None:
        low, high = birth
        if high - low == timedelta(days=1):
            iso = low.isoformat()
            swapped = swapped_date(iso) or iso
            keys.add(("date", min(iso, swapped), max(iso, swapped)))
        if high - low <= timedelta(days=366):
            keys.update(("family-year", f, str(low.year)) for f in fams)
    for f in fams:
        for g in first_givens:
            keys.add(("names", *sorted((f, g))))
    return keys
