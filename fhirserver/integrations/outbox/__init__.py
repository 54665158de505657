"""Transactional outbox: delivery requests committed with the document, delivered by ``dui worker``."""
