"""Routes of the HTTP API (mounted at /api/)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from api.views.auth import CsrfView, LoginView, LogoutView, MeView, SessionView
from api.views.authoring import ExpressionPreviewView, NodeTestView, RunToNodeView
from api.views.credentials import CredentialViewSet
from api.views.docs import SwaggerUIView
from api.views.executions import ExecutionViewSet
from api.views.health import LiveView, ReadyView
from api.views.node_types import NodeTypeListView
from api.views.schemas import SchemaViewSet
from api.views.variables import VariableViewSet
from api.views.webhooks import WebhookView

router = DefaultRouter()
router.include_root_view = False
router.register("schemas", SchemaViewSet, basename="schema")
router.register("executions", ExecutionViewSet, basename="execution")
router.register("credentials", CredentialViewSet, basename="credential")
router.register("variables", VariableViewSet, basename="variable")

urlpatterns = [
    # First: the hottest route (Django tries the patterns in order; the router adds ~40 before it).
    path("hooks/<uuid:schema_id>/", WebhookView.as_view(), name="webhook"),
    path("", include(router.urls)),
    path("schemas/<uuid:schema_id>/preview-expression/", ExpressionPreviewView.as_view(), name="expression-preview"),
    path("schemas/<uuid:schema_id>/test-node/", NodeTestView.as_view(), name="node-test"),
    path("schemas/<uuid:schema_id>/run-to-node/", RunToNodeView.as_view(), name="run-to-node"),
    path("node-types/", NodeTypeListView.as_view(), name="node-types"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("health/ready", ReadyView.as_view(), name="health-ready"),
    path("auth/csrf/", CsrfView.as_view(), name="auth-csrf"),
    path("auth/login/", LoginView.as_view(), name="auth-login"),
    path("auth/logout/", LogoutView.as_view(), name="auth-logout"),
    path("auth/me/", MeView.as_view(), name="auth-me"),
    path("auth/session/", SessionView.as_view(), name="auth-session"),
    path("schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("docs/", SwaggerUIView.as_view(url_name="openapi-schema"), name="swagger-ui"),
]
