"""`{{ ... }}` expressions in node configs, evaluated in Jinja2's immutable sandbox with limits.

A string that is exactly one `{{ expr }}` yields the native value (number, dict, list, bool…);
any other string with template syntax renders to a string; a string without `{{`/`{%` is returned
as is. Templates see `vars`, `input`, `trigger`, `nodes.<id>.output` and `execution.id`.

Limits protect the worker from a hostile or careless schema: template length, output size, total
loop iterations, wall-clock deadline (checked on every loop iteration, call and concatenation),
call depth (recursive macros), and size pre-checks on the operations that can allocate a lot in one
go (`*`, `**`, `+`, `~`, `%`, `replace`, `join`, `indent`, `format`, `expandtabs`, `translate`,
`sum`, padding/width arguments). Values are measured before they are turned into text or JSON,
so a list holding the same 1 MB string a thousand times is refused before it becomes 1 GB. The
checks run *before* the allocation: a worker is never left to a MemoryError (or the OOM killer).
Anything that goes wrong, including sandbox escapes such as `().__class__.__mro__`, surfaces as
`ExpressionError` naming the node and the field.
"""

from __future__ import annotations

import json
import math
import operator
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import nodes as jnodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import ExpressionError

MAX_TEMPLATE_LENGTH = 20_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_RANGE = 10_000
MAX_ITERATIONS = 100_000
MAX_CALL_DEPTH = 50
MAX_INT_ARGUMENT = 100_000  # widths/paddings/counts passed to functions and filters
TIME_LIMIT_SECONDS = 2.0

_MARKERS = ("{{", "{%", "{#")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)
_BIG_FORMAT_WIDTH = re.compile(r"\d{6,}")


@dataclass
class _Budget:
    deadline: float
    iterations: int = 0
    depth: int = 0


_local = threading.local()


def _budget() -> _Budget:
    budget: _Budget | None = getattr(_local, "budget", None)
    if budget is None:  # evaluation outside `evaluate` (e.g. a test compiling directly): generous budget
        budget = _Budget(deadline=time.monotonic() + TIME_LIMIT_SECONDS)
        _local.budget = budget
    return budget


def _tick(iterations: int = 0) -> None:
    budget = _budget()
    budget.iterations += iterations
    if budget.iterations > MAX_ITERATIONS:
        raise SecurityError(f"expression exceeded {MAX_ITERATIONS} loop iterations")
    if time.monotonic() > budget.deadline:
        raise SecurityError(f"expression exceeded the {TIME_LIMIT_SECONDS}s time limit")


def _check_size(length: int) -> None:
    if length > MAX_OUTPUT_CHARS:
        raise SecurityError(f"expression result would exceed {MAX_OUTPUT_CHARS} characters")


def _check_int_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARGUMENT:
            raise SecurityError(f"numeric argument {value} exceeds the limit of {MAX_INT_ARGUMENT}")
        if isinstance(value, str) and ("%" in value or "{" in value) and _BIG_FORMAT_WIDTH.search(value):
            raise SecurityError("format width too large")


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict) else 0


def _estimate(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Approximate length of `value` as text/JSON, walking shared references as many times as
    they appear (that is what rendering does); raises as soon as it passes `limit`."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, range):
            total += 2 + 8 * len(item)
        else:
            total += 24
        if total > limit:
            raise SecurityError(f"expression result would exceed {limit} characters")
    return total


_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?[a-zA-Z%]")


def _format_cost(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], *, percent: bool) -> int:
    """Upper bound of what formatting `fmt` with these arguments produces."""
    widths = 0
    if percent:
        fields = _PERCENT_SPEC.findall(fmt)
        for width, precision in fields:
            for number in (width, precision):
                widths += MAX_INT_ARGUMENT if number == "*" else int(number or 0)
    else:
        fields = _FORMAT_FIELD.findall(fmt)
        for field in fields:
            _, _, spec = field.partition(":")
            widths += sum(int(n) for n in re.findall(r"\d+", spec))
    biggest = max((_estimate(v) for v in (*args, *kwargs.values())), default=0)
    cost = len(fmt) + widths + len(fields) * biggest
    _check_size(cost)
    return cost


