"""The shape every owned resource's viewset shares (schemas, credentials, variables).

CRUD over what the signed-in user may see, as the resource's selector defines it (their own rows;
staff see all): someone else's object is then a 404, not a 403, so ids do not leak. OpenAPI
generation has no user, so it gets an empty queryset.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import mixins, viewsets


class OwnedViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    model: type[Model]

    def visible_to(self, user: Any) -> QuerySet[Any]:
        """The rows `user` may see (the resource's selector)."""
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.model._default_manager.none()
        return self.visible_to(self.request.user)
