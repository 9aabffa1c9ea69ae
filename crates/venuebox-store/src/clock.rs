//! Wall-clock helpers: the one timestamp format of the wire and the store.
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// `2026-02-15T08:00:00.000Z`, the shape the crew app (and JavaScript's `toISOString`) uses.
pub fn format_iso(at: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .expect("a UTC timestamp always formats")
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn now_iso() -> String {
    format_iso(now())
}

pub fn now_ms() -> i64 {
    (now().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Parses what browsers send for dates: full RFC 3339 (any offset), a date only
/// (`2026-03-15`, taken as midnight UTC like the old server did), or a local
/// date-time without offset (taken as UTC).
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let date_only = format_description!("[year]-[month]-[day]");
    if let Ok(date) = Date::parse(text, &date_only) {
        return Some(date.midnight().assume_utc());
    }
    let naive = [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    ];
    naive
        .iter()
        .find_map(|fmt| PrimitiveDateTime::parse(text, fmt).ok())
        .map(PrimitiveDateTime::assume_utc)
}

pub fn from_epoch_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

pub fn to_epoch_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_javascript() {
        let at = parse_timestamp("2026-02-15T08:00:00Z").unwrap();
        assert_eq!(format_iso(at), "2026-02-15T08:00:00.000Z");
    }

    #[test]
    fn accepts_offsets_dates_and_naive_times() {
        let at = parse_timestamp("2026-02-15T09:30:00.250+01:00").unwrap();
        assert_eq!(format_iso(at), "2026-02-15T08:30:00.250Z");
        assert_eq!(
            format_iso(parse_timestamp("2026-03-15").unwrap()),
            "2026-03-15T00:00:00.000Z"
        );
        assert_eq!(
            format_iso(parse_timestamp("2026-03-15T10:05").unwrap()),
            "2026-03-15T10:05:00.000Z"
        );
        assert!(parse_timestamp("2026-03-01 call the venue").is_none());
        assert!(parse_timestamp("tomorrow").is_none());
    }

    #[test]
    fn epoch_ms_round_trips() {
        let at = from_epoch_ms(1_712_000_000_123).unwrap();
        assert_eq!(to_epoch_ms(at), 1_712_000_000_123);
    }
}
