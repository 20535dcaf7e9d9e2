//! A reseller's own margin policy, applied after the platform's and the seller's rules:
//! standard customers pay a markup (8% unless the binding says otherwise); key accounts
//! (customer level 3 and above, by default) get a partner-granted discount instead (25%), but
//! never below 0.80 of list price (DOMAIN rule 19: a partner-granted discount lies between
//! 0.80 and 1.00 of list). The numbers come from the binding's settings (`plugin.toml`).

use pchost_plugin_sdk::pricing_rule_v3::{DiscountKind, Guest, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

/// The defaults `plugin.toml` declares: the host always sends them when a binding sets
/// nothing, so these serve only a run without a manifest (`pchost plugin run`).
const DEFAULT_MARKUP: Decimal = Decimal::from_parts(8, 0, 0, false, 2); // 0.08
const DEFAULT_KEY_ACCOUNT_DISCOUNT: Decimal = Decimal::from_parts(25, 0, 0, false, 2); // 0.25
const DEFAULT_KEY_ACCOUNT_LEVEL: i64 = 3;
/// Rule 19's floor: not a setting, a platform rule (the host checks it too).
const LIST_PRICE_FLOOR: Decimal = Decimal::from_parts(80, 0, 0, false, 2); // 0.80
const PRICE_PLACES: u32 = 6;

/// A share of the price (`0.08` is 8%) as the reason shows it.
fn percent(share: Decimal) -> Decimal {
    (share * Decimal::ONE_HUNDRED).normalize()
}

struct ResellerMarkup;

impl Guest for ResellerMarkup {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut answer = PriceAdjustments::with_capacity(quote.line_count());
        if quote.line_count() == 0 {
            return Ok(answer);
        }
        let markup = quote.decimal_setting("markup").unwrap_or(DEFAULT_MARKUP);
        let discount = quote
            .decimal_setting("key-account-discount")
            .unwrap_or(DEFAULT_KEY_ACCOUNT_DISCOUNT);
        let level = quote
            .integer_setting("key-account-level")
            .unwrap_or(DEFAULT_KEY_ACCOUNT_LEVEL);
        if markup.is_sign_negative() || !(Decimal::ZERO..Decimal::ONE).contains(&discount) {
            return Err(RuleError::InvalidInput(format!(
                "markup {markup} or key-account discount {discount} out of range"
            )));
        }
        let key_account = quote.customer.as_ref().is_some_and(|c| i64::from(c.level) >= level);
        let (standard, capped) = if key_account {
            (
                answer.reason(
                    format!("key-account discount: {}%", percent(discount)),
                    DiscountKind::PartnerGranted,
                ),
                answer.reason(
                    "key-account discount capped at 0.80 of list (rule 19)",
                    DiscountKind::PartnerGranted,
                ),
            )
        } else {
            let reason = answer.reason(format!("reseller markup: {}%", percent(markup)), DiscountKind::Markup);
            (reason, reason)
        };
        for line in quote.lines() {
            let (price, reason) = if key_account {
                let floor = line.list_unit_price * LIST_PRICE_FLOOR;
                let discounted = line.unit_price * (Decimal::ONE - discount);
                if discounted >= floor {
                    (discounted, standard)
                } else if floor < line.unit_price {
                    (floor, capped)
                } else {
                    // Already at or below the floor (a seller's own discount): a partner
                    // discount has no room left, and raising the price is not a discount.
                    continue;
                }
            } else {
                (line.unit_price * (Decimal::ONE + markup), standard)
            };
            let price = price.round_dp_with_strategy(PRICE_PLACES, RoundingStrategy::MidpointAwayFromZero);
            answer.reprice(line.index, price, reason);
        }
        Ok(answer)
    }
}

pchost_plugin_sdk::pricing_rule_v3::export_pricing_rule!(ResellerMarkup);
