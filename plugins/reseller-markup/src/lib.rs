//! A reseller's own margin policy, applied after the platform's and the seller's rules:
//! standard customers pay an 8% markup; key accounts (customer level 3 and above) get a 25%
//! partner discount instead, but never below 0.80 of list price (DOMAIN rule 19: a
//! partner-granted discount lies between 0.80 and 1.00 of list).

use pchost_plugin_sdk::pricing_rule::{Guest, LinePrice, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

const KEY_ACCOUNT_LEVEL: u8 = 3;
const MARKUP: Decimal = Decimal::from_parts(108, 0, 0, false, 2); // 1.08
const KEY_ACCOUNT_FACTOR: Decimal = Decimal::from_parts(75, 0, 0, false, 2); // 0.75
const LIST_PRICE_FLOOR: Decimal = Decimal::from_parts(80, 0, 0, false, 2); // 0.80 (rule 19)
const PRICE_PLACES: u32 = 6;

const REASON_MARKUP: u32 = 0;
const REASON_KEY_ACCOUNT: u32 = 1;
const REASON_FLOOR: u32 = 2;

struct ResellerMarkup;

impl Guest for ResellerMarkup {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let key_account = quote.customer.as_ref().is_some_and(|c| c.level >= KEY_ACCOUNT_LEVEL);
        let mut lines = Vec::with_capacity(quote.lines.len());
        for (index, line) in quote.lines.iter().enumerate() {
            let current = line.unit_price.to_decimal();
            let (price, reason) = if key_account {
                let floor = line.list_unit_price.to_decimal() * LIST_PRICE_FLOOR;
                let discounted = current * KEY_ACCOUNT_FACTOR;
                if discounted < floor {
                    (floor, REASON_FLOOR)
                } else {
                    (discounted, REASON_KEY_ACCOUNT)
                }
            } else {
                (current * MARKUP, REASON_MARKUP)
            };
            let price = price.round_dp_with_strategy(PRICE_PLACES, RoundingStrategy::MidpointAwayFromZero);
            lines.push(LinePrice {
                line: index as u32,
                unit_price: price.into(),
                reason,
            });
        }
        Ok(PriceAdjustments {
            lines,
            // Indexed by the REASON_* constants.
            reasons: vec![
                "reseller markup: 8%".to_string(),
                "key-account discount: 25%".to_string(),
                "key-account discount capped at 0.80 of list (rule 19)".to_string(),
            ],
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(ResellerMarkup);
