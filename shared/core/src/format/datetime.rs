//! Dates and timestamps as text, fast: civil-calendar arithmetic (days since 1970-01-01 and back),
//! a strict RFC 3339 fast path for the common shapes, and writers of `YYYY-MM-DD` and RFC 3339
//! microsecond UTC text that never allocate beyond the output buffer.
//!
//! Invariant: what [`write_rfc3339`] writes, [`fast_timestamp`] reads back to the same microsecond
//! (and agrees with `crate::model::schema::parse_timestamp` on every input both accept).

use crate::model::schema::parse_timestamp;

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Parses a timestamp like [`parse_timestamp`] (µs since the epoch, UTC), with a fast path for
/// the forms streams carry: `YYYY-MM-DDTHH:MM:SS[.f]` followed by `Z`, `±HH:MM` or nothing, and
/// `YYYY-MM-DD HH:MM:SS[.f]`. Anything else goes to [`parse_timestamp`].
pub fn fast_timestamp(s: &str) -> Option<i64> {
    fast_path(s.as_bytes()).or_else(|| parse_timestamp(s))
}

pub(crate) fn fast_path(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let (y, mo, d) = (num(0..4)? as i64, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for (i, &c) in tail[..n].iter().enumerate() {
            if i < 6 {
                micros = micros * 10 + (c - b'0') as i64;
            }
        }
        micros *= 10i64.pow(6u32.saturating_sub(n as u32));
        rest = &tail[n..];
    }
    let offset_secs = match (b[10], rest) {
        (b'T' | b' ', []) => 0,
        (b'T', [b'Z']) => 0,
        (b'T', [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| ((a - b'0') * 10 + (b - b'0')) as i64)
            };
            let (oh, om) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let v = oh * 3600 + om * 60;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    thread_local! {
        // The last date parsed: a batch's timestamps mostly share a few days.
        static LAST: std::cell::Cell<(i64, u32, u32, i64)> = const { std::cell::Cell::new((i64::MIN, 0, 0, 0)) };
    }
    let days = match LAST.get() {
        (ly, lm, ld, days) if (ly, lm, ld) == (y, mo, d) => days,
        _ => {
            let days = days_from_civil(y, mo, d);
            LAST.set((y, mo, d, days));
            days
        }
    };
    let secs = days * 86_400 + (h * 3600 + mi * 60 + sec) as i64 - offset_secs;
    Some(secs * 1_000_000 + micros)
}

fn push_digits(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

fn push_year(out: &mut Vec<u8>, y: i64) {
    if (0..=9999).contains(&y) {
        push_digits(out, y as u32, 4);
    } else {
        out.extend_from_slice(y.to_string().as_bytes());
    }
}

/// Writes `YYYY-MM-DD` for a day number.
pub fn write_date(out: &mut Vec<u8>, days: i32) {
    thread_local! {
        // The last day written: a batch's records mostly share a few days.
        static LAST: std::cell::Cell<(i32, [u8; 10])> = const { std::cell::Cell::new((i32::MIN, [0; 10])) };
    }
    let (last, text) = LAST.get();
    if last == days {
        out.extend_from_slice(&text);
        return;
    }
    let (y, m, d) = civil_from_days(days as i64);
    let start = out.len();
    push_year(out, y);
    out.push(b'-');
    push_digits(out, m, 2);
    out.push(b'-');
    push_digits(out, d, 2);
    if let Ok(text) = <[u8; 10]>::try_from(&out[start..]) {
        LAST.set((days, text));
    }
}

/// Writes RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (the fraction only when it is not zero).
pub fn write_rfc3339(out: &mut Vec<u8>, us: i64) {
    let days = us.div_euclid(MICROS_PER_DAY);
    let rem = us.rem_euclid(MICROS_PER_DAY);
    write_date(out, days as i32);
    let secs = (rem / 1_000_000) as u32;
    out.push(b'T');
    push_digits(out, secs / 3600, 2);
    out.push(b':');
    push_digits(out, secs / 60 % 60, 2);
    out.push(b':');
    push_digits(out, secs % 60, 2);
    let frac = (rem % 1_000_000) as u32;
    if frac != 0 {
        out.push(b'.');
        push_digits(out, frac, 6);
    }
    out.push(b'Z');
}
