"""Tests against the whole server: the ``dui`` command line, concurrency on a live multi-process server, and the
official R4 and FR Core examples loaded through the API.

Not to be confused with ``tests/integrations/``, which mirrors ``fhirserver/integrations`` (DMP, MSSanté, outbox).
"""
