//! Column values as JSON: decoders of PostgreSQL's binary format.
//!
//! tokio-postgres asks for every result column in binary; this module turns
//! those bytes into JSON a model reads well. NUMERIC and INTERVAL have their own
//! small decoders (exact, any precision); a type not known here is shown as its
//! text when its binary form is plain UTF-8 (enums, `citext`, …) and otherwise as
//! a placeholder naming the type — never an error for the whole query.

use std::fmt::Write as _;
use std::net::IpAddr;

use fallible_iterator::FallibleIterator;
use postgres_protocol::types as wire;
use serde_json::{Map, Value};
use tokio_postgres::types::{FromSql, Kind, Type};

/// At most this many bytes of a `bytea` are shown (as hex).
const BYTEA_SHOWN: usize = 32;
/// Microseconds per second.
const USECS_PER_SEC: i64 = 1_000_000;
/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;

/// A column's raw bytes, whatever its type (`None` is SQL NULL).
#[derive(Debug)]
pub(crate) struct Raw<'a>(pub(crate) Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// What was shortened among the values of one column.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cuts {
    /// Text values cut at `max_value_chars`.
    pub(crate) text: usize,
    /// `bytea` values shown as their first bytes.
    pub(crate) bytes: usize,
    /// The largest value cut, in bytes.
    pub(crate) largest: usize,
}

impl Cuts {
    fn text(&mut self, len: usize) {
        self.text += 1;
        self.largest = self.largest.max(len);
    }

    fn bytes(&mut self, len: usize) {
        self.bytes += 1;
        self.largest = self.largest.max(len);
    }

    /// Whether nothing was cut.
    pub(crate) fn is_empty(&self) -> bool {
        self.text == 0 && self.bytes == 0
    }

    /// Adds the cuts of more rows.
    pub(crate) fn add(&mut self, other: Cuts) {
        self.text += other.text;
        self.bytes += other.bytes;
        self.largest = self.largest.max(other.largest);
    }
}

/// Renders one value; `max_chars` bounds text values, and what is cut is
/// counted in `cuts`.
pub(crate) fn to_json(ty: &Type, raw: Option<&[u8]>, max_chars: usize, cuts: &mut Cuts) -> Value {
    match raw {
        None => Value::Null,
        Some(bytes) => decode(ty, bytes, max_chars, cuts).unwrap_or_else(|| placeholder(ty, bytes)),
    }
}

fn placeholder(ty: &Type, bytes: &[u8]) -> Value {
    Value::String(format!(
        "<{} value, {} bytes: cast it to text (::text) to read it>",
        ty.name(),
        bytes.len()
    ))
}

