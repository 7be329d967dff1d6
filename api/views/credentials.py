"""Credentials: `/api/credentials/` CRUD, `types/`, `{id}/test/`; secret fields are write-only.

Create and update take `data` (every field of the type; secret ones are never returned: an update
without them keeps the stored values). Reads show the non-secret fields, a masked `hint`, which
secret fields are set, and the schemas that use the credential. Users see their own credentials
(staff see all); someone else's is a 404. A credential in use is not deleted (409 naming the
schemas) unless `?force=true`. Every write goes through `credentials_app.services`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.exceptions import Conflict
from api.serializers import ErrorSerializer, StrictCharField
from api.views.owned import OwnedViewSet
from credentials_app import services
from credentials_app.models import TYPE_CHOICES, Credential
from credentials_app.selectors import credentials_visible_to
from engine.http.auth import CREDENTIAL_TYPES, describe_credential_types
from schemas_app.selectors import credential_usage, schemas_using_credential

_errors = {400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


class SchemaRefSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    name = serializers.CharField()


class CredentialSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    name = StrictCharField(max_length=255)
    type = serializers.ChoiceField(choices=TYPE_CHOICES)
    secret_fields = serializers.SerializerMethodField(help_text="The secret fields of the type that are set.")
    owner = serializers.SlugRelatedField(slug_field="email", read_only=True)
    updated_by = serializers.SlugRelatedField(slug_field="email", read_only=True)
    used_by = serializers.SerializerMethodField(help_text="Schemas whose current definition names this credential.")

    # `data` and `fields` are the API's names, but also attributes of every DRF serializer: declared here.
    def get_fields(self) -> dict[str, serializers.Field]:  # type: ignore[type-arg]
        fields = super().get_fields()
        declared = {
            "data": serializers.DictField(
                child=StrictCharField(allow_blank=True, trim_whitespace=False, max_length=services.MAX_VALUE_LENGTH),
                write_only=True,
                required=False,
                help_text="The type's fields (`GET /api/credentials/types/`). Secret ones are write-only: never "
                "returned; on update, leave them out to keep the stored values.",
            ),
            "fields": serializers.DictField(
                source="public_data",
                child=serializers.CharField(),
                read_only=True,
                help_text="The non-secret fields (user name, header name, token URL …).",
            ),
        }
        first = ["id", "name", "type"]
        return {name: fields[name] for name in first} | declared | {n: f for n, f in fields.items() if n not in first}

    class Meta:
        model = Credential
        fields = [
            "id",
            "name",
            "type",
            "secret_fields",
            "hint",
            "owner",
            "created_at",
            "updated_at",
            "updated_by",
            "last_used_at",
            "token_expires_at",
            "used_by",
        ]
        read_only_fields = [
            "id",
            "hint",
            "owner",
            "created_at",
            "updated_at",
            "updated_by",
            "last_used_at",
            "token_expires_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_secret_fields(self, obj: Credential) -> list[str]:
        return [f.name for f in CREDENTIAL_TYPES[obj.type].fields if f.secret]

    @extend_schema_field(SchemaRefSerializer(many=True))
    def get_used_by(self, obj: Credential) -> list[dict[str, Any]]:
        usage = self.context.get("usage")
        return usage[obj.pk] if usage is not None else schemas_using_credential(obj)


class CredentialTestRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    url = StrictCharField(max_length=2048, help_text="An http(s) URL to call with the credential.")
    method = serializers.ChoiceField(choices=["GET", "HEAD", "POST"], default="GET")


class CredentialTestResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    ok = serializers.BooleanField(help_text="The server answered 2xx.")
    status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class CredentialFieldSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    label = serializers.CharField()
    secret = serializers.BooleanField()
    required = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True)


class CredentialTypeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    fields = CredentialFieldSerializer(many=True)


def _invalid(exc: services.CredentialInvalid) -> exceptions.ValidationError:
    detail: dict[str, list[str]] = {}
    for problem in exc.problems:
        detail.setdefault(problem["path"], []).append(problem["message"])
    return exceptions.ValidationError(detail)


@extend_schema(tags=["credentials"])
class CredentialViewSet(OwnedViewSet):
    model = Credential
    serializer_class = CredentialSerializer
    lookup_value_converter = "uuid"

    def visible_to(self, user: Any) -> QuerySet[Credential]:
        qs = credentials_visible_to(user)
        kind = self.request.query_params.get("type")
        if self.action == "list" and kind:
            if kind not in CREDENTIAL_TYPES:
                raise exceptions.ValidationError({"type": [f"Unknown type; one of {', '.join(CREDENTIAL_TYPES)}."]})
            qs = qs.filter(type=kind)
        return qs

    @extend_schema(
        parameters=[OpenApiParameter("type", OpenApiTypes.STR, enum=list(CREDENTIAL_TYPES), required=False)],
        responses={200: CredentialSerializer(many=True), 400: ErrorSerializer},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        items = list(page if page is not None else self.get_queryset())
        usage = credential_usage(items)  # one query for the page
        data = CredentialSerializer(items, many=True, context={**self.get_serializer_context(), "usage": usage}).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:  # type: ignore[type-arg]
        values = serializer.validated_data
        if "data" not in values:
            raise exceptions.ValidationError({"data": ["This field is required."]})
        try:
            serializer.instance = services.credential_create(
                owner=self.request.user,  # type: ignore[arg-type]
                user=self.request.user,  # type: ignore[arg-type]
                name=values["name"],
                type=values["type"],
                data=values["data"],
            )
        except services.CredentialInvalid as exc:
            raise _invalid(exc) from exc

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:  # type: ignore[type-arg]
        values = serializer.validated_data
        try:
            serializer.instance = services.credential_update(
                serializer.instance,  # type: ignore[arg-type]
                user=self.request.user,  # type: ignore[arg-type]
                name=values.get("name"),
                type=values.get("type"),
                data=values.get("data"),
            )
        except services.CredentialInvalid as exc:
            raise _invalid(exc) from exc

    @extend_schema(
        parameters=[
            OpenApiParameter("force", OpenApiTypes.BOOL, required=False, description="Delete even if schemas use it.")
        ],
        responses={204: None, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
        used_by = schemas_using_credential(credential)
        if used_by and not force:
            names = ", ".join(repr(s["name"]) for s in used_by)
            raise Conflict(
                f"The credential {credential.name!r} is used by {len(used_by)} schema(s): {names}. "
                "Change them first, or delete with ?force=true (their HTTP steps will then fail)."
            )
        services.credential_delete(credential, user=request.user, used_by=[s["id"] for s in used_by])  # type: ignore[arg-type]
        return Response(status=204)

    @extend_schema(responses={200: CredentialSerializer, **_errors})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @extend_schema(responses={200: CredentialSerializer, **_errors})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(request=CredentialTestRequestSerializer, responses={200: CredentialTestResultSerializer, **_errors})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: Any = None) -> Response:
        """Calls the URL with the credential through the outbound policy (private addresses are refused
        unless allowed by SCHEMA_HTTP_ALLOWLIST). The response body is not returned."""
        credential = self.get_object()
        body = CredentialTestRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        url = body.validated_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise exceptions.ValidationError({"url": ["Only http:// and https:// URLs can be called."]})
        return Response(services.credential_test(credential, url=url, method=body.validated_data["method"]))

    @extend_schema(responses={200: CredentialTypeSerializer(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None)
    def types(self, request: Request) -> Response:
        """The credential types and their fields (the editor builds its form from them)."""
        return Response(describe_credential_types())
