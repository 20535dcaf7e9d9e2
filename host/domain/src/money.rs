//! Exact money: `rust_decimal` amounts with an ISO 4217 currency. Never floats.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Places a unit price may carry (DOMAIN "Money"); high-precision quotes may carry 10.
pub const PRICE_PLACES: u32 = 6;
/// Places of money that moves between accounts: the ledger's precision.
pub const SETTLEMENT_PLACES: u32 = 2;
/// The largest figure of money the platform handles: an amount that moves (a payment, a
/// transfer, a refund, a coupon, a quota, a budget), an account's balance, a quote's or an
/// order's line and total. 10^15 is far above any real figure, and keeps every sum the host
/// forms of a few thousand of them exact in `Decimal` and, as cents, within an `i64`
/// (9.2 × 10^18). Beyond it, `amount-out-of-range`.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// [`MAX_AMOUNT`] in cents: the most an account may hold.
pub const MAX_CENTS: i64 = 100_000_000_000_000_000;

/// Rounds an amount to the cent, half-up (away from zero), as settlement does.
pub fn settle(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(SETTLEMENT_PLACES, RoundingStrategy::MidpointAwayFromZero)
}

/// Whether an amount lies within the platform's range, [-MAX_AMOUNT, MAX_AMOUNT].
pub fn in_range(amount: Decimal) -> bool {
    amount.abs() <= MAX_AMOUNT
}

/// Cents of a settled amount (exactly 2 places, as the ledger keeps it); `None` when the
/// amount has more places or does not fit 64 bits.
pub fn to_cents(amount: Decimal) -> Option<i64> {
    use rust_decimal::prelude::ToPrimitive;
    // Checked: an amount near the decimal's maximum has no room for two more digits.
    let cents = amount.checked_mul(Decimal::ONE_HUNDRED)?;
    if cents.fract().is_zero() { cents.to_i64() } else { None }
}

/// The amount of a number of cents.
pub fn from_cents(cents: i64) -> Decimal {
    Decimal::new(cents, SETTLEMENT_PLACES)
}

/// The amount of a line: unit price × quantity × periods, settled to the cent half-up. `None`
/// when it lies beyond [`MAX_AMOUNT`]: checked before settling, the product is then exact (a
/// product that a decimal could only hold rounded is far beyond the range).
pub fn line_amount(unit_price: Decimal, quantity: u32, periods: u32) -> Option<Decimal> {
    let amount = unit_price
        .checked_mul(Decimal::from(quantity))?
        .checked_mul(Decimal::from(periods))?;
    in_range(amount).then(|| settle(amount))
}

/// The sum of amounts; `None` when it, or a partial sum, lies beyond [`MAX_AMOUNT`].
pub fn total(amounts: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    amounts.into_iter().try_fold(Decimal::ZERO, |sum, amount| {
        sum.checked_add(amount).filter(|s| in_range(*s))
    })
}

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// A string that is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be a 3-letter ISO 4217 code in upper case, got {0:?}")]
pub struct CurrencyError(pub String);

impl Currency {
    /// The platform's home currency (the seed platform's).
    pub const CNY: Currency = Currency(*b"CNY");

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only upper-case ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        match <[u8; 3]>::try_from(bytes) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Currency(code)),
            _ => Err(CurrencyError(s.chars().take(16).collect())),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_rounds_half_up_to_the_cent() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal literal");
        assert_eq!(settle(d("10.005")), d("10.01"));
        assert_eq!(settle(d("10.004999")), d("10.00"));
        assert_eq!(settle(d("-10.005")), d("-10.01"));
    }

    #[test]
    fn the_largest_amount_is_ten_to_the_fifteenth_and_fits_cents() {
        assert_eq!(MAX_AMOUNT, Decimal::from(10_i64.pow(15)));
        assert_eq!(from_cents(MAX_CENTS), MAX_AMOUNT);
        assert_eq!(to_cents(MAX_AMOUNT), Some(MAX_CENTS));
    }

    #[test]
    fn cents_of_an_amount_too_large_for_them_are_none_not_a_panic() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal literal");
        assert_eq!(to_cents(d("7922816251426433759354395033")), None);
        assert_eq!(to_cents(Decimal::MAX), None);
        assert_eq!(to_cents(Decimal::MIN), None);
        assert_eq!(to_cents(d("92233720368547758.07")), Some(i64::MAX));
        assert_eq!(to_cents(d("92233720368547758.08")), None);
        assert_eq!(to_cents(d("1.005")), None);
    }

    #[test]
    fn line_amounts_and_totals_are_exact_within_the_range_and_none_beyond() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal literal");
        assert_eq!(line_amount(d("88.123456"), 3, 12), Some(d("3172.44")));
        assert_eq!(line_amount(d("10000000"), 100_000, 1_000), Some(MAX_AMOUNT));
        assert_eq!(line_amount(d("10000000.000001"), 100_000, 1_000), None);
        assert_eq!(line_amount(Decimal::MAX, u32::MAX, u32::MAX), None);
        assert_eq!(line_amount(d("9223372036854775807"), 1, 1), None);
        assert_eq!(total([d("1.10"), d("2.20")]), Some(d("3.30")));
        assert_eq!(total([MAX_AMOUNT, d("0.01")]), None);
        assert_eq!(total([Decimal::MAX, Decimal::MAX]), None);
        assert_eq!(total([]), Some(Decimal::ZERO));
    }

    #[test]
    fn currency_codes_are_validated() {
        assert_eq!("CNY".parse::<Currency>().map(|c| c.to_string()), Ok("CNY".to_string()));
        assert!("cny".parse::<Currency>().is_err());
        assert!("CNYX".parse::<Currency>().is_err());
        assert!("".parse::<Currency>().is_err());
    }
}
