"""Kubernetes resource quantities (``500m``, ``4Gi``, ``1e3``): validation and the canonical spelling.

Kubernetes stores quantities in a canonical form, so values read back from a custom resource differ from
what was written (``0.5`` becomes ``500m``, ``1024Mi`` becomes ``1Gi``). Writing the canonical form ourselves
keeps the CRs we build identical to what the API server returns.
"""

from __future__ import annotations

import decimal
import enum
import re
from dataclasses import dataclass
from decimal import Decimal

# The texts of Go's resource.ParseQuantity errors, which upstream puts into its messages.
FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_ERROR = "unable to parse quantity's suffix"
NUMERIC_ERROR = "unable to parse numeric part of quantity"

_SHAPE = re.compile(r"(?P<number>[+-]?[0-9]*(?:\.[0-9]*)?)(?P<suffix>[eEinumkKMGTP]*[-+]?[0-9]*)")
_EXPONENT_SUFFIX = re.compile(r"[eE][-+]?[0-9]+")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_BY_EXPONENT = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER = {0: "", **{power: suffix for suffix, power in _BINARY_SUFFIXES.items()}}
_NANO = Decimal("1e-9")
_CONTEXT = decimal.Context(prec=200)


class QuantityError(ValueError):
    """Not a Kubernetes quantity; the message is Go's parse error text."""


class Format(enum.Enum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: Format

    def canonical(self) -> str:
        """The spelling the Kubernetes API server returns for this quantity."""
        if self.value == 0:
            return "0"
        if (
            self.format is Format.BINARY_SI
            and abs(self.value) >= 1024
            and self.value == self.value.to_integral()
        ):
            return _binary_string(int(self.value))
        mantissa, exponent = _base1000(self.value)
        if self.format is Format.DECIMAL_EXPONENT:
            return f"{mantissa}e{exponent}" if exponent else str(mantissa)
        suffix = _DECIMAL_BY_EXPONENT.get(exponent)
        return f"{mantissa}{suffix}" if suffix is not None else f"{mantissa}e{exponent}"


def parse_quantity(text: str) -> Quantity:
    """Parse ``text`` as Kubernetes does, rounding values finer than ``1n`` up; raises ``QuantityError``."""
    shape = _SHAPE.fullmatch(text)
    if not text or shape is None:
        raise QuantityError(FORMAT_ERROR)
    number, suffix = shape["number"], shape["suffix"]
    multiplier, fmt = _interpret_suffix(suffix)
    if not number.lstrip("+-").replace(".", "", 1):
        raise QuantityError(NUMERIC_ERROR)
    value = _CONTEXT.multiply(Decimal(number), multiplier)
    if value != 0:
        value = value.quantize(_NANO, rounding=decimal.ROUND_UP, context=_CONTEXT)
    if fmt is Format.BINARY_SI and abs(value) < 1024:
        fmt = Format.DECIMAL_SI
    return Quantity(value, fmt)


def canonical_quantity(text: str) -> str:
    """The canonical spelling of ``text``; raises ``QuantityError`` when it is not a quantity."""
    return parse_quantity(text).canonical()


def canonical_or_same(text: str) -> str:
    """The canonical spelling of ``text``, or ``text`` unchanged when it does not parse (read-back paths)."""
    try:
        return canonical_quantity(text)
    except QuantityError:
        return text


def _interpret_suffix(suffix: str) -> tuple[Decimal, Format]:
    if suffix in _DECIMAL_SUFFIXES:
        return Decimal(10) ** _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return Decimal(1024) ** _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if _EXPONENT_SUFFIX.fullmatch(suffix):
        return _CONTEXT.power(Decimal(10), int(suffix[1:])), Format.DECIMAL_EXPONENT
    raise QuantityError(SUFFIX_ERROR)


def _binary_string(amount: int) -> str:
    power = 0
    while power < 6 and amount % 1024 == 0:
        amount //= 1024
        power += 1
    return f"{amount}{_BINARY_BY_POWER[power]}"


def _base1000(value: Decimal) -> tuple[int, int]:
    """``value`` as ``mantissa * 10**exponent`` with an integer mantissa and ``exponent`` a multiple of 3."""
    sign, digits, exponent = value.normalize(_CONTEXT).as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)))
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    return (-mantissa if sign else mantissa), exponent
