//! A reseller's own margin policy, applied after the platform's and the seller's rules:
//! standard customers pay an 8% markup; key accounts (customer level 3 and above) get a 25%
//! partner discount instead, but never below 0.80 of list price (DOMAIN rule 19: a
//! partner-granted discount lies between 0.80 and 1.00 of list).

use pchost_plugin_sdk::pricing_rule_v2::{Guest, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

const KEY_ACCOUNT_LEVEL: u8 = 3;
const MARKUP: Decimal = Decimal::from_parts(108, 0, 0, false, 2); // 1.08
const KEY_ACCOUNT_FACTOR: Decimal = Decimal::from_parts(75, 0, 0, false, 2); // 0.75
const LIST_PRICE_FLOOR: Decimal = Decimal::from_parts(80, 0, 0, false, 2); // 0.80 (rule 19)
const PRICE_PLACES: u32 = 6;

struct ResellerMarkup;

impl Guest for ResellerMarkup {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let key_account = quote.customer.as_ref().is_some_and(|c| c.level >= KEY_ACCOUNT_LEVEL);
        let mut answer = PriceAdjustments::with_capacity(quote.line_count());
        if quote.line_count() == 0 {
            return Ok(answer);
        }
        let (standard, capped) = if key_account {
            (
                answer.reason("key-account discount: 25%"),
                answer.reason("key-account discount capped at 0.80 of list (rule 19)"),
            )
        } else {
            let markup = answer.reason("reseller markup: 8%");
            (markup, markup)
        };
        for line in quote.lines() {
            let (price, reason) = if key_account {
                let floor = line.list_unit_price * LIST_PRICE_FLOOR;
                let discounted = line.unit_price * KEY_ACCOUNT_FACTOR;
                if discounted < floor {
                    (floor, capped)
                } else {
                    (discounted, standard)
                }
            } else {
                (line.unit_price * MARKUP, standard)
            };
            let price = price.round_dp_with_strategy(PRICE_PLACES, RoundingStrategy::MidpointAwayFromZero);
            answer.reprice(line.index, price, reason);
        }
        Ok(answer)
    }
}

pchost_plugin_sdk::pricing_rule_v2::export_pricing_rule!(ResellerMarkup);
