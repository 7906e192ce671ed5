//! Unit tests of `record`.

use super::*;
use crate::model::schema::{Column, parse_timestamp};
use proptest::prelude::*;

/// The sample stream dataset (`web.events` in tests/data/datasets.json).
pub(crate) fn web_events() -> (Dataset, TableSchema) {
    let all: Vec<Dataset> = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/../../tests/data/datasets.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let ds = all.into_iter().find(|d| d.id == "web.events").unwrap();
    let schema = ds.schema.clone().unwrap();
    (ds, schema)
}

pub(crate) fn stream_config() -> StreamConfig {
    StreamConfig {
        dataset: "web.events".into(),
        time_field: None,
        renames: vec![("userId".into(), "user_id".into())],
        drop_if: vec![("event_type".into(), "heartbeat".into())],
    }
}

pub(crate) fn spec() -> RecordSpec {
    let (ds, schema) = web_events();
    RecordSpec::new(&ds, &schema, &stream_config()).unwrap()
}

const ARRIVAL: i64 = 1_705_312_800_000_000; // 2024-01-15T10:00:00Z

fn run(spec: &RecordSpec, rec: &str) -> (Verdict, String) {
    let mut scratch = Scratch::default();
    let (v, r) = spec.check(rec.as_bytes(), ARRIVAL, &mut scratch);
    let mut out = Vec::new();
    if matches!(v, Verdict::Accepted { .. }) {
        spec.write_json(&r, &mut out);
    }
    scratch.give_back(r);
    (v, String::from_utf8(out).unwrap())
}

