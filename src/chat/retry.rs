//! Retries with exponential backoff, and `Retry-After`.

use std::time::{Duration, SystemTime};

/// When and how long to wait before retrying a failed chat request.
///
/// Retried: connect errors, 429 (except `insufficient_quota`) and 5xx.
/// Never retried: any other 4xx. A `Retry-After` header (seconds or an HTTP
/// date) is honoured, capped at [`RetryPolicy::max_delay`]. Streams are retried
/// only before their first byte.
///
/// ```
/// use std::time::Duration;
/// use toolcall::chat::RetryPolicy;
/// let policy = RetryPolicy::default()
///     .max_retries(4)
///     .base_delay(Duration::from_millis(200))
///     .max_delay(Duration::from_secs(10));
/// assert_eq!(policy.max_retries, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retrying off). Default 2.
    pub max_retries: u32,
    /// The first backoff; doubled each retry. Default 500 ms.
    pub base_delay: Duration,
    /// The longest single wait, `Retry-After` included. Default 30 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the number of retries after the first attempt (0 turns retrying off).
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the first backoff, doubled each retry.
    #[must_use]
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Sets the longest single wait, `Retry-After` included.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The wait before retry number `retry` (0-based), given the server's `Retry-After`.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or_else(|| {
            let factor = 2u32.saturating_pow(retry.min(16));
            let base = self.base_delay.saturating_mul(factor);
            // ±25 % jitter, so many clients do not retry in step.
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let jitter = f64::from(nanos % 1000) / 1000.0 * 0.5 + 0.75;
            base.mul_f64(jitter)
        });
        wait.min(self.max_delay)
    }
}

/// Whether an HTTP error answer is worth retrying.
pub(crate) fn retryable_status(status: u16, code: Option<&str>) -> bool {
    match status {
        429 => code != Some("insufficient_quota"),
        500..=599 => true,
        _ => false,
    }
}

/// Reads `Retry-After`: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn which_statuses_retry() {
        assert!(retryable_status(429, Some("rate_limit_exceeded")));
        assert!(!retryable_status(429, Some("insufficient_quota")));
        assert!(retryable_status(503, None));
        assert!(!retryable_status(400, None));
        assert!(!retryable_status(404, None));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default()
            .max_retries(5)
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(500));
        let d0 = p.delay(0, None);
        let d2 = p.delay(2, None);
        assert!(
            d0 >= Duration::from_millis(75) && d0 <= Duration::from_millis(125),
            "{d0:?}"
        );
        assert!(
            d2 >= Duration::from_millis(300) && d2 <= Duration::from_millis(500),
            "{d2:?}"
        );
        assert_eq!(p.delay(10, None), Duration::from_millis(500));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Duration::from_millis(500)
        );
    }
}
