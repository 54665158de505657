"""The SMART scope access policy: the :class:`fhirserver.interactions.context.AccessPolicy` every FHIR interaction
calls (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html; ASVS 8.2.2 data-level authorization).

The principal comes from the request (``FhirRequest.principal``, set from the bearer token), so one policy object
serves every request. No principal means an internal call (CLI, import, an open server with ``auth_required``
false): everything is allowed, as before authorization existed.

Rules
- Interaction -> permission letter: create ``c``; read, vread, instance history ``r``; update, patch ``u``;
  delete ``d``; type / system search and history ``s``; a read-only operation ``r`` on its type, an operation that
  changes data ``u`` (and none of those for patient-bounded tokens). v1 scopes are mapped to
  letters by :mod:`fhirserver.auth.scopes`. No scope covering the type and letter: 403.
- Compartment bound: ``patient/`` scopes reach the Patient compartment of the launch patient; ``user/`` scopes of a
  usager or an aidant (fhirUser Patient / RelatedPerson / Person) reach the compartments of the usagers the account is
  linked to. Types outside the Patient compartment (Practitioner, Organization, Medication …) are not bounded.
  Bounded searches get a compartment clause (one usager; several → the search must name one usager's compartment);
  a resource outside the bound is "not found" (404: its existence does not leak); ``_has`` and chained parameters
  on unbounded types are refused (they would probe other usagers' data); writes must stay inside the bound (403);
  conditional interactions and type/system history are refused when bounded; ``_include`` / ``_revinclude`` results
  and ``$everything`` entries outside the bound are left out (SMART lets the server filter a Bundle).
- Filtered v2 scopes (``?category=…``, token parameters): a search gets the filter as a clause (several scopes
  filtering on the same parameter: their values OR'ed); every returned resource must match one granted filter.

``Patient.link`` (documented as SMART requires): a link to another Patient record grants nothing; the other record
is reachable only when the account is linked to it (``dui users link``) or it is the launch patient.
"""

from __future__ import annotations

from typing import Any

from fhirserver.auth.principal import Principal
from fhirserver.auth.scopes import ResourceScope
from fhirserver.errors import Forbidden, Issue, NotFound
from fhirserver.fhir.definitions import patient_compartment
from fhirserver.interactions.context import Context, FhirRequest
from fhirserver.search.extract import reference_values, token_values
from fhirserver.search.parse import ChainClause, HasClause, ParamClause, SearchQuery

LETTERS = {"create": "c", "read": "r", "vread": "r", "update": "u", "patch": "u", "delete": "d",
           "search-type": "s", "search-system": "s", "search-compartment": "s", "operation": "r"}
_UNBOUNDED = object()


def _forbid(text: str) -> Forbidden:
    return Forbidden(text, [Issue(text, code="forbidden")])


