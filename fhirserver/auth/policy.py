"""The SMART scope access policy: the :class:`fhirserver.interactions.context.AccessPolicy` every FHIR interaction
calls (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html; ASVS 8.2.2 data-level authorization).

The principal comes from the request (``FhirRequest.principal``, set from the bearer token), so one policy object
serves every request. No principal means an internal call (CLI, import, an open server with ``auth_required``
false): everything is allowed, as before authorization existed. Reads the policy needs run in the interaction's own
session (``FhirRequest.session``), so a transaction entry sees what earlier entries wrote.

Rules
- Interaction -> permission letter: create ``c``; read, vread, instance history ``r``; update, patch ``u``;
  delete ``d``; type / system search and history ``s``; a read-only operation ``r`` on its type, an operation that
  changes data ``u`` (and none of those for bounded tokens). v1 scopes are mapped to letters by
  :mod:`fhirserver.auth.scopes`. No scope covering the type and letter: 403.
- Reach (:mod:`fhirserver.auth.reach`): a usager reaches their own record(s); an aidant the usagers of their active
  delegations (:mod:`fhirserver.auth.delegation`); a professional the usagers of their structures and care teams.
- Compartment bound: ``patient/`` scopes reach the launch patient's compartment, if the launch patient is within the
  user's reach; ``user/`` scopes reach the compartments of every usager in reach; ``system/`` scopes are bounded by
  their scopes only. Types outside the Patient compartment (Practitioner, Organization, Medication …) are not
  bounded (Binary excepted, below). Bounded searches get a compartment clause over the set of usagers (SQL ``IN``);
  a resource outside the bound is "not found" (404: its existence does not leak); ``_has`` is refused to every
  bounded token and chained parameters on unbounded types too (they would probe other usagers' data); writes must
  stay inside the bound (403); conditional interactions and type/system history are refused when bounded;
  ``_include`` / ``_revinclude`` results and ``$everything`` entries outside the bound are left out (SMART lets the
  server filter a Bundle).
- Aidants read what their delegations permit (types and codes denied by a delegation are "not found") and write
  only with ``collect``: create, for the usagers of such delegations; never update, patch, delete, nor any Consent.
- Security labels (:mod:`fhirserver.auth.labels`): hidden resources are 404 on read and absent from searches,
  includes, history and ``$everything``.
- Binary is outside the Patient compartment: a bounded token reaches a Binary only through its ``securityContext``
  (the referenced resource must be visible to it), else 404; type searches of Binary are refused to bounded tokens.
- Filtered v2 scopes (``?category=…``, token parameters): a search gets the filter as a clause (several scopes
  filtering on the same parameter: their values OR'ed); every returned resource must match one granted filter.

``Patient.link`` (documented as SMART requires): a link to another Patient record grants nothing; the other record
is reachable only when it is in the user's reach (for a usager: the account is linked to it with
``dui users link``) and, for ``patient/`` scopes, it is the launch patient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fhirserver.auth import administration, labels, reach
from fhirserver.auth.principal import Principal
from fhirserver.auth.reach import Reach
from fhirserver.auth.scopes import ResourceScope
from fhirserver.errors import Forbidden, Issue, NotFound
from fhirserver.fhir.definitions import patient_compartment
from fhirserver.interactions.context import Context, FhirRequest
from fhirserver.search.extract import reference_values, token_values
from fhirserver.search.parse import ChainClause, HasClause, ParamClause, SearchQuery
from fhirserver.storage.base import StoredResource

T = TypeVar("T")
LETTERS = {"create": "c", "read": "r", "vread": "r", "update": "u", "patch": "u", "delete": "d",
           "search-type": "s", "search-system": "s", "search-compartment": "s", "operation": "r"}
WRITES = frozenset({"update", "patch", "delete"})


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
            bound = self._bound(request, granted, rt, write=letter == "c")
            if bound is None:
                bounds = None
            elif bounds is not None:
                bounds |= bound
        if self._bounded_principal(principal):
            self._check_aidant(request, interaction, types, writes)
            if types == ["Binary"]:
                self._check_binary(request, interaction)
            self._check_directory(request, interaction, types)
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
        personal = self._bounded_principal(principal)
        if personal and any(self._has_clause(c) for c in query.clauses):
            raise _forbid("_has is not available to tokens bounded by usagers' records")
        for rt in types:
            granted = self._granting(principal, rt, "s") or self._granting(principal, rt, "r")
            if not granted:
                continue  # the interaction's own check decided; nothing to bound here
            bound = self._bound(request, granted, rt)
            if bound is not None:
                bounded = True
                bounds |= bound
        if bounded:
            self._narrow_compartment(request, query, bounds)
        elif personal and any(isinstance(c, ChainClause) for c in query.clauses):
            raise _forbid("chained parameters on types outside the usagers' records are not available to "
                          "tokens bounded by usagers' records")
        self._narrow_labels(request, query)
        self._narrow_filters(principal, query)
        if bounded and (query.total != "none" or query.summary == "count"):
            query.excluded_rids = self._unseen(request, query)

    def can_see(self, request: FhirRequest, resource: dict[str, Any]) -> bool:
        principal = request.principal
        if not isinstance(principal, Principal):
            return True
        return self._visible(request, principal, resource, depth=0)

    def _visible(self, request: FhirRequest, principal: Principal, resource: dict[str, Any], depth: int) -> bool:
        rt = resource.get("resourceType")
        if not isinstance(rt, str):
            return False
        granted = [s for s in self._granting(principal, rt, "r") + self._granting(principal, rt, "s")
                   if not s.filters or self._matches(rt, resource, s.filters)]
        if not granted:
            return False
        kind = self._label_kind(request)
        if kind != "system":
            found = self._reach(request)
            if labels.hidden(resource, kind, found.identities):
                return False
            if rt == "Binary" and not self._binary_context_visible(request, principal, resource, depth):
                return False
        bound = self._bound(request, granted, rt)
        if bound is None:
            return True
        inside = self.compartments(resource) & bound
        if not inside:
            return False
        if kind != "aidant":
            return True
        return any(not d.excludes(resource) for p in inside for d in self._reach(request).delegations_for(p)
                   if "access" in d.actions)

    # --- reach and bounds ------------------------------------------------------------------------

    def _run(self, request: FhirRequest, fn: Callable[[Any], T]) -> T:
        """Run a read in the interaction's session when there is one (a transaction sees its own writes)."""
        if request.session is not None:
            return fn(request.session)
        return self.ctx.repo.run(fn, write=False)

    def _reach(self, request: FhirRequest) -> Reach:
        """The principal's reach, computed once per request (the principal is built for each request)."""
        principal = request.principal
        assert isinstance(principal, Principal)
        found = principal.memo.get("reach")
        if not isinstance(found, Reach):
            linked = sorted(principal.patients)
            found = self._run(request, lambda session: reach.compute(self.ctx, session, principal.fhir_user,
                                                                     linked))
            principal.memo["reach"] = found
        return found

    def _label_kind(self, request: FhirRequest) -> str:
        principal = request.principal
        assert isinstance(principal, Principal)
        if all(s.context == "system" for s in principal.scopes):
            return "system"
        return self._reach(request).kind

    @staticmethod
    def _bounded_principal(principal: Principal) -> bool:
        """True when some scope of the token is bounded by usagers' records (every patient/ and user/ scope)."""
        return any(s.context != "system" for s in principal.scopes)

    def _allowed(self, request: FhirRequest, scope: ResourceScope, write: bool = False) -> frozenset[str] | None:
        """The usagers whose records bound what ``scope`` grants (None: unbounded, system scopes)."""
        principal = request.principal
        assert isinstance(principal, Principal)
        if scope.context == "system":
            return None
        found = self._reach(request)
        patients = found.collect_patients if write and found.kind == "aidant" else found.patients
        if scope.context == "patient":
            return frozenset({principal.patient}) & patients if principal.patient else frozenset()
        return patients

    def _bound(self, request: FhirRequest, granted: list[ResourceScope], rt: str,
               write: bool = False) -> set[str] | None:
        """Patients whose compartments bound the access to ``rt``; None when unbounded."""
        if rt != "Patient" and rt not in patient_compartment() and rt not in ("Resource", "*"):
            return None
        bound: set[str] = set()
        for scope in granted:
            allowed = self._allowed(request, scope, write)
            if allowed is None:
                return None
            bound |= allowed
        found = self._reach(request)
        if found.kind == "aidant" and rt not in ("Resource", "*"):
            bound = {p for p in bound if any(rt not in d.denied_types for d in found.delegations_for(p))}
        return bound

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

    def _types(self, request: FhirRequest, interaction: str, resource_type: str | None) -> list[str]:
        if resource_type and resource_type != "*":
            return [resource_type]
        if interaction == "search-system" or (interaction == "history" and resource_type is None):
            requested = request.param("_type")
            if requested:
                return [t.strip() for t in requested.split(",") if t.strip()]
        return ["*"]

    # --- aidants and Binary --------------------------------------------------------------------------

    def _check_aidant(self, request: FhirRequest, interaction: str, types: list[str], writes: bool) -> None:
        if self._reach(request).kind != "aidant":
            return
        if interaction in WRITES or writes:
            raise _forbid("an aidant may add data (delegation with collect) but never change or delete it")
        if interaction == "create" and "Consent" in types:
            raise _forbid("an aidant cannot write Consents (delegations are granted by the usager or staff)")

    def _check_directory(self, request: FhirRequest, interaction: str, types: list[str]) -> None:
        """Directory records are written by administrators only: refuse everyone else before anything is read (the
        structure-level decision is :meth:`check_write`, on the final body)."""
        if interaction not in ("create", "update", "patch", "delete") or types[0] not in administration.DIRECTORY_TYPES:
            return
        try:
            administration.require_administrator(self._writer(request), types[0])
        except administration.Refusal as exc:
            raise _forbid(str(exc)) from None

    def _writer(self, request: FhirRequest) -> administration.Writer:
        found = self._reach(request)
        return administration.Writer(found.kind, found.administers, found.admits)

    def check_write(self, request: FhirRequest, resource_type: str, old: dict[str, Any] | None,
                    new: dict[str, Any] | None) -> None:
        """Judge one write of a record the reach is computed from (:mod:`fhirserver.auth.administration`):
        ``old`` is the stored version (None: a new record), ``new`` the final body (None: a delete)."""
        principal = request.principal
        if not isinstance(principal, Principal) or not self._bounded_principal(principal):
            return  # internal calls and system scopes: the scopes decided
        if resource_type not in administration.REACH_SOURCES:
            return
        writer = self._writer(request)

        def read(rt: str, rid: str) -> dict[str, Any] | None:
            return self._run(request, lambda session: reach.read(session, rt, rid))

        def roles_of(practitioner: str) -> list[dict[str, Any]]:
            params = [("practitioner", f"Practitioner/{practitioner}")]
            return self._run(request, lambda session: reach.find(self.ctx, session, "PractitionerRole", params))

        try:
            administration.check(writer, resource_type, old, new, read, roles_of)
        except administration.Refusal as exc:
            raise _forbid(str(exc)) from None

    def _check_binary(self, request: FhirRequest, interaction: str) -> None:
        segs = request.segments
        if interaction in ("search-type", "history") and len(segs) != 3:
            raise _forbid("Binary searches and type history are not available to tokens bounded by usagers' "
                          "records; read a Binary through the resource that references it")
        principal = request.principal
        assert isinstance(principal, Principal)
        if len(segs) >= 2 and segs[0] == "Binary" and interaction != "create":
            stored = self._run(request, lambda session: session.read("Binary", segs[1]))
            missing = stored is None or stored.deleted or stored.content is None
            if missing and interaction == "update":
                pass
            elif missing or not self._visible(request, principal, stored.content, depth=0):
                raise NotFound(f"Binary/{segs[1]} is not known")
        if (interaction in ("create", "update") and isinstance(request.body, dict)
                and not self._binary_context_visible(request, principal, request.body, depth=0)):
            raise _forbid("a Binary written with this token needs a securityContext the token can see")

    def _binary_context_visible(self, request: FhirRequest, principal: Principal, binary: dict[str, Any],
                                depth: int) -> bool:
        ref = (binary.get("securityContext") or {}).get("reference")
        if depth > 0 or not isinstance(ref, str) or ref.count("/") != 1 or ref.startswith("Binary/"):
            return False
        rt, rid = ref.split("/")
        stored = self._run(request, lambda session: session.read(rt, rid))
        if stored is None or stored.deleted or stored.content is None:
            return False
        return self._visible(request, principal, stored.content, depth=depth + 1)

    # --- bounded (compartment) access ------------------------------------------------------------

    def _check_bounded(self, request: FhirRequest, interaction: str, letter: str, types: list[str],
                       bounds: set[str]) -> None:
        segs = request.segments
        if interaction == "search-compartment":
            if segs[1] not in bounds:
                raise NotFound(f"Patient/{segs[1]} is not known")
            return
        if not bounds and interaction in ("create", "update"):
            raise _forbid("the token may not write to any usager's record")
        if interaction == "history" and len(segs) != 3:
            raise _forbid("type and system history are not available to patient-bounded tokens")
        if request.header("if-none-exist"):
            raise _forbid("conditional create is not available to patient-bounded tokens")
        rt = types[0]
        # ``Type/_search`` and ``Type/_history`` are no instance (FHIR ids never start with "_" nor "$")
        instance = len(segs) >= 2 and not segs[1].startswith(("$", "_")) and segs[0] == rt
        if interaction in ("update", "patch", "delete") and not instance:
            raise _forbid("conditional update, patch and delete are not available to patient-bounded tokens")
        if interaction == "operation" and not instance and rt == "Patient":
            raise _forbid("type-level Patient operations are not available to patient-bounded tokens")
        if instance and interaction != "create":
            self._check_existing(request, rt, segs[1], bounds, interaction)
        operation = bool(segs) and segs[-1].startswith("$")  # $meta-add / $meta-delete: a Parameters body
        if interaction in ("create", "update") and isinstance(request.body, dict) and not operation:
            self._check_body(request, rt, request.body, bounds)

    def _check_existing(self, request: FhirRequest, rt: str, res_id: str, bounds: set[str],
                        interaction: str) -> None:
        """The instance must exist and be visible. An update of an id the token cannot see — free, deleted, of
        another usager, or hidden by a label — gets one and the same 404: update-as-create is not available to
        bounded tokens (they create with POST), so its answer cannot tell a free id from another usager's."""
        if rt != "Patient" and rt not in patient_compartment():
            return
        stored = self._run(request, lambda session: session.read(rt, res_id))
        text = f"{rt}/{res_id} is not known"
        if interaction == "update":
            text += " (tokens bounded by usagers' records create resources with POST, not PUT)"
        if stored is None or stored.content is None:
            raise NotFound(text)
        if not self.compartments(stored.content) & bounds or self._label_hidden(request, stored.content):
            raise NotFound(text)

    def _label_hidden(self, request: FhirRequest, resource: dict[str, Any]) -> bool:
        kind = self._label_kind(request)
        return kind != "system" and labels.hidden(resource, kind, self._reach(request).identities)

    def _check_body(self, request: FhirRequest, rt: str, body: dict[str, Any], bounds: set[str]) -> None:
        if rt != "Patient" and rt not in patient_compartment():
            return
        found = self.compartments(body)
        if rt == "Patient" and self._in_structures(request, body):
            return  # admitting a usager to one of the professional's structures
        if found and all(p in bounds or self._admitted(request, p) for p in found):
            return
        raise _forbid(f"the {rt} would be outside the record(s) this token may write to")

    def _admitted(self, request: FhirRequest, patient_id: str) -> bool:
        """A usager not in the reach computed for this request, that an earlier entry of the same transaction
        admitted to one of the professional's structures (read in the transaction's session)."""
        stored = self._run(request, lambda session: session.read("Patient", patient_id))
        patient = stored.content if stored is not None and not stored.deleted else None
        return patient is not None and self._in_structures(request, patient)

    def _in_structures(self, request: FhirRequest, patient: dict[str, Any]) -> bool:
        """True when a professional with user/ scopes writes a Patient managed by a structure where they may admit
        usagers (habilitation ``admission`` or ``administrateur``: :mod:`fhirserver.auth.administration`)."""
        found = self._reach(request)
        principal = request.principal
        assert isinstance(principal, Principal)
        if found.kind != "professional" or not any(s.context == "user" for s in principal.scopes):
            return False
        org = administration.org_id(patient.get("managingOrganization"))
        return org is not None and org in found.admits

    def _narrow_compartment(self, request: FhirRequest, query: SearchQuery, bounds: set[str]) -> None:
        segs = request.segments
        if len(segs) == 3 and segs[0] == "Patient" and segs[1] in bounds:
            return  # a compartment search on an allowed usager (the compartment is set by the search)
        ids = tuple(sorted(bounds))
        query.compartment = ("Patient", ids[0] if len(ids) == 1 else ids)  # no usager in reach: IN () matches none

    def _narrow_labels(self, request: FhirRequest, query: SearchQuery) -> None:
        """Push the labels the user may never see into the query (``:not`` clauses), so ``total`` is right."""
        kind = self._label_kind(request)
        single = query.resource_types[0] if len(query.resource_types) == 1 else ""
        params = labels.not_clauses(kind, single)
        if params:
            extra = self.ctx.parser.parse(query.resource_types, params, query.base_url)
            query.clauses.extend(c for c in extra.clauses if isinstance(c, ParamClause))

    def _unseen(self, request: FhirRequest, query: SearchQuery) -> frozenset[int]:
        """Storage ids of resources that match ``query`` but that the reader may not see for a reason the clauses
        do not express (a label on ``DocumentReference.securityLabel`` in a search of several types, ``MASQUE_PS``
        and its author exception, an aidant delegation's denied types and codes), so that ``total`` counts only what
        is returned. Computed only when a total is asked for.

        Usagers and aidants: every match is checked (their records are small; at most :data:`reach.LIMIT`).
        Professionals: only the resources carrying a visibility label are fetched and checked.
        """
        principal = request.principal
        assert isinstance(principal, Principal)
        kind = self._label_kind(request)
        if kind in ("usager", "aidant"):
            candidates = self._search_ids(request, query)
        else:
            candidates = []
            masked = ",".join(f"{system}|{labels.MASQUE_PS}" for system in labels.SYSTEMS)
            for rt, name in self._label_params(query.resource_types):
                labelled = SearchQuery(resource_types=(rt,), compartment=query.compartment,
                                       clauses=list(query.clauses) if rt in query.resource_types else [])
                extra = self.ctx.parser.parse((rt,), [(name, masked)])
                labelled.clauses.extend(c for c in extra.clauses if isinstance(c, ParamClause))
                candidates += self._search_ids(request, labelled)
        return frozenset(c.rid for c in candidates if not self._visible(request, principal, c.content or {}, 0))

    def _search_ids(self, request: FhirRequest, query: SearchQuery) -> list[StoredResource]:
        return self._run(request, lambda session: list(session.search_ids(query, reach.LIMIT)))

    def _label_params(self, types: tuple[str, ...]) -> list[tuple[str, str]]:
        """(type, parameter) pairs that find the labelled resources among ``types``."""
        out = [(t, "_security") for t in types]
        if "DocumentReference" in types or "Resource" in types:
            out.append(("DocumentReference", "security-label"))
        return out

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
        if rt == "Patient":  # its own compartment only: Patient.link grants nothing (see the module docstring)
            return {resource["id"]} if isinstance(resource.get("id"), str) else out
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
