"""Swagger UI for the API (`/api/docs/`), for signed-in users, working without internet.

Its scripts and styles are drf-spectacular-sidecar's static files served by this app
(`SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] = "SIDECAR"`), never a CDN. A signed-out browser is
sent to the sign-in page with a `next` back here instead of a bare 401; API clients (no
`Accept: text/html`) keep the API's 401, like the OpenAPI document `/api/schema/`. The sign-in
page is the admin's: the editor's sign-in (`/login`) returns into the editor's own routes only.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import exceptions
from rest_framework.request import Request


def wants_html(request: Request) -> bool:
    return "text/html" in request.META.get("HTTP_ACCEPT", "")


class SwaggerUIView(SpectacularSwaggerView):
    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed) and wants_html(self.request):
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)
