"""The audit trail: an AuditEvent for every FHIR access of an authenticated caller, and for login, token and
consent events; searchable by staff and by the usager; purged after ``[audit] retention_days``. See
:mod:`fhirserver.audit.trail` and ``fhirserver/audit/README.md``."""
