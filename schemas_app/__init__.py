"""Schemas: the node graphs users draw, their versions, validation and lifecycle services."""
