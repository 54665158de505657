"""PDF renderings of FHIR content for N1 CDA documents (fpdf2): :mod:`mappings.pdf.projet_personnalise`."""
