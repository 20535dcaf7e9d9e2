//! Contract `partner-center:extension@0.2.0`: the pricing world with columnar quote lines
//! (every meaning is 0.1.0's). Its bindings reuse the shared capability interfaces that
//! [`super::since_v0_1`] generates; its rule errors mean what 0.1.0's do.

use super::since_v0_1::RuleError;
use crate::failure::FailureKind;
use crate::limits::RuntimeLimits;
use crate::model::{self, AnswerColumns, InputError, PriceAdjustments, Quote, Repriced, checked_reasons, text_size};

/// The `pricing-rule` world of extension@0.2.0 (columnar quote lines).
pub mod pricing {
    crate::wit::bindgen_sharing_capabilities!("partner-center:extension/pricing-rule@0.2.0");
}

use pricing::partner_center::extension0_2_0::errors::RuleError as RuleErrorV2;
use pricing::partner_center::extension0_2_0::pricing_types as wp2;

/// The two versions of `rule-error` mean the same: the host handles one.
impl From<RuleErrorV2> for RuleError {
    fn from(error: RuleErrorV2) -> Self {
        match error {
            RuleErrorV2::InvalidInput(message) => RuleError::InvalidInput(message),
            RuleErrorV2::Capability(error) => RuleError::Capability(error),
        }
    }
}

impl Quote {
    /// Validates the quote and converts it into the columnar WIT record of extension@0.2.0.
    pub fn to_wit_v2(&self) -> Result<wp2::Quote, InputError> {
        let (partner, customer, lines) = super::columnar_quote_parts!(self, wp2);
        Ok(wp2::Quote {
            currency: self.currency.to_string(),
            as_of: self.as_of.timestamp_millis(),
            partner,
            customer,
            products: self.products_to_wit()?,
            lines,
        })
    }
}

impl PriceAdjustments {
    /// [`from_wit`](Self::from_wit) for the columnar answer of extension@0.2.0: the columns
    /// must have one element per repriced line each.
    pub fn from_wit_v2(raw: wp2::PriceAdjustments, line_count: usize, max_reason_bytes: usize) -> Result<Self, String> {
        let reasons = checked_reasons(raw.reasons, max_reason_bytes)?;
        let columns = AnswerColumns {
            line: &raw.line,
            unit_price: &raw.unit_price,
            unit_price_scale: &raw.unit_price_scale,
            reason: &raw.reason,
        };
        let lines = columns.repriced(Repriced::new(line_count, raw.line.len(), &reasons))?;
        Ok(PriceAdjustments { lines })
    }

    /// Rough size of a raw 0.2.0 answer, checked before it is validated.
    pub fn raw_size_v2(raw: &wp2::PriceAdjustments) -> usize {
        raw.line.len() * 4
            + raw.unit_price.len() * 8
            + raw.unit_price_scale.len()
            + raw.reason.len() * 4
            + raw.reasons.iter().map(|r| text_size(r)).sum::<usize>()
    }
}

/// A 0.2.0 pricing rule's columnar answer, checked against the quote it was given and the
/// limits.
pub(crate) fn checked_price_v2(
    answer: Result<wp2::PriceAdjustments, RuleErrorV2>,
    line_count: usize,
    limits: &RuntimeLimits,
) -> Result<model::PriceAdjustments, FailureKind> {
    super::check_price_answer(
        answer.map_err(RuleError::from),
        PriceAdjustments::raw_size_v2,
        |raw| PriceAdjustments::from_wit_v2(raw, line_count, limits.max_reason_bytes),
        limits,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::QuoteLine;
    use chrono::{DateTime, Utc};
    use pchost_domain::{ChargingMode, Currency, PeriodType, Product};
    use rust_decimal::Decimal;
    use std::sync::Arc;

    fn quote_with_prices(prices: &[&str]) -> Quote {
        let d = |s: &str| Decimal::from_str_exact(s).expect("decimal literal");
        Quote {
            currency: Currency::CNY,
            as_of: DateTime::<Utc>::UNIX_EPOCH,
            partner: None,
            customer: None,
            products: vec![Product {
                id: 1,
                seller: None,
                service_type: "ECS".into(),
                resource_type: "cloudserver".into(),
                spec_code: "s6.large.2".into(),
                region: "cn-north-4".into(),
                charging_mode: ChargingMode::YearlyMonthly,
            }],
            lines: prices
                .iter()
                .map(|p| QuoteLine {
                    product: 0,
                    period: PeriodType::Month,
                    period_count: 1,
                    quantity: 1,
                    list_unit_price: d("100"),
                    unit_price: d(p),
                })
                .collect(),
            purpose: Default::default(),
            resources: Vec::new(),
            settings: Vec::new(),
        }
    }

    #[test]
    fn columnar_lines_keep_each_prices_own_scale() {
        let wit = quote_with_prices(&["88.5", "0.0000001", "60000.00"])
            .to_wit_v2()
            .expect("valid");
        assert_eq!(wit.lines.unit_price, vec![885, 1, 6_000_000]);
        assert_eq!(wit.lines.unit_price_scale, vec![1, 7, 2]);
        assert_eq!(wit.lines.list_unit_price, vec![100; 3]);
        assert_eq!(wit.lines.list_unit_price_scale, vec![0; 3]);
        assert_eq!(wit.lines.product.len(), 3);
        assert_eq!(wit.lines.period.len(), 3);
    }

    #[test]
    fn a_columnar_price_beyond_the_contract_is_refused_naming_it() {
        let refused = quote_with_prices(&["1", "99999999999999999999"]).to_wit_v2();
        assert_eq!(
            refused.map(|q| q.lines.unit_price),
            Err(InputError::Invalid {
                field: "lines[1].unit_price".into(),
                message: "99999999999999999999 is out of range".into()
            })
        );
        let negative = quote_with_prices(&["-1"]).to_wit_v2().map(|q| q.lines.unit_price);
        assert_eq!(
            negative,
            Err(InputError::Invalid {
                field: "lines[0].unit_price".into(),
                message: "must not be negative".into()
            })
        );
    }

    #[test]
    fn columnar_answers_with_ragged_columns_or_bad_indices_are_refused() {
        let raw = |line: Vec<u32>, scale: Vec<u8>, reason: Vec<u32>| wp2::PriceAdjustments {
            unit_price: vec![1; line.len()],
            line,
            unit_price_scale: scale,
            reason,
            reasons: vec!["r".into()],
        };
        let ok = PriceAdjustments::from_wit_v2(raw(vec![1, 0], vec![2, 0], vec![0, 0]), 2, 100).expect("valid");
        assert_eq!(
            ok.lines
                .iter()
                .map(|l| (l.line, l.unit_price.to_string()))
                .collect::<Vec<_>>(),
            vec![(1, "0.01".to_owned()), (0, "1".to_owned())]
        );
        assert!(
            Arc::ptr_eq(&ok.lines[0].reason, &ok.lines[1].reason),
            "one reason, shared"
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0, 1], vec![0], vec![0, 0]), 2, 100),
            Err("column unit-price-scale has 1 elements but column line has 2".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0, 0], vec![0, 0], vec![0, 0]), 2, 100),
            Err("lines[1] reprices line 0 a second time".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![2], vec![0], vec![0]), 2, 100),
            Err("lines[0].line = 2 but the quote has 2 lines".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0], vec![11], vec![0]), 2, 100),
            Err("lines[0].unit_price: decimal scale 11 exceeds 10".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0], vec![0], vec![1]), 2, 100),
            Err("lines[0].reason = 1 but there are 1 reasons".into())
        );
    }
}
