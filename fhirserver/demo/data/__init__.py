"""The reference data the demo generator draws from: names, communes, clinical catalogues, roles, care contents.

Pure data (frozen dataclasses, lists and dicts): no randomness and no FHIR building here.
"""
