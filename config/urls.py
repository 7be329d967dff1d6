"""Top-level routes: the API, the admin, Prometheus metrics, and the editor (SPA) everywhere else."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path, re_path
from django_prometheus import exports


def editor(request: HttpRequest) -> HttpResponse:
    """Serve the editor's index.html for client-side routes (the build is in frontend/dist)."""
    if not (settings.FRONTEND_DIST / "index.html").exists():
        return JsonResponse(
            {
                "type": "not_found",
                "detail": "The editor is not built: run `make frontend` (or `make run`).",
                "errors": [],
            },
            status=404,
        )
    return render(request, "index.html")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return JsonResponse({"type": "not_found", "detail": "Not found.", "errors": []}, status=404)


handler404 = not_found
handler500 = "api.exceptions.server_error"  # a 503 for an unreachable database or broker, else a 500

urlpatterns = [
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("metrics", exports.ExportToDjangoView, name="prometheus-django-metrics"),
    # Client-side routes of the editor; a missing asset file (e.g. an old build's bundle) is a 404.
    re_path(r"^(?!api/|admin/|static/|assets/|metrics)[^.]*$", editor, name="editor"),
]
