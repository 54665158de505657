"""Pure FHIR <-> CDA R2 (CI-SIS) transformations on lxml: no Flask, no SQLAlchemy (the documents issue)."""
