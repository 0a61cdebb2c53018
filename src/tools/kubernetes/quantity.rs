//! Kubernetes resource quantities (`104287333n`, `512Mi`, `1e3`), read and written the way a person reads them.
//!
//! Reading follows the API's grammar: a signed decimal number, then a binary
//! suffix (`Ki` … `Ei`), a decimal suffix (`n`, `u`, `m`, `k`, `M` … `E`) or a
//! decimal exponent (`e3`, `E-2`). Writing normalises: CPU always in millicores,
//! rounded (`"1"` → `"1000m"`); memory in the largest binary unit that keeps the
//! value at least 1, with at most one decimal (`187236Ki` → `"182.8Mi"`).

/// Reads a quantity into base units (cores for CPU, bytes for memory).
///
/// `None` when the text is not a quantity.
pub(crate) fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let number_len = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '+' || c == '-') && i == 0)))
        .map_or(text.len(), |(i, _)| i);
    let (number, suffix) = text.split_at(number_len);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024_f64,
        "Mi" => 1024_f64.powi(2),
        "Gi" => 1024_f64.powi(3),
        "Ti" => 1024_f64.powi(4),
        "Pi" => 1024_f64.powi(5),
        "Ei" => 1024_f64.powi(6),
        _ => {
            let exponent = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let digits = exponent.trim_start_matches(['+', '-']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10_f64.powi(exponent.parse::<i32>().ok()?)
        }
    };
    let value = value * scale;
    value.is_finite().then_some(value)
}

/// CPU cores as whole millicores, rounded to the nearest.
pub(crate) fn millicores(cores: f64) -> i64 {
    (cores * 1000.0).round() as i64
}

/// Memory as whole bytes, rounded to the nearest.
pub(crate) fn bytes(value: f64) -> i64 {
    value.round() as i64
}

/// `"104m"`: CPU in millicores.
pub(crate) fn format_cpu(cores: f64) -> String {
    format!("{}m", millicores(cores))
}

/// `"1Gi"`, `"182.8Mi"`, `"512"`: memory in the largest binary unit that keeps
/// the value at least 1, at most one decimal.
pub(crate) fn format_memory(value: f64) -> String {
    const UNITS: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let whole = value.round();
    let negative = whole < 0.0;
    let mut amount = whole.abs();
    let mut unit = "";
    let mut units = UNITS.iter();
    while amount >= 1024.0 {
        let Some(next) = units.next() else { break };
        amount /= 1024.0;
        unit = next;
    }
    let mut rounded = (amount * 10.0).round() / 10.0;
    // 1023.96Mi rounds to 1024.0Mi: say 1Gi instead.
    if rounded >= 1024.0
        && !unit.is_empty()
        && let Some(next) = units.next()
    {
        rounded = (rounded / 1024.0 * 10.0).round() / 10.0;
        unit = next;
    }
    let sign = if negative { "-" } else { "" };
    if rounded.fract() == 0.0 {
        format!("{sign}{rounded:.0}{unit}")
    } else {
        format!("{sign}{rounded:.1}{unit}")
    }
}

/// `usage` as a percent of `limit`, one decimal; `None` without a positive limit.
pub(crate) fn percent(usage: f64, limit: f64) -> Option<f64> {
    (limit > 0.0).then(|| (usage / limit * 1000.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(text: &str) -> String {
        format_cpu(parse(text).unwrap())
    }

    fn memory(text: &str) -> String {
        format_memory(parse(text).unwrap())
    }

    #[test]
    fn cpu_is_always_rounded_millicores() {
        assert_eq!(cpu("104287333n"), "104m");
        assert_eq!(cpu("38412667n"), "38m");
        assert_eq!(cpu("1"), "1000m");
        assert_eq!(cpu("1024m"), "1024m");
        assert_eq!(cpu("512m"), "512m");
        assert_eq!(cpu("250000u"), "250m");
        assert_eq!(cpu("1500u"), "2m");
        assert_eq!(cpu("0.5"), "500m");
        assert_eq!(cpu("2.25"), "2250m");
        assert_eq!(cpu("1e-1"), "100m");
        assert_eq!(cpu("400n"), "0m");
        assert_eq!(cpu("0"), "0m");
        assert_eq!(millicores(parse("104287333n").unwrap()), 104);
        assert_eq!(millicores(parse("104587333n").unwrap()), 105);
    }

    #[test]
    fn memory_uses_the_largest_binary_unit_with_one_decimal() {
        assert_eq!(memory("1073741824"), "1Gi");
        assert_eq!(memory("1Gi"), "1Gi");
        assert_eq!(memory("512Mi"), "512Mi");
        assert_eq!(memory("187236Ki"), "182.8Mi");
        assert_eq!(memory("1G"), "953.7Mi");
        assert_eq!(memory("1M"), "976.6Ki");
        assert_eq!(memory("128974848"), "123Mi");
        assert_eq!(memory("1.5Gi"), "1.5Gi");
        assert_eq!(memory("2Ti"), "2Ti");
        assert_eq!(memory("1Ei"), "1Ei");
        assert_eq!(memory("4096Ei"), "4096Ei");
        assert_eq!(memory("512"), "512");
        assert_eq!(memory("1023"), "1023");
        assert_eq!(memory("1024"), "1Ki");
        assert_eq!(memory("129e6"), "123Mi");
        assert_eq!(memory("1e3"), "1000");
        assert_eq!(memory("1E3"), "1000");
        assert_eq!(memory("12E"), "10.4Ei");
        assert_eq!(memory("500k"), "488.3Ki");
        // 1023.96Mi would print as 1024Mi; a person says 1Gi.
        assert_eq!(memory(&format!("{}", 1024 * 1024 * 1024 - 40_000)), "1Gi");
        assert_eq!(memory("0"), "0");
        assert_eq!(memory("-1Ki"), "-1Ki");
    }

    #[test]
    fn exact_values() {
        assert_eq!(bytes(parse("187236Ki").unwrap()), 191_729_664);
        assert_eq!(bytes(parse("1G").unwrap()), 1_000_000_000);
        assert_eq!(bytes(parse("1Gi").unwrap()), 1_073_741_824);
        assert_eq!(bytes(parse("1.5").unwrap()), 2);
        assert_eq!(bytes(parse("+2k").unwrap()), 2000);
        assert_eq!(bytes(parse("1e+3").unwrap()), 1000);
        assert_eq!(bytes(parse("25e-1").unwrap()), 3);
    }

    #[test]
    fn formatted_values_read_back() {
        for text in ["1Gi", "512Mi", "182.8Mi", "953.7Mi", "3Ki", "1023", "7.5Ti"] {
            let written = format_memory(parse(text).unwrap());
            assert_eq!(written, text);
            assert_eq!(format_memory(parse(&written).unwrap()), written);
        }
        for text in ["104m", "1000m", "0m", "1024m"] {
            let written = format_cpu(parse(text).unwrap());
            assert_eq!(written, text);
        }
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for bad in [
            "", "Gi", "1.2.3", "1Xi", "12 Mi", "1e", "1e+", "1ee3", ".", "-", "1e3.5", "abc",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn percent_of_limit() {
        assert_eq!(percent(1073741824.0, 1073741824.0), Some(100.0));
        assert_eq!(percent(0.104287333, 1.024), Some(10.2));
        assert_eq!(percent(1.0, 0.0), None);
    }
}
