"""CI-SIS sections of the structured documents, one module per section family (each builds its narrative and
its entries from FHIR resources)."""
