"""argparse types with ranges, for every numeric flag of every command: a value out of range is one
message naming the flag (``argument --seq-len: must be an integer >= 2, got 0``), never a silent default.
"""
from __future__ import annotations

import argparse
import math

__all__ = ["int_range", "float_range", "positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "probability"]


def _bounds(minimum, maximum, open_max: bool = False, open_min: bool = False) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if open_min else '>='} {minimum}")
    if maximum is not None:
        parts.append(f"{'<' if open_max else '<='} {maximum}")
    return " and ".join(parts)


def int_range(minimum: int | None = None, maximum: int | None = None):
    """An argparse ``type=`` accepting integers in [minimum, maximum] (None: unbounded).

    Args:
        minimum: smallest allowed value.
        maximum: largest allowed value.

    Returns:
        A callable str -> int that raises argparse.ArgumentTypeError outside the range.

    Example:
        >>> parser.add_argument("--seq-len", type=int_range(2, 512))
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected an integer {_bounds(minimum, maximum)}, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be an integer {_bounds(minimum, maximum)}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def float_range(minimum: float | None = None, maximum: float | None = None, *, open_min: bool = False,
                open_max: bool = False):
    """An argparse ``type=`` accepting finite floats in [minimum, maximum] (``open_min`` / ``open_max``: that
    bound excluded).

    Example:
        >>> parser.add_argument("--lr", type=float_range(0.0))
    """
    def parse(text: str) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected a number {_bounds(minimum, maximum, open_max, open_min)}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value) or \
                (minimum is not None and (value <= minimum if open_min else value < minimum)) or \
                (maximum is not None and (value >= maximum if open_max else value > maximum)):
            raise argparse.ArgumentTypeError(f"must be a finite number {_bounds(minimum, maximum, open_max, open_min)}, "
                                             f"got {text}")
        return value

    parse.__name__ = "float"
    return parse


positive_int = int_range(1)
non_negative_int = int_range(0)
positive_float = float_range(0.0, open_min=True)
non_negative_float = float_range(0.0)
probability = float_range(0.0, 1.0)
