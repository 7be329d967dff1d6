"""Schema's execution engine: the pure core.

Graph, node types, expressions, validation, the walker (`walk`), the store protocol, retry and
limits — plain Python driven through the `ExecutionStore` protocol, so it runs and is tested without a
database or a broker. It imports nothing of Django, Celery, kombu or our apps: the adapters
(`executions_app`: tasks, dispatch, the PostgreSQL store) import it, never the reverse.
`tests/engine/test_no_django.py` and the import-linter contracts (`make lint`) hold that.
"""
