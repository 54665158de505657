"""Exchanges with the outside world: the DMP (XDS.b + VIHF, PDSm), MSSanté, and the outbox that delivers them."""
