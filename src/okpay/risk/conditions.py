"""Rule conditions: a small, safe expression language over features.

A condition reads like Python: ``amount_cny >= 5000 and new_device_24h``,
``amount > 3 * median_amount and ops_90d >= 5``, ``operation in ("transfer", "payment")``.
It is parsed with :mod:`ast` and only these are allowed: and / or / not, comparisons
(< <= > >= == != in, not in), + - * /, parentheses, numbers, strings, true/false and the
features of risk.features. Anything else (calls, attributes, subscripts, lambdas) is
refused when the rule is saved, with the reason; a saved condition is compiled once into
plain closures, so evaluating it never runs ``eval``. Numbers are Decimals (exact)."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, lazy_gettext

Compiled = Callable[[dict[str, Any]], Any]
MAX_LENGTH = 500
MAX_NODES = 80


class ConditionInvalid(ValidationFailed):
    code = "rule_condition_invalid"
    message = N_("The condition is not valid: %(problem)s")
    field = "condition"


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_NAMES = {"true": True, "false": False, "True": True, "False": False}


def _problem(text: str, **params: Any) -> ConditionInvalid:
    """The refusal, its problem translated when it is shown (in the reader's language)."""
    return ConditionInvalid(field="condition", problem=lazy_gettext(text, **params))


def compile_condition(text: str, features: frozenset[str]) -> Compiled:
    """Parse and check ``text``; returns a function of the feature values. Raises
    :class:`ConditionInvalid` naming the problem (unknown feature, syntax, a construct
    that is not allowed)."""
    text = (text or "").strip()
    if not text:
        raise _problem(N_("write a condition, for example amount_cny >= 5000"))
    if len(text) > MAX_LENGTH:
        raise _problem(N_("keep it under %(n)s characters"), n=MAX_LENGTH)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise _problem(
            N_("syntax error at character %(pos)s"), pos=exc.offset or len(text)
        ) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise _problem(N_("it is too long; split it into two rules"))
    return _compile(tree.body, features)


def _compile(node: ast.AST, features: frozenset[str]) -> Compiled:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, features) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda f: all(p(f) for p in parts)
        return lambda f: any(p(f) for p in parts)
    if isinstance(node, ast.UnaryOp):
        inner = _compile(node.operand, features)
        if isinstance(node.op, ast.Not):
            return lambda f: not inner(f)
        if isinstance(node.op, ast.USub):
            return lambda f: -inner(f)
    if isinstance(node, ast.Compare):
        left = _compile(node.left, features)
        pairs = [
            (_COMPARE[type(op)], _compile(right, features))
            for op, right in zip(node.ops, node.comparators, strict=True)
            if type(op) in _COMPARE
        ]
        if len(pairs) != len(node.ops):
            raise _problem(N_("use < <= > >= == != in or not in to compare"))

        def compare(f: dict[str, Any]) -> bool:
            value = left(f)
            for op, right in pairs:
                other = right(f)
                if not op(value, other):
                    return False
                value = other
            return True

        return compare
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        fn = _ARITH[type(node.op)]
        a, b = _compile(node.left, features), _compile(node.right, features)

        def arith(f: dict[str, Any]) -> Any:
            try:
                return fn(a(f), b(f))
            except (ZeroDivisionError, DivisionByZero, InvalidOperation):
                return Decimal(0)

        return arith
    if isinstance(node, ast.Name):
        if node.id in _NAMES:
            constant = _NAMES[node.id]
            return lambda f: constant
        if node.id not in features:
            raise _problem(N_("unknown feature “%(name)s”"), name=node.id)
        name = node.id
        return lambda f: f[name]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
        value: Any = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = Decimal(str(value))
        return lambda f: value
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_compile(e, features) for e in node.elts]
        return lambda f: tuple(i(f) for i in items)
    raise _problem(N_("“%(part)s” is not allowed in a condition"), part=ast.unparse(node)[:40])


def evaluate(compiled: Compiled, features: dict[str, Any]) -> bool:
    """True when the condition holds; a condition that cannot be evaluated on these values
    (comparing text with a number) does not hold."""
    try:
        return bool(compiled(features))
    except (TypeError, ArithmeticError):
        return False
