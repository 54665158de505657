"""Server-rendered portals (usager/aidant, professionals): they arrive with the authorization issue.

They will act through :mod:`fhirserver.interactions` with the user's access policy, never through storage.
"""
