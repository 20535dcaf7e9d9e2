//! Phone verification before creating a customer with a phone number (rule 25).

use crate::entities::*;
use crate::errors::{DomainError, ErrorCode, refused};
use crate::partners::NewCustomer;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// How long a code stays valid.
pub const CODE_VALIDITY_MINUTES: i64 = 10;

fn check_phone(phone: &str) -> Result<(), StoreError> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if digits.len() < 6 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::Invalid {
            field: "phone",
            message: "an E.164 number such as +8613800000000".into(),
        }
        .into());
    }
    Ok(())
}

fn hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// A code of six digits from the operating system's CSPRNG, uniform over the 10^6 codes: 32
/// random bits, drawn again past the last whole million they hold.
fn six_digit_code() -> Result<String, StoreError> {
    loop {
        let drawn = u32::from_le_bytes(crate::store::os_random::<4>()?);
        if drawn < u32::MAX - u32::MAX % 1_000_000 {
            return Ok(format!("{:06}", drawn % 1_000_000));
        }
    }
}

impl Store {
    /// Makes a 6-digit code for `phone` (valid 10 minutes) and returns it for the SMS
    /// gateway; only its hash is stored. A new code replaces the previous one.
    pub async fn send_verification_code(&self, phone: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
        check_phone(phone)?;
        let code = six_digit_code()?;
        let expires = now + Duration::minutes(CODE_VALIDITY_MINUTES);
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM phone_verifications WHERE phone = $1")
            .bind(phone)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO phone_verifications (phone, code_hash, expires_at) VALUES ($1, $2, $3)")
            .bind(phone)
            .bind(hash(&code))
            .bind(expires.timestamp_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(code)
    }

    /// Creates a customer with a phone number, which needs the code sent to that phone first
    /// (rule 25). The code is spent. A customer created without a phone gets no SMS.
    pub async fn create_customer_with_phone(
        &self,
        new: &NewCustomer,
        phone: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Customer, StoreError> {
        check_phone(phone)?;
        let spent =
            sqlx::query("DELETE FROM phone_verifications WHERE phone = $1 AND code_hash = $2 AND expires_at >= $3")
                .bind(phone)
                .bind(hash(code))
                .bind(now.timestamp_millis())
                .execute(self.pool())
                .await?;
        if spent.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::VerificationCodeInvalid,
                format!("no valid verification code {code:?} for {phone} (rule 25)"),
            )
            .into());
        }
        let customer = self.create_customer(new, now).await?;
        sqlx::query("UPDATE customers SET phone = $1 WHERE id = $2")
            .bind(phone)
            .bind(customer.id)
            .execute(self.pool())
            .await?;
        Ok(customer)
    }

    /// The phone on record for a customer, if any: the number SMS go to.
    pub async fn customer_phone(&self, customer: CustomerId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<String>>("SELECT phone FROM customers WHERE id = $1")
                .bind(customer)
                .fetch_optional(self.pool())
                .await?
                .flatten(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::six_digit_code;

    #[test]
    fn rule_25_codes_are_six_digits_drawn_across_the_whole_range() {
        let codes: Vec<String> = (0..10_000).map(|_| six_digit_code().expect("randomness")).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        // Every leading digit comes up (a missing one has odds of 0.9^10000), zeros padded.
        for digit in b'0'..=b'9' {
            assert!(
                codes.iter().any(|c| c.as_bytes()[0] == digit),
                "no code starts with {}",
                digit as char
            );
        }
        let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
        assert!(distinct.len() > 9_900, "{} distinct of 10,000", distinct.len());
    }
}
