"""Read-side queries for variables: what a user may see, and the `env` of a schema's owner."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import User

from .models import Variable


def variables_visible_to(user: User) -> QuerySet[Variable]:
    """Staff: every variable; others: their own and the global ones."""
    qs = Variable.objects.select_related("owner", "updated_by")
    return qs if user.is_staff else qs.filter(Q(owner=user) | Q(owner__isnull=True))


def env_of_owner(owner_id: Any) -> dict[str, str]:
    """Global variables overlaid by the owner's own (the owner's win)."""
    env: dict[str, str] = {}
    qs = Variable.objects.filter(Q(owner__isnull=True) | Q(owner_id=owner_id)).order_by("owner_id")
    for name, value, owner in qs.values_list("name", "value", "owner_id"):
        if owner is None:
            env.setdefault(name, value)
        else:
            env[name] = value
    return env


class LazyEnv(Mapping[str, str]):
    """The `env` of expressions: read from the database the first time an expression uses it."""

    def __init__(self, owner_id: Callable[[], Any]) -> None:
        self._owner_id = owner_id
        self._data: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._data is None:
            self._data = env_of_owner(self._owner_id())
        return self._data

    def __getitem__(self, key: str) -> str:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())
