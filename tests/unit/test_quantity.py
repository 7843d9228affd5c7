"""Kubernetes quantities: parsing, Go's error texts and the canonical spelling the API server returns."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.converters.quantity import (
    FORMAT_ERROR,
    NUMERIC_ERROR,
    SUFFIX_ERROR,
    Format,
    QuantityError,
    canonical_or_same,
    canonical_quantity,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0", "0"),
        ("0.0", "0"),
        ("0Gi", "0"),
        ("1", "1"),
        ("+2", "2"),
        ("1.", "1"),
        ("-1.5", "-1500m"),
        ("0.5", "500m"),
        (".5", "500m"),
        ("1.5", "1500m"),
        ("100m", "100m"),
        ("1000m", "1"),
        ("1500m", "1500m"),
        ("1000", "1k"),
        ("4096", "4096"),
        ("1k", "1k"),
        ("1M", "1M"),
        ("1E", "1E"),
        ("1n", "1n"),
        ("1u", "1u"),
        ("0.0000000001", "1n"),  # finer than 1n rounds up
        ("1.0000000001", "1000000001n"),
        ("1e3", "1e3"),
        ("1E3", "1e3"),
        ("12e-1", "1200e-3"),
        ("1e0", "1"),
        ("4Gi", "4Gi"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("0.5Mi", "512Ki"),
        ("1.5Ki", "1536"),  # binary values are printed as bytes unless a binary suffix fits exactly
        ("1Ki", "1Ki"),
        ("0.1Ki", "102400m"),
        ("512", "512"),
        ("1Ei", "1Ei"),
        ("2048Ei", "2048Ei"),
    ],
)
def test_canonical(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize(
    ("text", "value", "fmt"),
    [
        ("2", Decimal(2), Format.DECIMAL_SI),
        ("1Gi", Decimal(2**30), Format.BINARY_SI),
        ("1000Ki", Decimal(1024000), Format.BINARY_SI),
        ("0.5Ki", Decimal(512), Format.DECIMAL_SI),  # below 1024 a binary quantity becomes decimal
        ("1e2", Decimal(100), Format.DECIMAL_EXPONENT),
    ],
)
def test_parse(text: str, value: Decimal, fmt: Format) -> None:
    quantity = parse_quantity(text)
    assert quantity.value == value
    assert quantity.format is fmt


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FORMAT_ERROR),
        ("abc", FORMAT_ERROR),
        ("1.5.5", FORMAT_ERROR),
        ("1Gb", FORMAT_ERROR),
        (" 1", FORMAT_ERROR),
        ("1 ", FORMAT_ERROR),
        ("1e", SUFFIX_ERROR),
        ("1Ki2", SUFFIX_ERROR),
        ("1ki", SUFFIX_ERROR),
        ("1mi", SUFFIX_ERROR),
        ("Gi", NUMERIC_ERROR),
        (".", NUMERIC_ERROR),
        ("-", NUMERIC_ERROR),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert str(info.value) == message


def test_error_texts_are_gos() -> None:
    assert FORMAT_ERROR == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    assert SUFFIX_ERROR == "unable to parse quantity's suffix"
    assert NUMERIC_ERROR == "unable to parse numeric part of quantity"


def test_canonical_or_same() -> None:
    assert canonical_or_same("0.25") == "250m"
    assert canonical_or_same("lots") == "lots"
    assert canonical_or_same("") == ""
