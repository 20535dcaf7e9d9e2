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

/// How many wrong codes a pending code survives: at the limit it is spent, and the partner
/// asks for a new one. Five guesses of 10^6 codes leave a guesser one chance in 200,000.
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// How many wrong codes a partner may send for one phone in a day, whatever codes it has
/// asked for: resending does not buy more guesses. Ten guesses a day of 10^6 codes.
pub const MAX_DAILY_ATTEMPTS: i64 = 10;
/// How long a partner waits before asking again for the same phone: one SMS a minute.
pub const RESEND_AFTER_SECONDS: i64 = 60;

/// A code made for a phone: the code goes to the phone (the host's SMS sender), never back to
/// the caller outside the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    /// The six digits.
    pub code: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Makes a 6-digit code for `phone`, asked by `partner` (valid 10 minutes), and returns it
    /// for the SMS sender; only its hash is stored. A partner's new code replaces its own
    /// previous one for that phone, never another partner's; asking again within
    /// [`RESEND_AFTER_SECONDS`] is refused (`rate-limited`), so the endpoint sends no SMS flood.
    pub async fn send_verification_code(
        &self,
        partner: PartnerId,
        phone: &str,
        now: DateTime<Utc>,
    ) -> Result<SentCode, StoreError> {
        check_phone(phone)?;
        let code = six_digit_code()?;
        let expires_at = now + Duration::minutes(CODE_VALIDITY_MINUTES);
        // One statement: a new row, or the partner's previous code replaced once the resend
        // delay is over. A replaced code's own attempts start again; the day's carry on until
        // the day is over.
        let sent = sqlx::query(
            "INSERT INTO phone_verifications (partner, phone, code_hash, expires_at, sent_at, attempts, day_attempts, day_started_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, $5) \
             ON CONFLICT (partner, phone) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, \
             sent_at = excluded.sent_at, attempts = 0, \
             day_attempts = CASE WHEN phone_verifications.day_started_at <= $7 THEN 0 ELSE phone_verifications.day_attempts END, \
             day_started_at = CASE WHEN phone_verifications.day_started_at <= $7 THEN excluded.day_started_at \
             ELSE phone_verifications.day_started_at END \
             WHERE phone_verifications.sent_at <= $6",
        )
        .bind(partner)
        .bind(phone)
        .bind(hash(&code))
        .bind(expires_at.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind((now - Duration::seconds(RESEND_AFTER_SECONDS)).timestamp_millis())
        .bind((now - Duration::days(1)).timestamp_millis())
        .execute(self.pool())
        .await?;
        if sent.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::RateLimited,
                format!(
                    "a code was sent to {phone} less than {RESEND_AFTER_SECONDS} seconds ago: wait before asking again"
                ),
            )
            .into());
        }
        Ok(SentCode { code, expires_at })
    }

    /// Creates a customer with a phone number, which needs the code sent to that phone for the
    /// customer's partner first (rule 25). The code is spent. Each wrong code counts against
    /// the pending one, which dies after [`MAX_CODE_ATTEMPTS`]. A customer created without a
    /// phone gets no SMS.
    pub async fn create_customer_with_phone(
        &self,
        new: &NewCustomer,
        phone: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Customer, StoreError> {
        check_phone(phone)?;
        let invalid = |why: String| -> StoreError {
            refused(ErrorCode::VerificationCodeInvalid, format!("{why} (rule 25)")).into()
        };
        // The guess is counted before it is compared, in one statement: parallel guesses
        // cannot share an attempt.
        let counted: Option<(String, i64, i64)> = sqlx::query_as(
            "UPDATE phone_verifications SET attempts = attempts + 1, day_attempts = day_attempts + 1 \
             WHERE partner = $1 AND phone = $2 AND expires_at >= $3 AND attempts < $4 AND day_attempts < $5 \
             RETURNING code_hash, attempts, day_attempts",
        )
        .bind(new.partner)
        .bind(phone)
        .bind(now.timestamp_millis())
        .bind(MAX_CODE_ATTEMPTS)
        .bind(MAX_DAILY_ATTEMPTS)
        .fetch_optional(self.pool())
        .await?;
        let Some((stored, attempts, day_attempts)) = counted else {
            return Err(invalid(format!(
                "no valid verification code for {phone}: none was sent for this partner, it expired, it was spent, \
                 or the day's {MAX_DAILY_ATTEMPTS} tries are used"
            )));
        };
        if stored != hash(code) {
            let left = (MAX_CODE_ATTEMPTS - attempts).min(MAX_DAILY_ATTEMPTS - day_attempts);
            return Err(invalid(format!(
                "that is not the code sent to {phone}; {left} attempts left before it must be sent again"
            )));
        }
        // Spent once, even by two right guesses at once.
        let spent = sqlx::query("DELETE FROM phone_verifications WHERE partner = $1 AND phone = $2 AND code_hash = $3")
            .bind(new.partner)
            .bind(phone)
            .bind(&stored)
            .execute(self.pool())
            .await?;
        if spent.rows_affected() == 0 {
            return Err(invalid(format!("the code sent to {phone} was spent already")));
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
