"""Schema's execution engine: the Django-free core plus its Celery/Django adapters.

The core (`graph`, `nodes`, `expressions`, `validation`, `retry`, `store`, `walker`, `control`,
`memory_store`, `errors`) is pure Python and is driven through the `ExecutionStore` protocol, so it
can be unit-tested without a database; `tests/engine/test_no_django.py` enforces that. Adapters
that talk to the broker (`dispatch`, `queues`, `tasks`) live beside it. Importing this package is
deliberately cheap: settings import `engine.queues` at start-up.
"""
