"""A volume discount, in Python: the more units of a product on a line, the lower the unit
price. Three tiers ("from N units, P% off") come from the binding's settings (plugin.toml), as
in the Rust example plugins/volume-discount, whose fixtures this rule passes too."""

from decimal import Decimal

import wit_world
from componentize_py_types import Err
from pchost import Adjustments, lines_of, round_places, settings_of
from wit_world.imports import common
from wit_world.imports import pricing_types as p

# Each tier's settings and the defaults plugin.toml declares for them.
TIERS = [
    ("tier-1-units", "tier-1-percent", 10, Decimal(5)),
    ("tier-2-units", "tier-2-percent", 50, Decimal(10)),
    ("tier-3-units", "tier-3-percent", 100, Decimal(15)),
]
KINDS = {
    "seller-discount": p.DiscountKind.SELLER_DISCOUNT,
    "partner-granted": p.DiscountKind.PARTNER_GRANTED,
    "promotion": p.DiscountKind.PROMOTION,
    "contract": p.DiscountKind.CONTRACT,
}
# Unit prices keep the contract's 6 decimal places.
PRICE_PLACES = 6


def tiers(settings) -> list:
    found = []
    for n, (units_setting, percent_setting, units, percent) in enumerate(TIERS, start=1):
        units = settings.integer(units_setting, units)
        percent = settings.decimal(percent_setting, percent)
        if not Decimal(0) <= percent <= Decimal(100):
            raise Err(common.RuleError_InvalidInput(f"tier {n} is {percent}%: not within 0 to 100"))
        if not 0 < units <= 0xFFFFFFFF:
            raise Err(common.RuleError_InvalidInput(f"tier {n} starts at {units} units"))
        if percent:
            # Exact: a Decimal product never rounds (see pchost).
            found.append({"units": units, "percent": percent, "factor": 1 - percent * Decimal("0.01"), "reason": None})
    # The tier with the most units a line reaches wins: look from the largest.
    return sorted(found, key=lambda t: -t["units"])


class WitWorld(wit_world.WitWorld):
    def price(self, quote: p.Quote) -> p.PriceAdjustments:
        settings = settings_of(quote)
        all_tiers = tiers(settings)
        kind = KINDS.get(settings.text("kind", "seller-discount"), p.DiscountKind.SELLER_DISCOUNT)
        answer = Adjustments()
        for line in lines_of(quote):
            tier = next((t for t in all_tiers if line.quantity >= t["units"]), None)
            if tier is None:
                continue
            if tier["reason"] is None:
                percent = tier["percent"].normalize()
                tier["reason"] = answer.reason(f"volume tier {tier['units']}+ units: {percent:f}% off", kind)
            answer.reprice(line.index, round_places(line.unit_price * tier["factor"], PRICE_PLACES), tier["reason"])
        return answer.answer()
