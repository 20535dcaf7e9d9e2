//! A marketplace seller's renewal discount: renewing one of the seller's resources costs
//! `rate` less per unit (5% unless the binding's `rate` setting says otherwise), declared as a
//! seller discount. A new purchase, a spec change or on-demand use gets nothing from this
//! rule. The host shows a seller's rule only the lines of its own products.

use pchost_plugin_sdk::pricing_rule_v3::{DiscountKind, Guest, PriceAdjustments, Purpose, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

/// The discount when the binding sets no `rate`.
const DEFAULT_RATE: Decimal = Decimal::from_parts(5, 0, 0, false, 2);

struct RenewalDiscount;

impl Guest for RenewalDiscount {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut answer = PriceAdjustments::default();
        if quote.purpose != Purpose::Renewal {
            return Ok(answer);
        }
        let rate = quote.decimal_setting("rate").unwrap_or(DEFAULT_RATE);
        if rate <= Decimal::ZERO || rate >= Decimal::ONE {
            return Err(RuleError::InvalidInput(format!("rate {rate} is not between 0 and 1")));
        }
        let reason = answer.reason(
            format!("{}% renewal discount", (rate * Decimal::ONE_HUNDRED).normalize()),
            DiscountKind::SellerDiscount,
        );
        for line in quote.lines() {
            // Only lines renewing an existing resource.
            if quote.resource_of(line.index).is_none() {
                continue;
            }
            let price = (line.unit_price * (Decimal::ONE - rate))
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            answer.reprice(line.index, price, reason);
        }
        Ok(answer)
    }
}

pchost_plugin_sdk::pricing_rule_v3::export_pricing_rule!(RenewalDiscount);
