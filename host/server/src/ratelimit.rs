//! Rate limits: a token bucket per API key (and per client address for the few
//! unauthenticated endpoints), and one per plugin owner for uploads (each costs a compilation),
//! refilled continuously. In memory: a restart forgets the buckets, which only ever errs
//! towards letting a caller through once more.

use crate::error::AppError;
use pchost_domain::errors::ErrorCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Beyond this many tracked callers, full buckets are forgotten (they hold no information).
const MAX_TRACKED: usize = 100_000;

/// The limits a bucket is held to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 50,
            burst: 100,
        }
    }
}

/// The limits an owner's uploads are held to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UploadLimit {
    /// Uploads per minute, sustained.
    pub per_minute: u32,
    /// Uploads allowed in a burst.
    pub burst: u32,
}

impl Default for UploadLimit {
    fn default() -> Self {
        UploadLimit {
            per_minute: 10,
            burst: 5,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every caller.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per second.
    rate: f64,
    burst: f64,
    /// The refusal's code.
    code: ErrorCode,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter holding every caller to `limit`, refusing as `rate-limited`.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_rate(f64::from(limit.per_second.max(1)), limit.burst, ErrorCode::RateLimited)
    }

    /// A limiter holding every owner's uploads to `limit`, refusing as `upload-rate-limited`.
    pub fn for_uploads(limit: UploadLimit) -> Self {
        Self::with_rate(
            f64::from(limit.per_minute.max(1)) / 60.0,
            limit.burst,
            ErrorCode::UploadRateLimited,
        )
    }

    fn with_rate(rate: f64, burst: u32, code: ErrorCode) -> Self {
        RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            code,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `caller`'s bucket, or refuses with how long to wait.
    pub fn check(&self, caller: &str) -> Result<(), AppError> {
        let now = Instant::now();
        let (rate, burst) = (self.rate, self.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(caller) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets
            .entry(caller.to_owned())
            .or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil();
            let retry_after_secs = (wait as u64).max(1);
            Err(AppError::retry_later(
                self.code,
                format!("rate limit exceeded: retry in {retry_after_secs} s"),
                retry_after_secs,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_caller_waits_and_others_are_unaffected() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 3,
        });
        for _ in 0..3 {
            limiter.check("key:1").expect("within the burst");
        }
        match limiter.check("key:1") {
            Err(AppError::Refused {
                code: ErrorCode::RateLimited,
                retry_after_secs: Some(retry_after_secs),
                ..
            }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected rate-limited, got {other:?}"),
        }
        limiter.check("key:2").expect("another key has its own bucket");
    }

    #[test]
    fn an_owners_upload_burst_passes_then_it_waits_a_minute_share() {
        let limiter = RateLimiter::for_uploads(UploadLimit {
            per_minute: 10,
            burst: 2,
        });
        for _ in 0..2 {
            limiter.check("owner:2").expect("within the burst");
        }
        match limiter.check("owner:2") {
            Err(AppError::Refused {
                code: ErrorCode::UploadRateLimited,
                retry_after_secs: Some(retry_after_secs),
                ..
            }) => assert!((5..=6).contains(&retry_after_secs), "{retry_after_secs}"),
            other => panic!("expected upload-rate-limited, got {other:?}"),
        }
        limiter.check("owner:10").expect("another owner has its own bucket");
    }
}
