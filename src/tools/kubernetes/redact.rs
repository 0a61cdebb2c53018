//! Secret redaction: what the Kubernetes tools return passes through here first.
//!
//! Each rule finds one kind of secret and replaces it with `[REDACTED:<kind>]`,
//! keeping the text around it (the `Bearer ` word, the user of a URL, the key of a
//! `key=value` pair) so the model still reads what was there. The rules aim at
//! things that are secrets by their shape or by the name they are given; hashes,
//! UUIDs, image digests and container ids are left alone.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// One rule: a pattern, what kind of secret it finds, and which groups to keep.
struct Rule {
    kind: &'static str,
    pattern: Regex,
    /// Capture group kept before the marker (0: none).
    keep_before: usize,
    /// Capture group kept after the marker (0: none).
    keep_after: usize,
}

/// `(kind, pattern, group kept before, group kept after)`, applied in order.
const RULES: &[(&str, &str, usize, usize)] = &[
    // PEM private keys, whole or cut (a log line may hold the start only), with
    // real or escaped (`\n`) newlines.
    (
        "private-key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s\\]*)",
        0,
        0,
    ),
    // JSON Web Tokens: base64url header and payload both start with `{"`.
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        0,
        0,
    ),
    // `Authorization: Bearer …`, `Bearer …` anywhere.
    (
        "bearer-token",
        r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}",
        1,
        0,
    ),
    // `Authorization: Basic …`.
    (
        "basic-auth",
        r"(?i)(\bbasic\s+)[A-Za-z0-9+/]{8,}={0,2}",
        1,
        0,
    ),
    // `scheme://user:password@host`.
    (
        "url-password",
        r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(@)",
        1,
        2,
    ),
    // Cloud and SaaS credentials recognisable by their prefix.
    (
        "aws-access-key",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b",
        0,
        0,
    ),
    (
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})",
        0,
        0,
    ),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}", 0, 0),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0, 0),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", 0, 0),
    (
        "stripe-key",
        r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}",
        0,
        0,
    ),
    ("api-key", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}", 0, 0),
    // `password=…`, `"client_secret": "…"`, `X-Api-Key: …`, `AWS_SECRET_ACCESS_KEY=…`:
    // the value of a key whose name says it is secret. Values that are plainly
    // not secrets (numbers, booleans, null, empty, already redacted) are kept.
    (
        "secret-value",
        r#"(?i)(\b[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth[_-]?key)\b["']?\s*(?:=|:)\s*["']?)([^\s"',;&}<>\[\]]{3,})"#,
        1,
        0,
    ),
];

static RULE_SET: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    RULES
        .iter()
        .filter_map(|&(kind, pattern, keep_before, keep_after)| {
            Regex::new(pattern).ok().map(|pattern| Rule {
                kind,
                pattern,
                keep_before,
                keep_after,
            })
        })
        .collect()
});

/// Whether a `key=value` value is plainly not a secret.
fn harmless_value(value: &str) -> bool {
    value.starts_with("[REDACTED")
        || value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "none" | "nil" | "undefined" | "redacted" | "***" | "****"
        )
        || value.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

/// Replaces every secret in `text` with `[REDACTED:<kind>]`.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for rule in RULE_SET.iter() {
        if !rule.pattern.is_match(&out) {
            continue;
        }
        let replaced = rule
            .pattern
            .replace_all(&out, |caps: &Captures<'_>| {
                let group = |i: usize| {
                    if i == 0 {
                        ""
                    } else {
                        caps.get(i).map_or("", |m| m.as_str())
                    }
                };
                let whole = caps.get(0).map_or("", |m| m.as_str());
                if rule.kind == "secret-value"
                    && harmless_value(caps.get(2).map_or("", |m| m.as_str()))
                {
                    return whole.to_owned();
                }
                // `Bearer authentication`, `basic credentials`: a word, not a token.
                if matches!(rule.kind, "bearer-token" | "basic-auth") {
                    let token = whole.get(group(1).len()..).unwrap_or("");
                    if token.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return whole.to_owned();
                    }
                }
                format!(
                    "{}[REDACTED:{}]{}",
                    group(rule.keep_before),
                    rule.kind,
                    group(rule.keep_after)
                )
            })
            .into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

/// Redacts `text` in place, when `on`.
pub(crate) fn scrub(on: bool, text: &mut String) {
    if !on {
        return;
    }
    if let Cow::Owned(clean) = redact(text) {
        *text = clean;
    }
}

/// Redacts an optional text in place, when `on`.
pub(crate) fn scrub_opt(on: bool, text: &mut Option<String>) {
    if let Some(text) = text {
        scrub(on, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(RULE_SET.len(), RULES.len());
    }

    #[test]
    fn keeps_the_words_around_a_secret() {
        assert_eq!(
            redact("Authorization: Bearer abcdefgh12345678"),
            "Authorization: Bearer [REDACTED:bearer-token]"
        );
        assert_eq!(
            redact("postgres://orders:s3cr3t-pw@db:5432/orders"),
            "postgres://orders:[REDACTED:url-password]@db:5432/orders"
        );
        assert_eq!(
            redact("password=hunter22 next"),
            "password=[REDACTED:secret-value] next"
        );
    }

    #[test]
    fn harmless_values_survive() {
        for text in [
            "max_tokens=512",
            "token: null",
            "password_set=true",
            "secret=***",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
