//! Exact money: `rust_decimal` amounts with an ISO 4217 currency. Never floats.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Places a unit price may carry (DOMAIN "Money"); high-precision quotes may carry 10.
pub const PRICE_PLACES: u32 = 6;
/// Places of money that moves between accounts: the ledger's precision.
pub const SETTLEMENT_PLACES: u32 = 2;

/// Rounds an amount to the cent, half-up (away from zero), as settlement does.
pub fn settle(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(SETTLEMENT_PLACES, RoundingStrategy::MidpointAwayFromZero)
}

/// Cents of a settled amount (exactly 2 places, as the ledger keeps it); `None` when the
/// amount has more places or does not fit 64 bits.
pub fn to_cents(amount: Decimal) -> Option<i64> {
    use rust_decimal::prelude::ToPrimitive;
    let cents = amount * Decimal::ONE_HUNDRED;
    if cents.fract().is_zero() { cents.to_i64() } else { None }
}

/// The amount of a number of cents.
pub fn from_cents(cents: i64) -> Decimal {
    Decimal::new(cents, SETTLEMENT_PLACES)
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
    fn currency_codes_are_validated() {
        assert_eq!("CNY".parse::<Currency>().map(|c| c.to_string()), Ok("CNY".to_string()));
        assert!("cny".parse::<Currency>().is_err());
        assert!("CNYX".parse::<Currency>().is_err());
        assert!("".parse::<Currency>().is_err());
    }
}
