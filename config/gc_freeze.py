"""Start-up objects out of the cyclic garbage collector's way, once a server process is ready.

Django, DRF, Celery and our modules leave ~150,000 container objects that live as long as the
process; every full collection walks all of them, and the allocations of ordinary requests trigger
one every few hundred requests. `gc.freeze()` (the standard library's answer for servers, see its
documentation) moves what exists at that moment into a permanent generation the collector skips;
what requests create is collected as before. Called by gunicorn after a worker has loaded the
application (`config/gunicorn.py`) and by the Celery worker once it is ready (`config/celery_app.py`).
"""

from __future__ import annotations

import gc


def freeze_after_startup(*, urls: bool = False) -> None:
    """Freezes the heap; `urls`: first import what an API's first request would (URLconf, views,
    serializers), so that it is frozen too (a worker never resolves a URL). A process whose
    application is not Django (the bench's ceiling, under the same gunicorn config) freezes as it is."""
    from django.apps import apps

    if urls and apps.ready:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 - the import of the URLconf is the point
    gc.collect()  # garbage of the start-up is freed, not frozen
    gc.freeze()