fn failed(v: &Verdict) -> (&'static str, &str) {
    match v {
        Verdict::Failed(r) => (r.category, r.reason.as_str()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn accepts_and_normalises_a_good_record() {
    let s = spec();
    let (v, out) = run(
        &s,
        r#"{"event_id":"e1","event_type":"page_view","userId":"u1","ts":"2024-01-15T11:30:00.250+01:00","page":"/a","duration_ms":12,"revenue":1.50,"consent":true,"ctx":{"ua":"x"},"extra":[1, 2]}"#,
    );
    assert_eq!(
        v,
        Verdict::Accepted {
            event_us: ARRIVAL + 1_800_000_000 + 250_000,
            from_field: true
        }
    );
    assert_eq!(
        out,
        "{\"event_id\":\"e1\",\"event_type\":\"page_view\",\"user_id\":\"u1\",\"ts\":\"2024-01-15T10:30:00.250000Z\",\"page\":\"/a\",\"duration_ms\":12,\"revenue\":1.50,\"consent\":true,\"ctx\":{\"ua\":\"x\"},\"extra\":[1, 2]}\n"
    );
    let back: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(back["user_id"], "u1");
}

#[test]
fn compact_and_spaced_records_come_out_the_same() {
    let s = spec();
    let compact = r#"{"event_id":"e\u0031","event_type":"click","userId":"u1","ts":"2024-01-15 10:00:00","extra":{"a": [1, 2]},"n":-1.5e3}"#;
    let spaced = "\n{ \"event_id\" : \"e\\u0031\",\t\"event_type\":\"click\", \"userId\":\"u1\",\"ts\": \"2024-01-15 10:00:00\",\"extra\":{\"a\": [1, 2]} ,\"n\":-1.5e3 }\r\n";
    let want = "{\"event_id\":\"e\\u0031\",\"event_type\":\"click\",\"user_id\":\"u1\",\"ts\":\"2024-01-15T10:00:00Z\",\"extra\":{\"a\": [1, 2]},\"n\":-1.5e3}\n";
    assert_eq!(run(&s, compact).1, want);
    assert_eq!(run(&s, spaced).1, want);
    // A key needing escapes when renamed.
    let (ds, schema) = web_events();
    let mut cfg = stream_config();
    cfg.renames = vec![("page".into(), "pa\"ge".into())];
    let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
    let rec =
        r#"{"event_id":"e","event_type":"t","user_id":"u","ts":"2024-01-15T10:00:00Z","page":"/"}"#;
    assert_eq!(
        run(&s, rec).1,
        "{\"event_id\":\"e\",\"event_type\":\"t\",\"user_id\":\"u\",\"ts\":\"2024-01-15T10:00:00Z\",\"pa\\\"ge\":\"/\"}\n"
    );
}

#[test]
fn scratch_buffers_keep_their_allocations() {
    let s = spec();
    let mut scratch = Scratch::default();
    let rec = br#"{"event_id":"e","event_type":"t","user_id":"u","ts":"2024-01-15T10:00:00Z","page":"/","duration_ms":1}"#;
    let (_, r) = s.check(rec, ARRIVAL, &mut scratch);
    scratch.give_back(r);
    let cap = scratch.fields.capacity();
    assert!(cap >= 6, "{cap}");
    let (_, r) = s.check(rec, ARRIVAL, &mut scratch);
    assert!(r.fields.capacity() >= 6, "the same allocation, reused");
    scratch.give_back(r);
    assert_eq!(scratch.fields.capacity(), cap);
}

#[test]
fn keys_are_found_in_any_order() {
    let s = spec();
    let ordered = r#"{"event_id":"e","event_type":"t","userId":"u","ts":"2024-01-15T10:00:00Z","page":"/","duration_ms":1,"revenue":2.5,"consent":false,"ctx":"c"}"#;
    let shuffled = r#"{"ctx":"c","consent":false,"revenue":2.5,"duration_ms":1,"page":"/","ts":"2024-01-15T10:00:00Z","userId":"u","event_type":"t","event_id":"e","other":1}"#;
    let (ds, schema) = web_events();
    for rec in [ordered, shuffled] {
        let mut scratch = Scratch::default();
        let (v, r) = s.check(rec.as_bytes(), ARRIVAL, &mut scratch);
        assert!(matches!(v, Verdict::Accepted { .. }), "{v:?}");
        let at = |n: &str| schema.index_of(n).unwrap();
        assert_eq!(s.cell(&r, at("user_id")), Cell::Str("u"));
        assert_eq!(s.cell(&r, at("revenue")), Cell::F64(2.5));
        assert_eq!(s.cell(&r, at("consent")), Cell::Bool(false));
        assert_eq!(s.cell(&r, at("ctx")), Cell::Str("c"));
        scratch.give_back(r);
    }
    // Long names (past the eight-byte prefix) that share it.
    let mut schema2 = schema.clone();
    for name in [
        "long_field_a",
        "long_field_b",
        "a_very_long_field_name_1",
        "a_very_long_field_name_2",
    ] {
        schema2.columns.push(Column {
            name: name.into(),
            ty: ColumnType::Int64,
            nullable: true,
        });
    }
    let s = RecordSpec::new(&ds, &schema2, &stream_config()).unwrap();
    let rec = r#"{"long_field_b":2,"event_id":"e","event_type":"t","user_id":"u","ts":"2024-01-15T10:00:00Z","long_field_a":1,"long_field_c":"x","a_very_long_field_name_2":4,"a_very_long_field_name_1":3,"a_very_long_field_name_3":5}"#;
    let mut scratch = Scratch::default();
    let (v, r) = s.check(rec.as_bytes(), ARRIVAL, &mut scratch);
    assert!(matches!(v, Verdict::Accepted { .. }), "{v:?}");
    assert_eq!(
        s.cell(&r, schema2.index_of("long_field_a").unwrap()),
        Cell::I64(1)
    );
    assert_eq!(
        s.cell(&r, schema2.index_of("long_field_b").unwrap()),
        Cell::I64(2)
    );
    for (name, v) in [
        ("a_very_long_field_name_1", 3),
        ("a_very_long_field_name_2", 4),
    ] {
        assert_eq!(s.cell(&r, schema2.index_of(name).unwrap()), Cell::I64(v));
    }
    scratch.give_back(r);
}

#[test]
fn drops_on_filters_before_validation() {
    let s = spec();
    // No required fields at all, but a heartbeat.
    let (v, _) = run(&s, r#"{"event_type":"heartbeat","seq":9}"#);
    assert_eq!(v, Verdict::Dropped { filter: 0 });
    // A filter on a non-string value matches its JSON text.
    let (ds, schema) = web_events();
    let mut cfg = stream_config();
    cfg.drop_if = vec![("ping".into(), "true".into())];
    let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
    // A duplicate field before the filter field does not stop the drop.
    assert_eq!(
        run(&s, r#"{"event_id":"a","event_id":"b","ping":true}"#).0,
        Verdict::Dropped { filter: 0 }
    );
    assert_eq!(
        run(&s, r#"{"ping":true}"#).0,
        Verdict::Dropped { filter: 0 }
    );
    assert_ne!(
        run(&s, r#"{"ping":"yes"}"#).0,
        Verdict::Dropped { filter: 0 }
    );
}

#[test]
fn bad_records_fail_with_a_category_and_a_reason() {
    let s = spec();
    let good = r#""event_id":"e1","event_type":"click","user_id":"u1","ts":"2024-01-15T10:00:00Z""#;
    let cases = [
        ("", "empty", "record is empty"),
        ("  \n", "empty", "record is empty"),
        ("{\"event_id\":", "invalid_json", "record is invalid JSON"),
        ("[1,2]", "not_an_object", "not an object"),
        (
            r#"{"event_id":"e1","event_type":"click","ts":"2024-01-15T10:00:00Z"}"#,
            "missing_field",
            "missing required field user_id",
        ),
        (
            &format!("{{{good},\"duration_ms\":\"12\"}}"),
            "wrong_type",
            "field duration_ms: string \"12\" is not a valid bigint",
        ),
        (
            &format!("{{{good},\"duration_ms\":1.5}}"),
            "wrong_type",
            "is not a valid bigint",
        ),
        (
            &format!("{{{good},\"consent\":\"yes\"}}"),
            "wrong_type",
            "field consent: string \"yes\" is not a valid boolean",
        ),
        (
            r#"{"event_id":"e1","event_type":"click","user_id":null,"ts":"2024-01-15T10:00:00Z"}"#,
            "null_field",
            "required field user_id is null",
        ),
        (
            r#"{"event_id":"e1","event_type":"click","user_id":"u","ts":"yesterday"}"#,
            "invalid_value",
            "field ts: \"yesterday\" is not a valid timestamp",
        ),
        (
            &format!("{{{good},\"userId\":\"u2\"}}"),
            "duplicate_field",
            "field user_id appears more than once",
        ),
    ];
    for (rec, category, reason) in cases {
        let (v, _) = run(&s, rec);
        let (c, r) = failed(&v);
        assert_eq!(c, category, "{rec:?}: {r}");
        assert!(r.contains(reason), "{rec:?}: {r}");
    }
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES));
    let v = run(&s, &big).0;
    let (c, r) = failed(&v);
    assert_eq!(
        (c, r),
        ("too_large", "record is 1024010 bytes; the limit is 1024000")
    );
    let unbounded = spec().with_max_record_bytes(usize::MAX);
    assert_eq!(failed(&run(&unbounded, &big).0).0, "missing_field");
    let (c, _) = failed(
        &s.check(b"{\"a\":\"\xff\"}", ARRIVAL, &mut Scratch::default())
            .0,
    );
    assert_eq!(c, "invalid_utf8");
}

#[test]
fn event_time_falls_back_to_arrival() {
    let s = spec();
    assert_eq!(s.time_field(), Some("ts"));
    let (ds, mut schema) = web_events();
    // `ts` optional: without it, the arrival time decides.
    schema.columns.iter_mut().for_each(|c| c.nullable = true);
    let s = RecordSpec::new(&ds, &schema, &stream_config()).unwrap();
    for rec in [r#"{"event_id":"e1"}"#, r#"{"event_id":"e1","ts":null}"#] {
        assert_eq!(
            run(&s, rec).0,
            Verdict::Accepted {
                event_us: ARRIVAL,
                from_field: false
            }
        );
    }
    // A time field outside the schema is parsed (and normalised) too.
    let mut cfg = stream_config();
    cfg.time_field = Some("sent_at".into());
    let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
    let (v, out) = run(&s, r#"{"event_id":"e1","sent_at":"2024-01-15 12:00:00"}"#);
    assert_eq!(
        v,
        Verdict::Accepted {
            event_us: ARRIVAL + 7_200_000_000,
            from_field: true
        }
    );
    assert_eq!(
        out,
        "{\"event_id\":\"e1\",\"sent_at\":\"2024-01-15T12:00:00Z\"}\n"
    );
    let v = run(&s, r#"{"sent_at":1705312800}"#).0;
    let (c, r) = failed(&v);
    assert_eq!(c, "invalid_time", "{r}");
    // A string column as the time field: parsed, and normalised in both outputs.
    let mut cfg = stream_config();
    cfg.time_field = Some("page".into());
    let s = RecordSpec::new(&ds, &schema, &cfg).unwrap();
    let (v, out) = run(
        &s,
        r#"{"event_id":"e1","page":"2024-01-15T12:00:00+02:00"}"#,
    );
    assert_eq!(
        v,
        Verdict::Accepted {
            event_us: ARRIVAL,
            from_field: true
        }
    );
    assert_eq!(
        out,
        "{\"event_id\":\"e1\",\"page\":\"2024-01-15T10:00:00Z\"}\n"
    );
    let mut scratch = Scratch::default();
    let (_, r) = s.check(br#"{"page":"2024-01-15 10:00:00"}"#, ARRIVAL, &mut scratch);
    assert_eq!(
        s.cell(&r, schema.index_of("page").unwrap()),
        Cell::Owned("2024-01-15T10:00:00Z".into())
    );
    scratch.give_back(r);
    assert_eq!(
        failed(&run(&s, r#"{"page":"/pricing"}"#).0).0,
        "invalid_time"
    );
    // A time field of another type is a configuration error.
    let mut cfg = stream_config();
    cfg.time_field = Some("duration_ms".into());
    assert!(RecordSpec::new(&ds, &schema, &cfg).is_err());
}

#[test]
fn cells_follow_the_column_types() {
    let s = spec();
    let rec = r#"{"event_id":"e\u00e9","event_type":"click","user_id":"u1","ts":"2024-01-15T10:00:00Z","duration_ms":-3,"ctx":{"a":1}}"#;
    let mut scratch = Scratch::default();
    let (v, r) = s.check(rec.as_bytes(), ARRIVAL, &mut scratch);
    assert!(matches!(v, Verdict::Accepted { .. }));
    let (_, schema) = web_events();
    let at = |n: &str| schema.index_of(n).unwrap();
    assert_eq!(s.cell(&r, at("event_id")), Cell::Owned("eé".into()));
    assert_eq!(s.cell(&r, at("user_id")), Cell::Str("u1"));
    assert_eq!(s.cell(&r, at("ts")), Cell::Ts(ARRIVAL));
    assert_eq!(s.cell(&r, at("duration_ms")), Cell::I64(-3));
    assert_eq!(s.cell(&r, at("ctx")), Cell::Str("{\"a\":1}"));
    assert_eq!(s.cell(&r, at("page")), Cell::Null);
    scratch.give_back(r);
}

#[test]
fn hour_keys_and_rfc3339() {
    let k = HourKey::of(ARRIVAL + 3_599_999_999);
    assert_eq!(k.values(), ["2024", "01", "15", "10"]);
    assert_eq!(k.path(), "year=2024/month=01/day=15/hour=10");
    assert_eq!(k.fixed_digits(&mut [0; 10]), Some("2024011510"));
    assert_eq!(k.year_len(), 4);
    assert_eq!(HourKey::of(-1).values(), ["1969", "12", "31", "23"]);
    let mut out = Vec::new();
    write_rfc3339(&mut out, ARRIVAL + 5);
    assert_eq!(out, b"2024-01-15T10:00:00.000005Z");
    out.clear();
    write_rfc3339(&mut out, -1_000_000);
    assert_eq!(out, b"1969-12-31T23:59:59Z");
    let _ = Column {
        name: String::new(),
        ty: ColumnType::String,
        nullable: true,
    };
}

proptest! {
    #[test]
    fn civil_dates_agree_with_chrono(days in -800_000i64..800_000) {
        let d = chrono::NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32).unwrap();
        use chrono::Datelike;
        prop_assert_eq!(civil_from_days(days), (d.year() as i64, d.month(), d.day()));
        prop_assert_eq!(days_from_civil(d.year() as i64, d.month(), d.day()), days);
    }

    /// The fast path accepts nothing `parse_timestamp` reads differently, and normalising
    /// round-trips.
    #[test]
    fn fast_timestamps_agree_with_parse_timestamp(
        y in 1900u32..2100, mo in 0u32..14, d in 0u32..32, h in 0u32..25, mi in 0u32..61, s in 0u32..61,
        frac in prop::option::of("[0-9]{1,10}"),
        sep in prop::sample::select(vec!["T", " ", "t"]),
        tz in prop::sample::select(vec!["", "Z", "z", "+01:00", "-05:30", "+2400", "+00:60", "+05:45"]),
    ) {
        let text = format!(
            "{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{}{tz}",
            frac.map(|f| format!(".{f}")).unwrap_or_default()
        );
        if let Some(us) = fast_path(text.as_bytes()) {
            prop_assert_eq!(parse_timestamp(&text), Some(us), "{}", text);
            let mut out = Vec::new();
            write_rfc3339(&mut out, us);
            prop_assert_eq!(fast_timestamp(std::str::from_utf8(&out).unwrap()), Some(us));
        }
    }
}
