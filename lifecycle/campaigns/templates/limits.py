"""Limits on rendering: a template cannot run away, for one customer or at load time.

A template is marketer-written code over customer data, so it must not be able to hang
the worker's event loop, exhaust its memory or make ``lifecycle replay`` decide
differently from the worker. The limits are therefore deterministic: a budget of
counted steps, not a clock, so a render that fails in the worker fails the same way in
a replay.

Per message (every part, the layout included), :class:`RenderBudget`:

* at most :data:`MAX_STEPS` steps: each loop iteration, call (macros, functions,
  methods), operator, filter and output, plus one per item of every list or range a
  filter, call or comparison touches, and one per 64 characters of text. This is the
  time limit: on a 2-core machine 100,000 steps take a fraction of a second;
* at most :data:`MAX_OUTPUT_CHARS` characters of output, captured output included
  (``{% set %}`` blocks, macros, ``{% filter %}``), and a finished message of at
  most :data:`MAX_MESSAGE_CHARS` characters (checked by the template set);
* calls nested at most :data:`MAX_CALL_DEPTH` deep (recursive macros, ``loop()``).

Per value, whenever it is built: a string of at most :data:`MAX_VALUE_CHARS`
characters, a list or range of at most :data:`MAX_ITEMS` items (nested items count),
an integer of at most :data:`MAX_INT_BITS` bits. Every operator that can make a value
much larger than its operands (``*``, ``**``, ``+``, ``%``, ``~``) and every filter or
method that can (``center``, ``indent``, ``format``, ``replace``, ``join``, ``batch``,
``slice``, ``list``) checks the size of its result *before* building it, so a bomb
like ``'x' * 10**10``, ``range(10**9)|list``, ``10**10**10`` or ``'%999999999d'|format(1)``
fails at once instead of allocating. Operators and filters do not fold at load time:
Jinja's optimizer leaves intercepted operators and context filters alone, so
``campaigns validate`` never builds such a value either. String methods that only
amplify (``center``, ``ljust``, ``rjust``, ``zfill``, ``expandtabs``, ``format``,
``format_map``, ``encode``, ``join``) are not available on strings; the bounded filters
are. ``random`` and ``lipsum`` are not available: they would make a replay differ.

A limit that is hit raises :class:`TemplateLimitError` (a ``jinja2.TemplateError``), so
the renderer reports it like any template failure: for one customer, with the
template's file and line (``TemplateFailure``), and the journey runtime records a
``render_error`` and goes on.

What this does not bound: work inside one C-level operation on values already within
the limits (comparing two 10,000-item lists is charged by their size, not timed).
A wall-clock guard, if wanted, belongs to the adapter, which may only use it as a
last resort (a replay could not reproduce it).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Context, markup_join, str_join
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer

__all__ = [
    "MAX_CALL_DEPTH",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "MAX_MESSAGE_CHARS",
    "MAX_OUTPUT_CHARS",
    "MAX_STEPS",
    "MAX_TREE_DEPTH",
    "MAX_VALUE_CHARS",
    "RenderBudget",
    "TemplateLimitError",
    "bound_tree",
    "bounded_filters",
    "bounded_globals",
    "checked_binop",
    "checked_call",
    "checked_unop",
    "rendering",
    "tree_depth",
    "unsafe_string_method",
]

MAX_STEPS = 100_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_MESSAGE_CHARS = 300_000
MAX_CALL_DEPTH = 20
MAX_VALUE_CHARS = 100_000
MAX_ITEMS = 10_000
MAX_INT_BITS = 4096
#: Jinja syntax trees nest at most this deep (Python's compiler has limits of its own).
MAX_TREE_DEPTH = 60

_CHARS_PER_STEP = 64
_LOOP_FILTER = "lifecycle_loop"
_OUTPUT_FILTER = "lifecycle_output"
_CONCAT_FILTER = "lifecycle_concat"
_CHARGE_FILTER = "lifecycle_charge"
_UNSAFE_STRING_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map", "encode", "join"}
)
# printf-style directives: flags, then a width and a precision, each digits or '*'
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimitError(jinja2.TemplateError):
    """A template went past one of the limits of this module."""


@dataclass
class RenderBudget:
    """What one message may still spend. Not shared between messages."""

    steps: int = MAX_STEPS
    output: int = MAX_OUTPUT_CHARS
    depth: int = 0

    def charge(self, steps: int) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise TemplateLimitError(
                f"the template ran more than {MAX_STEPS} steps (loop iterations, calls, "
                "operations): a loop or a recursion runs away"
            )

    def emit(self, chars: int) -> None:
        self.output -= chars
        if self.output < 0:
            raise TemplateLimitError(
                f"the template produced more than {MAX_OUTPUT_CHARS} characters of output"
            )


_ACTIVE: ContextVar[RenderBudget | None] = ContextVar("lifecycle_render_budget", default=None)


@contextmanager
def rendering() -> Iterator[RenderBudget]:
    """The budget of the message being rendered: the active one, or a new one."""
    active = _ACTIVE.get()
    if active is not None:
        yield active
        return
    budget = RenderBudget()
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def _charge(steps: int) -> None:
    # Outside a render (Jinja folding constants while compiling) nothing is charged,
    # but every size check below still applies.
    budget = _ACTIVE.get()
    if budget is not None:
        budget.charge(steps)


def _weight(value: Any) -> int:
    """Steps to charge for touching ``value``: cheap, one level deep."""
    if isinstance(value, str):
        return len(value) // _CHARS_PER_STEP
    if isinstance(value, Sized):
        try:
            return len(value)
        except Exception:  # a Sized whose len fails: charge nothing extra
            return 0
    return 0


def _size(value: Any, limit: int) -> int:
    """A measure of how much ``value`` holds: characters of text, plus one per item of
    every container, nested ones included. Stops counting once past ``limit``."""
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            total += len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            pending.extend(item)
        elif isinstance(item, range):
            total += len(item)
        else:
            total += 1
    return total


def _too_big(what: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"{what} would be larger than a template may build "
        f"({MAX_VALUE_CHARS} characters, {MAX_ITEMS} items, {MAX_INT_BITS}-bit numbers)"
    )


def _check_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise _too_big("a number")
    elif isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise _too_big("a text")
    elif isinstance(value, list | tuple | set | frozenset | dict | range) and (
        len(value) > MAX_ITEMS or _size(value, MAX_VALUE_CHARS) > MAX_VALUE_CHARS
    ):
        raise _too_big("a list")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _printf_size(template: str) -> int:
    """An upper bound on what the printf widths and precisions of ``template`` add."""
    extra = 0
    for width, precision in _PRINTF.findall(template):
        if "*" in (width, precision):
            raise TemplateLimitError("a '*' width in a % format is not allowed; write the number")
        if len(width) > 6 or len(precision) > 6:
            raise _too_big("a formatted text")
        extra += int(width or 0) + int(precision or 0)
    return extra


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def _check_repeat(left: Any, right: Any) -> None:
    for sequence, times in ((left, right), (right, left)):
        if not (isinstance(sequence, str | list | tuple) and _is_int(times) and times > 0):
            continue
        if _size(sequence, MAX_VALUE_CHARS) * times > MAX_VALUE_CHARS or (
            not isinstance(sequence, str) and len(sequence) * times > MAX_ITEMS
        ):
            raise _too_big("a repeated text or list")
    if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise _too_big("a product")


def checked_binop(op: str, left: Any, right: Any) -> Any:
    """``left op right``, refused before it runs when the result would be too big."""
    _charge(1)
    if op == "*":
        _check_repeat(left, right)
    elif op == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        if right > MAX_INT_BITS or right * left.bit_length() > MAX_INT_BITS:
            raise _too_big("a power")
    elif (
        op == "+"
        and isinstance(left, str | list | tuple)
        and isinstance(right, str | list | tuple)
        and _size(left, MAX_VALUE_CHARS) + _size(right, MAX_VALUE_CHARS) > MAX_VALUE_CHARS
    ):
        raise _too_big("a joined text or list")
    elif (
        op == "%"
        and isinstance(left, str)
        and len(left) + _printf_size(left) + _size(right, MAX_VALUE_CHARS) > MAX_VALUE_CHARS
    ):
        raise _too_big("a formatted text")
    return _check_value(_BINOPS[op](left, right))


def checked_unop(op: str, value: Any) -> Any:
    _charge(1)
    return operator.pos(value) if op == "+" else operator.neg(value)


def unsafe_string_method(obj: Any, attr: str) -> bool:
    """String methods that only make text larger; their bounded filters remain."""
    return isinstance(obj, str) and attr in _UNSAFE_STRING_METHODS


def checked_call(call: Callable[..., Any], obj: Any, *args: Any, **kwargs: Any) -> Any:
    """A call from a template (``call`` does it): charged, depth-limited, size-checked."""
    owner = getattr(obj, "__self__", None)
    _charge(1 + _weight(owner) + sum(_weight(a) for a in args))
    if isinstance(owner, str) and getattr(obj, "__name__", "") == "replace" and args:
        _check_replace(owner, *args)
    with rendering() as budget:
        budget.depth += 1
        try:
            if budget.depth > MAX_CALL_DEPTH:
                raise TemplateLimitError(
                    f"calls nested more than {MAX_CALL_DEPTH} deep: a macro or loop recursion "
                    "runs away"
                )
            result = call(obj, *args, **kwargs)
        finally:
            budget.depth -= 1
    _charge(_weight(result))
    return _check_value(result)


def _check_replace(text: Any, old: Any = "", new: Any = "", count: Any = -1, *_: Any) -> None:
    if not isinstance(text, str) or not isinstance(old, str) or not isinstance(new, str):
        return
    places = len(text) + 1 if old == "" else len(text) // len(old)
    if _is_int(count) and count >= 0:
        places = min(places, count)
    if len(text) + places * len(new) > MAX_VALUE_CHARS:
        raise _too_big("a replaced text")


# -- filters and globals ----------------------------------------------------------------


def _bounded_items(value: Any) -> list[Any]:
    """``value`` as a list, refused once it passes :data:`MAX_ITEMS` items."""
    if isinstance(value, Sized) and not isinstance(value, str) and len(value) > MAX_ITEMS:
        raise _too_big("a list")
    items = []
    for item in value:
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise _too_big("a list")
    _charge(len(items))
    return items


def _pre_center(value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if _is_int(width) and width > MAX_VALUE_CHARS:
        raise _too_big("a centred text")


def _pre_indent(value: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(value)
    prefix = width if _is_int(width) else len(str(width))
    if len(text) + (text.count("\n") + 1) * prefix > MAX_VALUE_CHARS:
        raise _too_big("an indented text")


def _pre_format(value: Any, *args: Any, **kwargs: Any) -> None:
    text = str(value)
    if len(text) + _printf_size(text) + _size([args, kwargs], MAX_VALUE_CHARS) > MAX_VALUE_CHARS:
        raise _too_big("a formatted text")


def _pre_replace(value: Any, old: Any = "", new: Any = "", count: Any = None, **_: Any) -> None:
    _check_replace(str(value), str(old), str(new), -1 if count is None else count)


def _pre_count(name: str, position: int) -> Callable[..., None]:
    def check(value: Any, *args: Any, **kwargs: Any) -> None:
        count: Any = args[position - 1] if len(args) >= position else kwargs.get(name)
        if _is_int(count) and count > MAX_ITEMS:
            raise _too_big(f"a list of {name}")

    return check


_PRE_CHECKS: dict[str, Callable[..., None]] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "format": _pre_format,
    "replace": _pre_replace,
    "batch": _pre_count("linecount", 1),
    "slice": _pre_count("slices", 1),
}
# Filters that consume an iterable whole: given a bounded list instead.
_MATERIALISING = frozenset({"join", "list", "batch", "slice", "sum", "unique", "sort", "reverse"})
_REMOVED_FILTERS = frozenset({"random"})


def _pass_arg(func: Callable[..., Any]) -> str | None:
    marker = getattr(func, "jinja_pass_arg", None)
    return None if marker is None else str(getattr(marker, "name", marker))


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes = _pass_arg(func)
    check = _PRE_CHECKS.get(name)

    @pass_context
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        _charge(1 + _weight(value))
        if (
            name in _MATERIALISING
            and isinstance(value, Iterable)
            and not isinstance(value, str | jinja2.Undefined)
        ):
            value = _bounded_items(value)
        if check is not None:
            check(value, *args, **kwargs)
        if passes == "context":
            result = func(context, value, *args, **kwargs)
        elif passes == "eval_context":
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif passes == "environment":
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        _charge(_weight(result))
        return _check_value(result)

    bounded.__name__ = f"bounded_{name}"
    return bounded


@pass_context
def _loop(context: Context, iterable: Any) -> Iterator[Any]:
    """The iterable of a ``{% for %}``, one step per item."""
    if isinstance(iterable, jinja2.Undefined):
        yield from iterable  # Jinja's own error for an undefined loop target
        return
    for item in iterable:
        _charge(1)
        yield item


@pass_context
def _output(context: Context, value: Any) -> Any:
    """A value a template outputs, counted; returned unchanged (Markup stays Markup)."""
    budget = _ACTIVE.get()
    if budget is not None:
        size = 0 if value is None or isinstance(value, jinja2.Undefined) else len(str(value))
        budget.charge(1 + size // _CHARS_PER_STEP)
        budget.emit(size)
    return value


@pass_context
def _concat(context: Context, values: list[Any]) -> Any:
    """``a ~ b ~ c``, refused before it is built when it would be too long."""
    _charge(1 + len(values))
    texts = [str(v) for v in values]
    if sum(len(t) for t in texts) > MAX_VALUE_CHARS:
        raise _too_big("a joined text")
    return markup_join(values) if context.eval_ctx.autoescape else str_join(values)


@pass_context
def _charge_filter(context: Context, value: Any) -> Any:
    """An operand of a comparison: charged by its size, returned unchanged."""
    _charge(1 + _weight(value))
    return value


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise _too_big("a range")
    _charge(1)
    return numbers


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Every filter of ``filters`` but the non-deterministic ones, bounded, plus the
    filters :func:`bound_tree` inserts."""
    bounded = {
        name: _bounded_filter(name, func)
        for name, func in filters.items()
        if name not in _REMOVED_FILTERS
    }
    bounded.update(
        {
            _LOOP_FILTER: _loop,
            _OUTPUT_FILTER: _output,
            _CONCAT_FILTER: _concat,
            _CHARGE_FILTER: _charge_filter,
        }
    )
    return bounded


