"""Executions: runs of a schema, their checkpointed state, recorded steps and timers."""
