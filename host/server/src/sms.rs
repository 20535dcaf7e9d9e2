//! Sending verification codes (rule 25) to phones. The host hands each code to a
//! [`CodeSender`]; the default one writes it to the log, for an operator to wire a real SMS
//! gateway in its place. The API never answers a code, but on a `--demo` server, whose
//! walkthrough has no phone to read it from.

/// Delivers a verification code to a phone.
pub trait CodeSender: Send + Sync {
    /// Sends `code` to `phone`. An error is logged; the code stays valid, so the partner
    /// may ask again after the resend delay.
    fn send(&self, phone: &str, code: &str) -> anyhow::Result<()>;
}

/// The default sender: a log line at `info`, target `pchost::sms`, with the code. Keep that
/// target out of shared log sinks in production, or replace the sender.
#[derive(Debug, Default)]
pub struct LogSender;

impl CodeSender for LogSender {
    fn send(&self, phone: &str, code: &str) -> anyhow::Result<()> {
        tracing::info!(target: "pchost::sms", phone = %masked(phone), code, "verification code to send");
        Ok(())
    }
}

/// `phone` with all but its first four and last two characters hidden, for logs.
pub fn masked(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 4 || i + 2 >= chars.len() { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn a_phone_in_the_log_shows_its_prefix_and_last_two_digits_only() {
        assert_eq!(masked("+8613800000012"), "+861********12");
        assert_eq!(masked("+861"), "+861");
    }
}