def _check_filter(name: str, values: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Size pre-checks of the filters whose output can be far larger than their input. Returns the
    arguments to call the filter with (an iterator that had to be measured is materialised)."""
    if not values:
        return values
    first = values[0]
    if name == "join":
        items = first if isinstance(first, str) else list(first)
        separator = values[1] if len(values) > 1 else kwargs.get("d", "")
        _check_size(_estimate(items) + len(str(separator)) * len(items))
        return (items, *values[1:])
    if name == "indent":
        width = values[1] if len(values) > 1 else kwargs.get("width", 4)
        width_chars = len(width) if isinstance(width, str) else int(width or 0)
        text = str(first)
        _check_size(len(text) + (text.count("\n") + 1) * width_chars)
    elif name == "format":
        _format_cost(str(first), tuple(values[1:]), kwargs, percent=True)
    elif name == "sum" and not isinstance(first, str):
        items = list(first)
        if any(isinstance(i, list | tuple | str) for i in items):
            _check_size(_estimate(items))
        return (items, *values[1:])
    elif name in ("string", "tojson", "pprint", "xmlattr", "urlize", "wordwrap"):
        _estimate(first)
    return values


def _finalize(value: Any) -> Any:
    """Every `{{ }}` value before Jinja turns it into text: refuse what would be too long."""
    if isinstance(value, list | tuple | dict | set | frozenset | range):
        _estimate(value)
    return value


def _safe_range(*args: int) -> range:
    _check_int_args(args, {})
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range is limited to {MAX_RANGE} items")
    return rng


def _guard_iter(iterable: Any) -> Any:
    """Wraps every `{% for %}` iterable: counts iterations against the budget and the deadline."""
    for item in iterable:
        _tick(1)
        yield item


def _guard_concat(parts: list[Any]) -> str:
    """Replaces Jinja's `~` joining so a doubling loop cannot allocate gigabytes in one step."""
    _estimate(parts)
    strings = [str(p) for p in parts]
    _check_size(sum(len(s) for s in strings))
    _tick()
    return "".join(strings)


def _check_replace(text: Any, old: Any, new: Any) -> None:
    text_s, old_s = str(text), str(old)
    _check_size(len(text_s) + text_s.count(old_s) * len(str(new)))


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, undefined=Undefined, keep_trailing_newline=True, finalize=_finalize)
        self.globals.pop("lipsum", None)  # generates unbounded text for no business value
        self.globals["range"] = _safe_range
        self.guard_iter = _guard_iter
        self.guard_concat = _guard_concat
        for name, flt in list(self.filters.items()):
            self.filters[name] = self._wrap_filter(name, flt)

    @staticmethod
    def _wrap_filter(name: str, flt: Callable[..., Any]) -> Callable[..., Any]:
        # Filters are called directly by compiled templates (not through `call`), so they get
        # the same argument checks here. Some receive a context/environment first.
        skip = 1 if hasattr(flt, "jinja_pass_arg") else 0

        def guarded(*args: Any, **kwargs: Any) -> Any:
            values = args[skip:]
            _check_int_args(values, kwargs)
            if name == "replace" and len(values) >= 3:
                _check_replace(values[0], values[1], values[2])
            checked = _check_filter(name, values, kwargs)
            _tick()
            if checked is not values:
                args = (*args[:skip], *checked)
            return flt(*args, **kwargs)

        if skip:
            guarded.jinja_pass_arg = flt.jinja_pass_arg  # type: ignore[attr-defined]
        return guarded

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and _BIG_FORMAT_WIDTH.search(owner):
            raise SecurityError("format width too large")
        wrapped = super().wrap_str_format(value)
        if wrapped is None or not isinstance(owner, str):
            return wrapped
        inner = wrapped

        def checked(*args: Any, **kwargs: Any) -> str:
            if getattr(value, "__name__", "") == "format_map" and args and isinstance(args[0], Mapping):
                _format_cost(owner, (), args[0], percent=False)
            else:
                _format_cost(owner, args, kwargs, percent=False)
            return inner(*args, **kwargs)

        return checked

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Data wins over dict methods: `trigger.items` is the payload's field, not `dict.items`
        # (Jinja tries the attribute first). Also skips a raised AttributeError per lookup.
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Fail loudly instead of yielding an Undefined that renders as "" and hides the attempt.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        _tick()
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                if _sized(seq) and isinstance(times, int):
                    _check_size(_sized(seq) * max(times, 0))
            return operator.mul(left, right)
        if operator_ == "**":
            if isinstance(left, int | float) and isinstance(right, int | float):
                magnitude = abs(right) * math.log2(abs(left)) if abs(left) > 1 else 0
                if magnitude > 4096:
                    raise SecurityError("power result too large")
            return operator.pow(left, right)
        if operator_ == "+":
            if _sized(left) and _sized(right):
                _check_size(_sized(left) + _sized(right))
            return operator.add(left, right)
        if operator_ == "%":
            if isinstance(left, str):
                if _BIG_FORMAT_WIDTH.search(left):
                    raise SecurityError("format width too large")
                if isinstance(right, Mapping):
                    _format_cost(left, (), right, percent=True)
                else:
                    _format_cost(left, right if isinstance(right, tuple) else (right,), {}, percent=True)
            return operator.mod(left, right)
        return super().call_binop(context, operator_, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        _tick()
        _check_int_args(args, kwargs)
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name in ("replace", "join", "expandtabs", "translate"):
            if name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
            if name == "join" and args:
                items = list(args[0])
                _check_size(_estimate(items) + len(owner) * len(items))
                args = (items, *args[1:])
            if name == "expandtabs":
                size = args[0] if args else kwargs.get("tabsize", 8)
                _check_size(len(owner) + owner.count("\t") * max(int(size), 0))
            if name == "translate" and args and isinstance(args[0], Mapping):
                longest = max((_sized(v) for v in args[0].values()), default=1)
                _check_size(len(owner) * max(longest, 1))
        if budget.depth >= MAX_CALL_DEPTH:
            raise SecurityError(f"call depth limit {MAX_CALL_DEPTH} exceeded")
        budget.depth += 1
        try:
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1

    def _generate(
        self, source: jnodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        # Route loop iterables and `~` through the guards: this is what makes a time limit
        # enforceable without signals or threads. Done here, not in `_parse`, so single
        # expressions (`compile_expression` builds its tree without `_parse`) are guarded too.
        for loop in source.find_all(jnodes.For):
            loop.iter = jnodes.Call(jnodes.EnvironmentAttribute("guard_iter"), [loop.iter], [], None, None)
        for concat in list(source.find_all(jnodes.Concat)):
            parts = jnodes.List(list(concat.nodes))
            concat.nodes = [jnodes.Call(jnodes.EnvironmentAttribute("guard_concat"), [parts], [], None, None)]
        return super()._generate(source, name, filename, defer_init=defer_init)


_env = _Environment()


@lru_cache(maxsize=2048)
def _compile_template(source: str) -> Any:
    return _env.from_string(source)


class _Expression:
    """A compiled lone `{{ expr }}`, called with the scope: what jinja2's `TemplateExpression` does,
    without rebuilding the environment's globals on every call. Jinja merges them from a `ChainMap`
    into a new dict and then into a set, twice per call: a large share of an evaluation. Here they
    are flattened once, when the expression is compiled (the environment's globals are fixed at
    import). The expression runs in the same sandboxed environment, with the
    same context class: only the context's construction differs (no `globals_keys`, which only
    `{% import %}` reads, and expressions cannot import)."""

    __slots__ = ("globals", "template")

    def __init__(self, source: str) -> None:
        self.template = _env.compile_expression(source, undefined_to_none=False)._template
        self.globals = dict(self.template.globals)

    def __call__(self, scope: Mapping[str, Any]) -> Any:
        template = self.template
        environment = template.environment
        context = environment.context_class(environment, {**self.globals, **scope}, template.name, template.blocks)
        for _ in template.root_render_func(context):
            pass
        return context.vars["result"]


@lru_cache(maxsize=2048)
def _compile_expression(source: str) -> _Expression:
    return _Expression(source)


def has_template(value: str) -> bool:
    return any(marker in value for marker in _MARKERS)


def check_syntax(template: str) -> str | None:
    """The syntax error of `template` as a sentence, or None when it compiles."""
    if len(template) > MAX_TEMPLATE_LENGTH:
        return f"template is longer than {MAX_TEMPLATE_LENGTH} characters"
    if not has_template(template):
        return None
    try:
        match = _SINGLE_EXPRESSION.match(template)
        if match and "}}" not in match.group("expr"):
            _compile_expression(match.group("expr"))
        else:
            _compile_template(template)
    except TemplateSyntaxError as exc:
        return f"expression syntax error: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - validation reports, it never raises
        return f"expression error: {exc}"
    return None


def evaluate(template: str, scope: Mapping[str, Any], *, node_id: str | None = None, field: str = "") -> Any:
    """Evaluates one string; native value for a lone `{{ expr }}`, else a string."""
    if not has_template(template):
        return template
    where = f"node {node_id!r} field {field!r}" if node_id else f"field {field!r}"
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise ExpressionError(f"{where}: template is longer than {MAX_TEMPLATE_LENGTH} characters")
    previous = getattr(_local, "budget", None)
    _local.budget = _Budget(deadline=time.monotonic() + TIME_LIMIT_SECONDS)
    try:
        match = _SINGLE_EXPRESSION.match(template)
        if match and "}}" not in match.group("expr"):
            value = _compile_expression(match.group("expr"))(scope)
            return _to_json(None if isinstance(value, Undefined) else value)
        return _render(_compile_template(template), scope)
    except ExpressionError as exc:
        raise ExpressionError(f"{where}: {exc}") from None
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"{where}: expression syntax error: {exc.message}") from None
    except SecurityError as exc:
        raise ExpressionError(f"{where}: blocked by the sandbox: {exc}") from None
    except (TemplateError, RecursionError, MemoryError, OverflowError) as exc:
        raise ExpressionError(f"{where}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure inside user code is the user's expression error
        raise ExpressionError(f"{where}: {type(exc).__name__}: {exc}") from None
    finally:
        _local.budget = previous


def evaluate_value(value: Any, scope: Mapping[str, Any], *, node_id: str | None = None, field: str = "") -> Any:
    """Evaluates every string inside a JSON value (dicts and lists walked recursively)."""
    if isinstance(value, str):
        return evaluate(value, scope, node_id=node_id, field=field)
    if isinstance(value, dict):
        return {k: evaluate_value(v, scope, node_id=node_id, field=_join(field, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate_value(v, scope, node_id=node_id, field=f"{field}[{i}]") for i, v in enumerate(value)]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _render(template: Any, scope: Mapping[str, Any]) -> str:
    # generate() instead of render() so the size limit stops a runaway template early.
    chunks: list[str] = []
    total = 0
    for chunk in template.generate(**scope):
        total += len(chunk)
        _check_size(total)
        chunks.append(chunk)
    return "".join(chunks)


def _to_json(value: Any) -> Any:
    """Native results must be JSON (they are checkpointed): ranges, tuples, Markup… are normalised."""
    _estimate(value)
    converted = _convert(value, 0)
    if isinstance(converted, dict | list):
        _check_size(len(json.dumps(converted, default=str)))
    elif isinstance(converted, str):
        _check_size(len(converted))
    return converted


def _convert(value: Any, depth: int) -> Any:
    if depth > 100:
        raise SecurityError("result nested too deeply")
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return {str(k): _convert(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset):
        return [_convert(v, depth + 1) for v in value]
    return str(value)


def is_truthy(value: Any) -> bool:
    """Truthiness for conditions: rendered strings such as "false", "0" or "" count as false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off", "none", "null")
    return bool(value)