fn decode(ty: &Type, b: &[u8], max_chars: usize, cuts: &mut Cuts) -> Option<Value> {
    let mut text = |s: &str| Value::String(shorten(s, max_chars, cuts));
    let v = match *ty {
        Type::BOOL => Value::Bool(wire::bool_from_sql(b).ok()?),
        Type::INT2 => wire::int2_from_sql(b).ok()?.into(),
        Type::INT4 => wire::int4_from_sql(b).ok()?.into(),
        Type::INT8 => wire::int8_from_sql(b).ok()?.into(),
        Type::OID | Type::XID | Type::CID | Type::REGPROC | Type::REGCLASS | Type::REGTYPE => {
            wire::oid_from_sql(b).ok()?.into()
        }
        Type::FLOAT4 => float(f64::from(wire::float4_from_sql(b).ok()?)),
        Type::FLOAT8 => float(wire::float8_from_sql(b).ok()?),
        Type::NUMERIC => Value::String(numeric(b)?),
        Type::MONEY => Value::String(money(wire::int8_from_sql(b).ok()?)),
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::XML
        | Type::REFCURSOR => text(wire::text_from_sql(b).ok()?),
        Type::CHAR => Value::String(char::from(b.first().copied()?).to_string()),
        Type::JSON => json_text(std::str::from_utf8(b).ok()?, max_chars, cuts),
        Type::JSONB => match b.split_first() {
            Some((1, rest)) => json_text(std::str::from_utf8(rest).ok()?, max_chars, cuts),
            _ => return None,
        },
        Type::BYTEA => Value::String(bytea(b, cuts)),
        Type::UUID => Value::String(uuid(wire::uuid_from_sql(b).ok()?)),
        Type::DATE => Value::String(date(wire::date_from_sql(b).ok()?)),
        Type::TIME => Value::String(time_of_day(wire::time_from_sql(b).ok()?)),
        Type::TIMETZ => Value::String(timetz(b)?),
        Type::TIMESTAMP => Value::String(timestamp(wire::timestamp_from_sql(b).ok()?, "")),
        Type::TIMESTAMPTZ => Value::String(timestamp(wire::timestamp_from_sql(b).ok()?, "Z")),
        Type::INTERVAL => Value::String(interval(b)?),
        Type::INET | Type::CIDR => Value::String(inet(b, *ty == Type::CIDR)?),
        Type::MACADDR => Value::String(hex_join(&wire::macaddr_from_sql(b).ok()?, ":")),
        Type::MACADDR8 if b.len() == 8 => Value::String(hex_join(b, ":")),
        Type::BIT | Type::VARBIT => Value::String(bits(b)?),
        Type::POINT => {
            let p = wire::point_from_sql(b).ok()?;
            Value::String(format!("({},{})", p.x(), p.y()))
        }
        Type::PG_LSN => {
            let lsn = wire::lsn_from_sql(b).ok()?;
            Value::String(format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF))
        }
        Type::RECORD => record(b, None, max_chars, cuts)?,
        _ => match ty.kind() {
            Kind::Array(element) => array(element, b, max_chars, cuts)?,
            Kind::Domain(base) => decode(base, b, max_chars, cuts)?,
            Kind::Enum(_) => text(std::str::from_utf8(b).ok()?),
            Kind::Range(element) => Value::String(range(element, b, max_chars, cuts)?),
            Kind::Composite(fields) => {
                let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
                record(b, Some(&names), max_chars, cuts)?
            }
            // A type we do not know: its binary form is often its text (citext, ltree…).
            _ => {
                let s = std::str::from_utf8(b).ok()?;
                if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return None;
                }
                text(s)
            }
        },
    };
    Some(v)
}

/// Cuts a long text at `max` characters, saying how long it was.
fn shorten(s: &str, max: usize, cuts: &mut Cuts) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => {
            cuts.text(s.len());
            format!(
                "{}…[cut: {} bytes in all]",
                s.get(..cut).unwrap_or_default(),
                s.len()
            )
        }
    }
}

fn json_text(s: &str, max_chars: usize, cuts: &mut Cuts) -> Value {
    if s.len() > max_chars.saturating_mul(4) {
        return Value::String(shorten(s, max_chars, cuts));
    }
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(shorten(s, max_chars, cuts)))
}

fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(
        || {
            Value::String(if f.is_nan() {
                "NaN".into()
            } else if f > 0.0 {
                "Infinity".into()
            } else {
                "-Infinity".into()
            })
        },
        Value::Number,
    )
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// NUMERIC: `ndigits`, `weight`, `sign`, `dscale`, then base-10000 digits.
pub(crate) fn numeric(b: &[u8]) -> Option<String> {
    let ndigits = usize::try_from(be_i16(b, 0)?).ok()?;
    let weight = i32::from(be_i16(b, 2)?);
    let sign = u16::from_be_bytes(b.get(4..6)?.try_into().ok()?);
    let dscale = usize::try_from(be_i16(b, 6)?).ok()?;
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|k| be_i16(b, 8 + 2 * k))
        .collect::<Option<_>>()?;
    let digit = |index: i32| -> i16 {
        usize::try_from(index)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for index in 0..=weight {
            if index == 0 {
                let _ = write!(out, "{}", digit(index));
            } else {
                let _ = write!(out, "{:04}", digit(index));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::new();
        let mut index = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(index));
            index += 1;
        }
        fraction.truncate(dscale);
        out.push_str(&fraction);
    }
    Some(out)
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn bytea(b: &[u8], cuts: &mut Cuts) -> String {
    let shown = b.get(..BYTEA_SHOWN.min(b.len())).unwrap_or_default();
    let mut out = String::from("\\x");
    for byte in shown {
        let _ = write!(out, "{byte:02x}");
    }
    if b.len() > BYTEA_SHOWN {
        cuts.bytes(b.len());
        let _ = write!(out, "…[{} bytes in all]", b.len());
    }
    out
}

