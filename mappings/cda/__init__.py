"""CDA R2 (CI-SIS): datatypes, header, sections, documents (one module per ANS model), validation."""
