"""Variable services: create, change (the version goes up, `updated_by` is recorded), delete.

Global variables (no owner) are written by staff only (checked by the API). Every change is an
audit line on `schema.audit` with the user.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from accounts.models import User

from .models import NAME_PATTERN, Variable

audit = logging.getLogger("schema.audit")
MAX_VALUE_LENGTH = 64 * 1024


class VariableInvalid(Exception):
    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


def _problems(name: Any, value: Any) -> list[dict[str, Any]]:
    problems = []
    if name is not None and (not isinstance(name, str) or not re.match(NAME_PATTERN, name)):
        problems.append(
            {"path": "name", "message": "A name is a letter or _, then letters, digits or _ (64 at most): BASE_URL."}
        )
    if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH or "\x00" in value):
        problems.append({"path": "value", "message": f"The value is text of at most {MAX_VALUE_LENGTH} characters."})
    return problems


def _save(variable: Variable) -> None:
    try:
        with transaction.atomic():
            variable.save()
    except IntegrityError:
        where = "a global variable" if variable.owner_id is None else "a variable"
        message = f"There is already {where} named {variable.name!r}."
        raise VariableInvalid([{"path": "name", "message": message}]) from None


def _audit(event: str, variable: Variable, user: User | None) -> None:
    audit.info(
        event,
        extra={
            "event": event.replace(" ", "_"),
            "variable_id": variable.pk,
            "variable_name": variable.name,
            "owner_id": variable.owner_id,
            "version": variable.version,
            "user_id": user.pk if user else None,
            "user": user.email if user else None,
        },
    )


def variable_create(*, owner: User | None, name: str, value: str, description: str = "", user: User | None) -> Variable:
    problems = _problems(name, value)
    if problems:
        raise VariableInvalid(problems)
    variable = Variable(owner=owner, name=name, value=value, description=description, updated_by=user)
    _save(variable)
    _audit("variable created", variable, user)
    return variable


def variable_update(variable: Variable, *, user: User | None, **fields: Any) -> Variable:
    problems = _problems(fields.get("name"), fields.get("value"))
    if problems:
        raise VariableInvalid(problems)
    for key in ("name", "value", "description"):
        if key in fields:
            setattr(variable, key, fields[key])
    variable.version = F("version") + 1  # type: ignore[assignment]
    variable.updated_by = user
    _save(variable)
    variable.refresh_from_db()
    _audit("variable updated", variable, user)
    return variable


def variable_delete(variable: Variable, *, user: User | None) -> None:
    _audit("variable deleted", variable, user)
    variable.delete()