fn uuid(u: [u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn hex_join(b: &[u8], sep: &str) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` and whether the date is BC (PostgreSQL writes year 0 as 1 BC).
fn ymd(days_since_2000: i64) -> (String, bool) {
    let (y, m, d) = civil(days_since_2000 + PG_EPOCH_DAYS);
    if y <= 0 {
        (format!("{:04}-{m:02}-{d:02}", 1 - y), true)
    } else {
        (format!("{y:04}-{m:02}-{d:02}"), false)
    }
}

fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        d => match ymd(i64::from(d)) {
            (day, false) => day,
            (day, true) => format!("{day} BC"),
        },
    }
}

/// `HH:MM:SS[.ffffff]` from microseconds since midnight.
fn time_of_day(usecs: i64) -> String {
    let secs = usecs.div_euclid(USECS_PER_SEC);
    let frac = usecs.rem_euclid(USECS_PER_SEC);
    let mut out = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    push_fraction(&mut out, frac);
    out
}

fn push_fraction(out: &mut String, usecs: i64) {
    if usecs != 0 {
        let digits = format!("{usecs:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

fn timetz(b: &[u8]) -> Option<String> {
    let usecs = be_i64(b, 0)?;
    // Stored as seconds west of UTC.
    let east = -be_i32(b, 8)?;
    let sign = if east < 0 { '-' } else { '+' };
    let abs = east.unsigned_abs();
    Some(format!(
        "{}{sign}{:02}:{:02}",
        time_of_day(usecs),
        abs / 3600,
        abs / 60 % 60
    ))
}

fn timestamp(usecs: i64, zone: &str) -> String {
    match usecs {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        t => {
            let days = t.div_euclid(86_400 * USECS_PER_SEC);
            let rest = t.rem_euclid(86_400 * USECS_PER_SEC);
            let (day, bc) = ymd(days);
            let era = if bc { " BC" } else { "" };
            format!("{day}T{}{zone}{era}", time_of_day(rest))
        }
    }
}

/// INTERVAL as ISO 8601 (`P1Y2M3DT4H5M6.5S`), signs per field as PostgreSQL's
/// `intervalstyle = iso_8601` writes them.
pub(crate) fn interval(b: &[u8]) -> Option<String> {
    let usecs = be_i64(b, 0)?;
    let days = be_i32(b, 8)?;
    let months = be_i32(b, 12)?;
    if usecs == 0 && days == 0 && months == 0 {
        return Some("PT0S".into());
    }
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if n != 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    if usecs != 0 {
        out.push('T');
        let negative = usecs < 0;
        let abs = usecs.unsigned_abs();
        let secs = abs / 1_000_000;
        let frac = abs % 1_000_000;
        let sign = if negative { "-" } else { "" };
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h != 0 {
            let _ = write!(out, "{sign}{h}H");
        }
        if m != 0 {
            let _ = write!(out, "{sign}{m}M");
        }
        if s != 0 || frac != 0 {
            let _ = write!(out, "{sign}{s}");
            push_fraction(&mut out, i64::try_from(frac).unwrap_or(0));
            out.push('S');
        }
    }
    Some(out)
}

fn inet(b: &[u8], cidr: bool) -> Option<String> {
    let v = wire::inet_from_sql(b).ok()?;
    let full = match v.addr() {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    Some(if !cidr && v.netmask() == full {
        v.addr().to_string()
    } else {
        format!("{}/{}", v.addr(), v.netmask())
    })
}

fn bits(b: &[u8]) -> Option<String> {
    let v = wire::varbit_from_sql(b).ok()?;
    let mut out = String::with_capacity(v.len());
    for i in 0..v.len() {
        let byte = v.bytes().get(i / 8)?;
        out.push(if byte & (0x80 >> (i % 8)) != 0 {
            '1'
        } else {
            '0'
        });
    }
    Some(out)
}

fn array(element: &Type, b: &[u8], max_chars: usize, cuts: &mut Cuts) -> Option<Value> {
    let a = wire::array_from_sql(b).ok()?;
    let dims: Vec<usize> = a
        .dimensions()
        .map(|d| Ok(usize::try_from(d.len).unwrap_or(0)))
        .collect()
        .ok()?;
    let values: Vec<Value> = a
        .values()
        .map(|v| Ok(to_json(element, v, max_chars, cuts)))
        .collect()
        .ok()?;
    if dims.is_empty() {
        return Some(Value::Array(Vec::new()));
    }
    let mut values = values.into_iter();
    Some(nest(&dims, &mut values))
}

fn nest(dims: &[usize], values: &mut impl Iterator<Item = Value>) -> Value {
    match dims.split_first() {
        Some((&n, [])) => Value::Array(values.take(n).collect()),
        Some((&n, rest)) => Value::Array((0..n).map(|_| nest(rest, values)).collect()),
        None => Value::Null,
    }
}

fn range(element: &Type, b: &[u8], max_chars: usize, cuts: &mut Cuts) -> Option<String> {
    let r = wire::range_from_sql(b).ok()?;
    let (lower, upper) = match r {
        wire::Range::Empty => return Some("empty".into()),
        wire::Range::Nonempty(lower, upper) => (lower, upper),
    };
    let mut show = |v: Option<&[u8]>| match to_json(element, v, max_chars, cuts) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let mut out = String::new();
    match lower {
        wire::RangeBound::Inclusive(v) => {
            out.push('[');
            out.push_str(&show(v));
        }
        wire::RangeBound::Exclusive(v) => {
            out.push('(');
            out.push_str(&show(v));
        }
        wire::RangeBound::Unbounded => out.push('('),
    }
    out.push(',');
    match upper {
        wire::RangeBound::Inclusive(v) => {
            out.push_str(&show(v));
            out.push(']');
        }
        wire::RangeBound::Exclusive(v) => {
            out.push_str(&show(v));
            out.push(')');
        }
        wire::RangeBound::Unbounded => out.push(')'),
    }
    Some(out)
}

/// A composite value: `count`, then per field its type OID, length and bytes.
/// With names it becomes an object, without (an anonymous record) an array.
fn record(b: &[u8], names: Option<&[&str]>, max_chars: usize, cuts: &mut Cuts) -> Option<Value> {
    let count = usize::try_from(be_i32(b, 0)?).ok()?;
    let mut at = 4;
    let mut values = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let oid = u32::try_from(be_i32(b, at)?).ok()?;
        let len = be_i32(b, at + 4)?;
        at += 8;
        let value = if len < 0 {
            Value::Null
        } else {
            let len = usize::try_from(len).ok()?;
            let bytes = b.get(at..at + len)?;
            at += len;
            match Type::from_oid(oid) {
                Some(ty) => to_json(&ty, Some(bytes), max_chars, cuts),
                None => Value::String(format!(
                    "<type {oid}, {len} bytes: cast it to text to read it>"
                )),
            }
        };
        values.push(value);
    }
    Some(match names {
        Some(names) if names.len() == values.len() => Value::Object(
            names
                .iter()
                .map(|n| (*n).to_owned())
                .zip(values)
                .collect::<Map<_, _>>(),
        ),
        _ => Value::Array(values),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&sign.to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_is_exact() {
        assert_eq!(numeric(&numeric_bytes(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(
            numeric(&numeric_bytes(1, 0, 2, &[12, 3456, 7800])).unwrap(),
            "123456.78"
        );
        assert_eq!(
            numeric(&numeric_bytes(-2, 0x4000, 6, &[1200])).unwrap(),
            "-0.000012"
        );
        assert_eq!(numeric(&numeric_bytes(2, 0, 0, &[1])).unwrap(), "100000000");
        assert_eq!(numeric(&numeric_bytes(0, 0xC000, 0, &[])).unwrap(), "NaN");
    }

    #[test]
    fn interval_is_iso_8601() {
        let mut b = Vec::new();
        b.extend_from_slice(&(4 * 3600 * 1_000_000i64 + 5 * 60_000_000 + 6_500_000).to_be_bytes());
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(&14i32.to_be_bytes());
        assert_eq!(interval(&b).unwrap(), "P1Y2M3DT4H5M6.5S");
    }

    #[test]
    fn dates_around_the_epochs() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-10_957), "1970-01-01");
        assert_eq!(date(9_190), "2025-02-28");
        assert_eq!(timestamp(1_000_001, "Z"), "2000-01-01T00:00:01.000001Z");
    }

    #[test]
    fn long_text_is_cut_and_says_so() {
        let mut cuts = Cuts::default();
        assert_eq!(shorten("abc", 3, &mut cuts), "abc");
        assert!(cuts.is_empty());
        assert_eq!(shorten("abcdef", 3, &mut cuts), "abc…[cut: 6 bytes in all]");
        assert_eq!(
            shorten("abcdefgh", 3, &mut cuts),
            "abc…[cut: 8 bytes in all]"
        );
        assert_eq!((cuts.text, cuts.bytes, cuts.largest), (2, 0, 8));
        bytea(&[0; 40], &mut cuts);
        assert_eq!((cuts.text, cuts.bytes, cuts.largest), (2, 1, 40));
    }
}