class ScopePolicy:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- the AccessPolicy protocol ---------------------------------------------------------------

    def check(self, request: FhirRequest, interaction: str, resource_type: str | None) -> None:
        principal = request.principal
        if not isinstance(principal, Principal):
            return
        if interaction == "transaction":
            return  # every entry is checked as its own interaction
        segs = request.segments
        letter = LETTERS.get(interaction)
        if interaction == "history":
            letter = "r" if len(segs) == 3 else "s"
        writes = interaction == "operation" and not self._read_only_operation(request)
        if writes:
            letter = "u"  # an operation that changes data needs the update permission on its type
        if letter is None:
            raise _forbid(f"interaction {interaction!r} is not permitted with a SMART token")
        types = self._types(request, interaction, resource_type)
        bounds: set[str] | None = set()
        for rt in types:
            granted = self._granting(principal, rt, letter)
            if not granted:
                raise _forbid(f"the token's scopes do not permit {interaction} on {rt}"
                              f" (needs {'/'.join(('patient', 'user', 'system'))}/{rt}.{letter})")
            bound = self._bound(principal, granted, rt)
            if bound is None:
                bounds = None
            elif bounds is not None:
                bounds |= bound
        if bounds is None:
            return
        if writes:
            raise _forbid("operations that change data are not available to patient-bounded tokens")
        self._check_bounded(request, interaction, letter, types, bounds)

    def narrow(self, request: FhirRequest, query: SearchQuery) -> None:
        principal = request.principal
        if not isinstance(principal, Principal):
            return
        types = [t for t in query.resource_types]
        bounded, bounds = False, set()
        if any(self._has_clause(c) for c in query.clauses) and self._personal(principal):
            raise _forbid("_has is not available to patient-bounded tokens")
        for rt in types:
            granted = self._granting(principal, rt, "s") or self._granting(principal, rt, "r")
            if not granted:
                continue  # the interaction's own check decided; nothing to bound here
            bound = self._bound(principal, granted, rt)
            if bound is not None:
                bounded = True
                bounds |= bound
        if bounded:
            self._narrow_compartment(request, query, bounds)
        elif self._personal(principal) and any(isinstance(c, ChainClause) for c in query.clauses):
            raise _forbid("chained parameters on types outside the usager's record are not available to "
                          "patient-bounded tokens")
        self._narrow_filters(principal, query)

    @staticmethod
    def _personal(principal: Principal) -> bool:
        """True when some scope of the token is bounded by usagers' compartments."""
        return any(principal.allowed_patients(s) is not None for s in principal.scopes)

    def can_see(self, request: FhirRequest, resource: dict[str, Any]) -> bool:
        principal = request.principal
        if not isinstance(principal, Principal):
            return True
        rt = resource.get("resourceType")
        if not isinstance(rt, str):
            return False
        granted = [s for s in self._granting(principal, rt, "r") + self._granting(principal, rt, "s")
                   if not s.filters or self._matches(rt, resource, s.filters)]
        if not granted:
            return False
        bound = self._bound(principal, granted, rt)
        if bound is None:
            return True
        return bool(self.compartments(resource) & bound)

    # --- scopes ----------------------------------------------------------------------------------

    @staticmethod
    def _read_only_operation(request: FhirRequest) -> bool:
        from fhirserver.errors import FhirError
        from fhirserver.interactions.router import find_operation

        try:
            return find_operation(request.segments, "POST").read_only
        except FhirError:
            return False

    def _granting(self, principal: Principal, rt: str, letter: str) -> list[ResourceScope]:
        out = []
        for scope in principal.scopes:
            if not scope.covers_type(rt) or letter not in scope.letters:
                continue
            if scope.filters and not all(self._token_param(rt, name) for name, _ in scope.filters):
                continue  # filters are honoured on token parameters only: such a scope grants nothing
            out.append(scope)
        return out

    def _bound(self, principal: Principal, granted: list[ResourceScope], rt: str) -> set[str] | None:
        """Patients whose compartments bound the access to ``rt``; None when unbounded."""
        if rt != "Patient" and rt not in patient_compartment() and rt not in ("Resource", "*"):
            return None
        bound: set[str] = set()
        for scope in granted:
            allowed = principal.allowed_patients(scope)
            if allowed is None:
                return None
            bound |= allowed
        return bound

    def _types(self, request: FhirRequest, interaction: str, resource_type: str | None) -> list[str]:
        if resource_type and resource_type != "*":
            return [resource_type]
        if interaction == "search-system" or (interaction == "history" and resource_type is None):
            requested = request.param("_type")
            if requested:
                return [t.strip() for t in requested.split(",") if t.strip()]
        return ["*"]

    # --- bounded (compartment) access ------------------------------------------------------------

    def _check_bounded(self, request: FhirRequest, interaction: str, letter: str, types: list[str],
                       bounds: set[str]) -> None:
        segs = request.segments
        if not bounds:
            raise _forbid("the token has patient-level scopes but no patient in context")
        if interaction == "search-compartment":
            if segs[1] not in bounds:
                raise NotFound(f"Patient/{segs[1]} is not known")
            return
        if interaction == "history" and len(segs) != 3:
            raise _forbid("type and system history are not available to patient-bounded tokens")
        if request.header("if-none-exist"):
            raise _forbid("conditional create is not available to patient-bounded tokens")
        rt = types[0]
        instance = len(segs) >= 2 and not segs[1].startswith("$") and segs[0] == rt
        if interaction in ("update", "patch", "delete") and not instance:
            raise _forbid("conditional update, patch and delete are not available to patient-bounded tokens")
        if interaction == "operation" and not instance and rt == "Patient":
            raise _forbid("type-level Patient operations are not available to patient-bounded tokens")
        if instance and interaction != "create":
            self._check_existing(rt, segs[1], bounds, allow_missing=interaction == "update")
        if interaction in ("create", "update") and isinstance(request.body, dict):
            self._check_body(rt, request.body, bounds)

    def _check_existing(self, rt: str, res_id: str, bounds: set[str], allow_missing: bool) -> None:
        if rt != "Patient" and rt not in patient_compartment():
            return
        stored = self.ctx.repo.run(lambda session: session.read(rt, res_id), write=False)
        if stored is None and allow_missing:
            return
        if stored is None or stored.content is None:
            raise NotFound(f"{rt}/{res_id} is not known")
        if not self.compartments(stored.content) & bounds:
            raise NotFound(f"{rt}/{res_id} is not known")

    def _check_body(self, rt: str, body: dict[str, Any], bounds: set[str]) -> None:
        if rt != "Patient" and rt not in patient_compartment():
            return
        found = self.compartments(body)
        if not found or not found <= bounds:
            raise _forbid(f"the {rt} would be outside the record(s) this token may write to")

    def _narrow_compartment(self, request: FhirRequest, query: SearchQuery, bounds: set[str]) -> None:
        if not bounds:
            raise _forbid("the token has patient-level scopes but no patient in context")
        segs = request.segments
        if len(segs) == 3 and segs[0] == "Patient" and segs[1] in bounds:
            return  # a compartment search on an allowed usager (the compartment is set by the search)
        if len(bounds) != 1:
            raise _forbid("this token may act for several usagers: search one usager's compartment "
                          "(Patient/[id]/[type]) or use a token for one usager")
        (patient_id,) = tuple(bounds)
        query.compartment = ("Patient", patient_id)

    def _has_clause(self, clause: Any) -> bool:
        if isinstance(clause, HasClause):
            return True
        if isinstance(clause, ChainClause):
            return any(self._has_clause(inner) for _, inner in clause.inners)
        return False

    def compartments(self, resource: dict[str, Any]) -> set[str]:
        """The ids of the Patients whose compartment ``resource`` belongs to (relative references only)."""
        rt = resource.get("resourceType")
        out: set[str] = set()
        if rt == "Patient" and isinstance(resource.get("id"), str):
            out.add(resource["id"])
        for code in patient_compartment().get(str(rt), ()):
            sp = self.ctx.registry.get(str(rt), code)
            if sp is None or sp.evaluate is None:
                continue
            try:
                nodes = sp.evaluate(resource)
            except Exception:  # noqa: BLE001 - an expression that fails on this resource places it nowhere
                continue
            for node in nodes or []:
                for row in reference_values(node, sp.targets):
                    url = row.get("url") or ""
                    if row.get("target_type") == "Patient" and row.get("target_id") and "://" not in url:
                        out.add(str(row["target_id"]))
        return out

    # --- filtered (granular) scopes ----------------------------------------------------------------

    def _token_param(self, rt: str, name: str) -> bool:
        if rt == "*":
            return False
        sp = self.ctx.registry.get(rt, name)
        return sp is not None and sp.type == "token" and sp.evaluate is not None

    def _matches(self, rt: str, resource: dict[str, Any], filters: tuple[tuple[str, str], ...]) -> bool:
        for name, value in filters:
            sp = self.ctx.registry.get(rt, name)
            if sp is None or sp.evaluate is None:
                return False
            system, sep, code = value.rpartition("|") if "|" in value else (None, "", value)
            try:
                nodes = sp.evaluate(resource) or []
            except Exception:  # noqa: BLE001
                return False
            hit = False
            for node in nodes:
                for sys_, code_, _ in token_values(node):
                    if code and code_ != code:
                        continue
                    if sep and system and sys_ != system:
                        continue
                    if sep and not system and sys_:
                        continue
                    hit = True
            if not hit:
                return False
        return True

    def _narrow_filters(self, principal: Principal, query: SearchQuery) -> None:
        for rt in query.resource_types:
            granted = self._granting(principal, rt, "s")
            if not granted or any(not s.filters for s in granted):
                continue
            names = {tuple(sorted({n for n, _ in s.filters})) for s in granted}
            if len(granted) == 1:
                params = list(granted[0].filters)
            elif len(names) == 1 and len(next(iter(names))) == 1:
                name = next(iter(names))[0]
                params = [(name, ",".join(v for s in granted for _, v in s.filters))]
            else:
                raise _forbid(f"the granted {rt} scopes filter on different parameters; search with one of them")
            if len(query.resource_types) != 1:
                raise _forbid(f"filtered {rt} scopes: search {rt} on its own (not several types at once)")
            extra = self.ctx.parser.parse((rt,), params, query.base_url)
            query.clauses.extend(c for c in extra.clauses if isinstance(c, ParamClause))
