"""The Python kit of the partner-center plugin host: exact money and the binding's settings,
for rules built with componentize-py against extension@0.3.0.

Money is exact: the contract carries a decimal as a mantissa and a scale, and this module
turns it into a `decimal.Decimal` and back without passing through a float. `to_wit` refuses
a float, and a value that does not fit the contract (an s64 mantissa, at most 10 places).
"""

import decimal
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterator, Optional

from wit_world.imports import common, types

# The most decimal places a value may carry across the boundary (the contract's limit).
MAX_SCALE = 10
_S64 = 1 << 63

# Enough digits that no sum or product of contract values is ever rounded (two s64 mantissas
# multiply to 38 digits); a rule rounds only where it says so (`round_places`).
decimal.getcontext().prec = 60


def to_decimal(value: types.Decimal) -> Decimal:
    """A contract decimal as a `Decimal`, exactly: 12345600 at scale 6 is 12.345600."""
    return Decimal(value.mantissa).scaleb(-value.scale)


def to_wit(value: Decimal | int) -> types.Decimal:
    """A `Decimal` (or an int) as the contract's decimal; raises ValueError if it does not
    fit: an s64 mantissa, at most 10 places once trailing zeros past the 10th are dropped."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise TypeError(f"{value!r} is not a Decimal: money is never a float")
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    if value.as_tuple().exponent < -MAX_SCALE:
        value = value.normalize()
        if value.as_tuple().exponent > -MAX_SCALE:
            value = value.quantize(Decimal(1).scaleb(-MAX_SCALE))
    sign, digits, exponent = value.as_tuple()
    if -exponent > MAX_SCALE:
        raise ValueError(f"{value} has more than {MAX_SCALE} decimal places: round_places() it")
    # Check the size before scaling up: 1E+999999999 must not become a billion-digit integer.
    if len(digits) + max(exponent, 0) > 19:
        raise ValueError(f"{value} does not fit the contract")
    mantissa = int("".join(map(str, digits))) * 10 ** max(exponent, 0)
    mantissa = -mantissa if sign else mantissa
    if not -_S64 <= mantissa < _S64:
        raise ValueError(f"{value} does not fit the contract")
    return types.Decimal(mantissa=mantissa, scale=max(-exponent, 0))


class Settings:
    """The binding's settings by name and type. The host always sends every setting the
    manifest declares (the binding's value or the default); `fallback` serves only a run
    without a manifest."""

    def __init__(self, settings: list) -> None:
        self._values = {s.name: s.value for s in settings}

    def _get(self, name: str, case: type) -> Optional[Any]:
        value = self._values.get(name)
        return value.value if isinstance(value, case) else None

    def decimal(self, name: str, fallback: Optional[Decimal] = None) -> Optional[Decimal]:
        value = self._get(name, common.SettingValue_Decimal)
        return fallback if value is None else to_decimal(value)

    def integer(self, name: str, fallback: Optional[int] = None) -> Optional[int]:
        value = self._get(name, common.SettingValue_Integer)
        return fallback if value is None else value

    def text(self, name: str, fallback: Optional[str] = None) -> Optional[str]:
        value = self._get(name, common.SettingValue_Text)
        return fallback if value is None else value

    def flag(self, name: str, fallback: Optional[bool] = None) -> Optional[bool]:
        value = self._get(name, common.SettingValue_Flag)
        return fallback if value is None else value


def settings_of(request: Any) -> Settings:
    """The settings of a quote or an approval request."""
    return Settings(request.settings)


def round_places(value: Decimal, places: int) -> Decimal:
    """At most `places` decimal places, a half rounded away from zero; a value with fewer
    places is kept as it is."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return value


@dataclass
class Line:
    """One line of a quote, its prices as Decimals."""

    index: int
    product: Any
    period: Any
    period_count: int
    quantity: int
    list_unit_price: Decimal
    unit_price: Decimal


def lines_of(quote: Any) -> Iterator[Line]:
    """The lines of a quote (the contract sends them column by column)."""
    lines = quote.lines
    for index in range(len(lines.quantity)):
        yield Line(
            index=index,
            product=quote.products[lines.product[index]],
            period=lines.period[index],
            period_count=lines.period_count[index],
            quantity=lines.quantity[index],
            list_unit_price=Decimal(lines.list_unit_price[index]).scaleb(-lines.list_unit_price_scale[index]),
            unit_price=Decimal(lines.unit_price[index]).scaleb(-lines.unit_price_scale[index]),
        )


class Adjustments:
    """A pricing rule's answer, built line by line: `reason` writes a reason once and gives
    its index; `reprice` sets a line's new unit price; `answer` is the contract's record."""

    def __init__(self) -> None:
        self._lines: list = []
        self._prices: list = []
        self._scales: list = []
        self._reason_of_line: list = []
        self._reasons: list = []
        self._kinds: list = []

    def reason(self, text: str, kind: Any) -> int:
        self._reasons.append(str(text))
        self._kinds.append(kind)
        return len(self._reasons) - 1

    def reprice(self, line: int, unit_price: Decimal, reason: int) -> None:
        wit = to_wit(unit_price)
        self._lines.append(line)
        self._prices.append(wit.mantissa)
        self._scales.append(wit.scale)
        self._reason_of_line.append(reason)

    def answer(self) -> Any:
        from wit_world.imports import pricing_types

        return pricing_types.PriceAdjustments(
            line=self._lines,
            unit_price=self._prices,
            unit_price_scale=bytes(self._scales),
            reason=self._reason_of_line,
            reasons=self._reasons,
            reason_kind=self._kinds,
        )