def bounded_globals(globals_: Mapping[str, Any]) -> dict[str, Any]:
    """The sandbox's globals with a smaller ``range`` and without ``lipsum`` (random)."""
    result = {name: value for name, value in globals_.items() if name != "lipsum"}
    result["range"] = _bounded_range
    return result


# -- the syntax tree -----------------------------------------------------------------------


def _filtered(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Bounder(NodeTransformer):
    """Routes loops, output, ``~`` and comparison operands through the budget filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filtered(node.iter, _LOOP_FILTER)  # type: ignore[arg-type]
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_filtered(child, _OUTPUT_FILTER) for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filtered(nodes.List(node.nodes, lineno=node.lineno), _CONCAT_FILTER)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        node.expr = _filtered(node.expr, _CHARGE_FILTER)
        for operand in node.ops:
            operand.expr = _filtered(operand.expr, _CHARGE_FILTER)
        return node


def tree_depth(tree: nodes.Node) -> int:
    """How deep the syntax tree nests, walked without recursion."""
    deepest = 0
    pending: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def bound_tree(tree: nodes.Template, environment: jinja2.Environment) -> nodes.Template:
    """``tree`` with every loop, output, ``~`` and comparison counted (in place)."""
    _Bounder().visit(tree)
    tree.set_environment(environment)
    return tree
