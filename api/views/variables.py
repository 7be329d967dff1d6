"""Variables: `/api/variables/` CRUD; expressions read them as `{{ env.NAME }}`.

A user sees and changes their own variables and sees the global ones (`"global": true`, no owner),
which only staff create, change or delete; staff see every variable. Someone else's variable is a
404. Values are text and not secret (use credentials for secrets). Writes go through
`variables_app.services`; each change increments `version` and records `updated_by`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import ErrorSerializer, StrictCharField
from api.views.owned import OwnedViewSet
from variables_app import services
from variables_app.models import Variable
from variables_app.selectors import variables_visible_to

_errors = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class VariableSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    name = StrictCharField(max_length=64)
    value = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=services.MAX_VALUE_LENGTH)
    description = StrictCharField(allow_blank=True, required=False, max_length=255)
    is_global = serializers.BooleanField(
        required=False, default=False, help_text="Shared by every user (staff only); a user's own variable wins."
    )
    owner = serializers.SlugRelatedField(slug_field="email", read_only=True)
    updated_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = Variable
        fields = [
            "id",
            "name",
            "value",
            "description",
            "is_global",
            "owner",
            "version",
            "created_at",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["id", "owner", "version", "created_at", "updated_at", "updated_by"]

    def to_representation(self, instance: Variable) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["is_global"] = instance.owner_id is None
        return dict(data)


def _invalid(exc: services.VariableInvalid) -> exceptions.ValidationError:
    detail: dict[str, list[str]] = {}
    for problem in exc.problems:
        detail.setdefault(problem["path"], []).append(problem["message"])
    return exceptions.ValidationError(detail)


@extend_schema(tags=["variables"])
class VariableViewSet(OwnedViewSet):
    model = Variable
    serializer_class = VariableSerializer
    lookup_value_converter = "int"

    def visible_to(self, user: Any) -> QuerySet[Variable]:
        return variables_visible_to(user)

    def _may_write(self, variable: Variable | None, is_global: bool) -> None:
        staff = bool(self.request.user.is_staff)
        if (is_global or (variable is not None and variable.owner_id is None)) and not staff:
            raise exceptions.PermissionDenied("Only staff can change global variables.")

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:  # type: ignore[type-arg]
        values = serializer.validated_data
        self._may_write(None, values.get("is_global", False))
        try:
            serializer.instance = services.variable_create(
                owner=None if values.get("is_global") else self.request.user,  # type: ignore[arg-type]
                name=values["name"],
                value=values["value"],
                description=values.get("description", ""),
                user=self.request.user,  # type: ignore[arg-type]
            )
        except services.VariableInvalid as exc:
            raise _invalid(exc) from exc

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:  # type: ignore[type-arg]
        variable: Variable = serializer.instance  # type: ignore[assignment]
        self._may_write(variable, False)
        values = {k: v for k, v in serializer.validated_data.items() if k in ("name", "value", "description")}
        try:
            serializer.instance = services.variable_update(variable, user=self.request.user, **values)  # type: ignore[arg-type]
        except services.VariableInvalid as exc:
            raise _invalid(exc) from exc

    def perform_destroy(self, instance: Variable) -> None:
        self._may_write(instance, False)
        services.variable_delete(instance, user=self.request.user)  # type: ignore[arg-type]

    @extend_schema(responses={200: VariableSerializer, **_errors})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @extend_schema(responses={200: VariableSerializer, **_errors})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)
