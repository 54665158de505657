"""The two body formats of the FHIR ``patch`` interaction, as pure functions on FHIR JSON dicts.

* JSON Patch (RFC 6902, https://www.rfc-editor.org/rfc/rfc6902), applied with the ``jsonpatch`` library.
* FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): a ``Parameters`` resource whose ``operation``
  parameters add, insert, delete, replace or move elements designated by FHIRPath expressions.

See https://hl7.org/fhir/R4/http.html#patch for the interaction itself. Both functions work on a deep copy,
so a patch that fails part-way never leaves a half-patched resource behind, and the caller's dicts are never
modified. Any problem with the patch is reported as :class:`PatchError`.

FHIRPath evaluation returns values, not the places they live in, so this module resolves *locations* itself
from the expression's syntax tree (parsed by fhirpathpy). Supported path forms:

* member navigation from the resource type (``Patient.contact.name``) or from the resource (``contact.name``),
  including choice elements (``Observation.value`` finds ``valueQuantity``);
* indexers ``[n]`` and ``$this``;
* ``where(criteria)`` (criteria evaluated by fhirpathpy on each candidate), ``first()``, ``last()``,
  ``tail()``, ``skip(n)``, ``take(n)``, ``single()``, ``ofType(Type)`` and ``extension(url)``.

Cardinalities (is an element a list?) and the types of anonymous (backbone) values come from the
``fhir.resources.R4B`` models, which for these purposes match FHIR R4 4.0.1.

Layout: :mod:`.json_patch`; :mod:`.fhirpath_patch` (the operations) on top of :mod:`.paths` (FHIRPath parsing
and location resolution), :mod:`.locations` (elements and their ``_name`` twins) and :mod:`.structure` (the
R4B models); :mod:`.base` holds :class:`PatchError`.
"""

from __future__ import annotations

from fhirserver.fhir.patch.base import PatchError
from fhirserver.fhir.patch.fhirpath_patch import apply_fhirpath_patch
from fhirserver.fhir.patch.json_patch import apply_json_patch

__all__ = ["PatchError", "apply_fhirpath_patch", "apply_json_patch"]
