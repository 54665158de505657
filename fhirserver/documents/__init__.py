"""Documents of the DUI: gathering the FHIR data a CDA document needs, and validating CDA with the ANS kit."""
