//! Unit tests of `firehose`.

use super::*;
use crate::stream::record::tests::spec;
use aws_lambda_events::event::firehose::{KinesisFirehoseEvent, KinesisFirehoseResponse};
use proptest::prelude::*;
use serde::Deserialize;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn b64(s: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(s)
}

fn unb64(s: &str) -> Vec<u8> {
    base64_simd::STANDARD.decode_to_vec(s).expect("base64 data")
}

/// A response as Firehose reads it.
#[derive(Debug, Deserialize)]
struct Response {
    records: Vec<ResponseRecord>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResponseRecord {
    record_id: String,
    result: RecordResult,
    data: String,
    metadata: Option<Metadata>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Metadata {
    partition_keys: BTreeMap<String, String>,
}

fn record(id: &str, data: &str) -> FirehoseRecord<'static> {
    FirehoseRecord {
        record_id: id.to_string().into(),
        approximate_arrival_timestamp: 1_705_312_800_000,
        data: data.to_string().into(),
        kinesis_record_metadata: None,
    }
}

fn event(records: Vec<FirehoseRecord<'static>>) -> FirehoseEvent<'static> {
    FirehoseEvent {
        records,
        ..Default::default()
    }
}

/// Transforms; checks the contract invariants every response must meet.
fn run(ev: FirehoseEvent<'_>, max: usize) -> (Response, TransformReport, Vec<u8>) {
    let ids: Vec<String> = ev.records.iter().map(|r| r.record_id.to_string()).collect();
    let (json, report) = transform(&spec(), &ev, max).unwrap();
    let body = json.into_bytes();
    assert!(body.len() <= max, "{} > {max}", body.len());
    assert_eq!(
        report.response_bytes as usize,
        body.len(),
        "exact size accounting"
    );
    let resp: Response = serde_json::from_slice(&body).unwrap();
    let got: Vec<&str> = resp.records.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(got, ids, "every recordId once, in order");
    assert_eq!(report.records, report.ok + report.dropped + report.failed);
    // What Firehose reads: the AWS crate's response type parses it, with the same content.
    // (That type requires `metadata`, which Firehose does not: add an empty one where absent.)
    let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for r in value["records"].as_array_mut().unwrap() {
        if r.get("metadata").is_none() {
            r["metadata"] = serde_json::json!({ "partitionKeys": {} });
        }
    }
    let aws: KinesisFirehoseResponse = serde_json::from_value(value).unwrap();
    for (a, ours) in aws.records.iter().zip(&resp.records) {
        assert_eq!(a.record_id.as_deref(), Some(ours.record_id.as_str()));
        assert_eq!(a.result.as_deref(), Some(ours.result.as_str()));
        assert_eq!(a.data.0, unb64(&ours.data));
        assert_eq!(
            a.metadata.partition_keys.is_empty(),
            ours.metadata.is_none()
        );
    }
    (resp, report, body)
}

fn keys(r: &ResponseRecord) -> Vec<String> {
    let pk = &r.metadata.as_ref().expect("partition keys").partition_keys;
    assert_eq!(pk.len(), 5, "{pk:?}");
    ["dataset", "year", "month", "day", "hour"]
        .iter()
        .map(|k| pk[*k].clone())
        .collect()
}

#[test]
fn direct_put_fixture_follows_the_contract() {
    let raw = fixture("firehose-direct-put.json");
    // The fixture is a genuine Firehose event: the AWS crate's own type reads it.
    let aws: KinesisFirehoseEvent = serde_json::from_slice(&raw).unwrap();
    let ev: FirehoseEvent = serde_json::from_slice(&raw).unwrap();
    assert_eq!(aws.records.len(), ev.records.len());
    assert!(
        ev.records
            .iter()
            .all(|r| matches!(r.data, Cow::Borrowed(_))),
        "record data is read without copies"
    );
    let originals: Vec<String> = ev.records.iter().map(|r| r.data.to_string()).collect();
    // The handler's path, raw JSON in and out, gives the same response.
    let body = RawValue::from_string(String::from_utf8(raw.clone()).unwrap()).unwrap();
    let (raw_out, _) = transform_raw(&spec(), &body, MAX_RESPONSE_BYTES).unwrap();
    assert_eq!(
        raw_out.get(),
        transform(&spec(), &ev, MAX_RESPONSE_BYTES).unwrap().0
    );
    let (resp, report, _) = run(ev, MAX_RESPONSE_BYTES);
    let results: Vec<&str> = resp.records.iter().map(|r| r.result.as_str()).collect();
    assert_eq!(
        results,
        [
            "Ok",
            "Ok",
            "Ok",
            "Dropped",
            "ProcessingFailed",
            "ProcessingFailed",
            "ProcessingFailed",
            "ProcessingFailed",
            "Ok"
        ]
    );
    let reasons: BTreeMap<&str, u64> = [
        ("empty", 1),
        ("invalid_json", 1),
        ("missing_field", 1),
        ("wrong_type", 1),
    ]
    .into();
    assert_eq!(report.failed_by_reason, reasons);
    assert_eq!(
        report
            .failures
            .iter()
            .map(|(_, r)| r.reason.as_str())
            .collect::<Vec<_>>()[1..],
        [
            "missing required field user_id",
            "field duration_ms: string \"1200\" is not a valid bigint",
            "record is empty",
        ]
    );
    // Ok: normalised JSON lines; the event hour from the record's own `ts`.
    let lines: Vec<String> = [0, 1, 2, 8]
        .iter()
        .map(|&i| String::from_utf8(unb64(&resp.records[i].data)).unwrap())
        .collect();
    for l in &lines {
        assert!(l.ends_with("}\n") && l.matches('\n').count() == 1, "{l:?}");
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
    assert!(
        lines[0].contains("\"ts\":\"2024-01-15T10:00:00.120000Z\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"user_id\":\"u-1842\",\"ts\":\"2024-01-15T10:00:02Z\""),
        "renamed and converted to UTC: {}",
        lines[1]
    );
    assert!(lines[2].contains("\"ts\":\"2024-01-15T10:59:59Z\",\"revenue\":49.95"));
    assert_eq!(
        keys(&resp.records[0]),
        ["web.events", "2024", "01", "15", "10"]
    );
    assert_eq!(
        keys(&resp.records[1]),
        ["web.events", "2024", "01", "15", "10"]
    );
    assert_eq!(
        keys(&resp.records[2]),
        ["web.events", "2024", "01", "15", "10"]
    );
    assert_eq!(
        keys(&resp.records[8]),
        ["web.events", "2024", "01", "15", "11"]
    );
    assert_eq!(report.time_from_field, 4);
    // Dropped: empty data; ProcessingFailed: the original data, verbatim.
    assert_eq!(resp.records[3].data, "");
    for (r, original) in resp.records.iter().zip(&originals).skip(4).take(4) {
        assert_eq!(&r.data, original);
        assert!(r.metadata.is_none());
    }
}

#[test]
fn kinesis_source_fixture_uses_the_stream_arrival_time() {
    let raw = fixture("firehose-kinesis-source.json");
    let aws: KinesisFirehoseEvent = serde_json::from_slice(&raw).unwrap();
    assert!(aws.source_kinesis_stream_arn.is_some());
    let ev: FirehoseEvent = serde_json::from_slice(&raw).unwrap();
    let meta = ev.records[0].kinesis_record_metadata.as_ref().unwrap();
    assert_eq!(meta.shard_id.as_deref(), Some("shardId-000000000003"));
    assert_eq!(
        ev.records[0].arrival_us(),
        meta.approximate_arrival_timestamp.timestamp_micros()
    );
    assert_ne!(
        ev.records[0].arrival_us(),
        ev.records[0].approximate_arrival_timestamp * 1000
    );
    let (resp, report, _) = run(ev, MAX_RESPONSE_BYTES);
    let results: Vec<&str> = resp.records.iter().map(|r| r.result.as_str()).collect();
    assert_eq!(results, ["Ok", "Ok", "Dropped", "ProcessingFailed", "Ok"]);
    assert_eq!(report.failed_by_reason, [("missing_field", 1)].into());
    assert_eq!(
        keys(&resp.records[4]),
        ["web.events", "2024", "01", "15", "11"]
    );
}

#[test]
fn arrival_time_partitions_records_without_a_time_field() {
    let (ds, mut schema) = crate::stream::record::tests::web_events();
    schema.columns.iter_mut().for_each(|c| c.nullable = true);
    let spec =
        RecordSpec::new(&ds, &schema, &crate::stream::record::tests::stream_config()).unwrap();
    let mut r = record("r1", &b64(b"{\"event_id\":\"e1\"}"));
    r.approximate_arrival_timestamp = 1_705_330_800_000; // 15:00Z
    let (json, report) = transform(&spec, &event(vec![r]), MAX_RESPONSE_BYTES).unwrap();
    let resp: Response = serde_json::from_str(&json).unwrap();
    assert_eq!(keys(&resp.records[0])[4], "15");
    assert_eq!((report.time_from_field, report.time_from_arrival), (0, 1));
}

#[test]
fn ok_data_round_trips_through_base64() {
    let canonical = "{\"event_id\":\"e1\",\"event_type\":\"click\",\"user_id\":\"u\\\"1\",\"ts\":\"2024-01-15T10:00:00Z\",\"ctx\":{\"a\":[1,2.50,null]}}";
    let (resp, _, _) = run(
        event(vec![record("r1", &b64(canonical.as_bytes()))]),
        MAX_RESPONSE_BYTES,
    );
    assert_eq!(resp.records[0].result, RecordResult::Ok);
    assert_eq!(
        unb64(&resp.records[0].data),
        format!("{canonical}\n").as_bytes()
    );
}

#[test]
fn bad_input_gets_processing_failed_with_its_reason() {
    let good = b"{\"event_id\":\"e1\",\"event_type\":\"click\",\"user_id\":\"u1\",\"ts\":\"2024-01-15T10:00:00Z\"}";
    let oversized = b64(format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES)).as_bytes());
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("base64", "eyJldmVudF9pZCI6!!".into(), "invalid_base64", "data is not valid base64"),
        ("base64-length", "eyJ".into(), "invalid_base64", "data is not valid base64"),
        ("json", b64(b"{\"event_id\":\"e1\","), "invalid_json", "record is invalid JSON"),
        ("not-object", b64(b"[1]"), "not_an_object", "a JSON array, not an object"),
        (
            "missing",
            b64(b"{\"event_id\":\"e1\",\"event_type\":\"click\",\"ts\":\"2024-01-15T10:00:00Z\"}"),
            "missing_field",
            "missing required field user_id",
        ),
        (
            "type",
            b64(b"{\"event_id\":\"e1\",\"event_type\":\"click\",\"user_id\":7,\"ts\":\"2024-01-15T10:00:00Z\",\"revenue\":\"9.99\"}"),
            "wrong_type",
            "field revenue: string \"9.99\" is not a valid double",
        ),
        ("oversized", oversized.clone(), "too_large", "the limit is 1024000"),
        ("empty", String::new(), "empty", "record is empty"),
        ("utf8", b64(b"{\"event_id\":\"\xc3\x28\"}"), "invalid_utf8", "not UTF-8"),
    ];
    let mut records: Vec<FirehoseRecord> = cases
        .iter()
        .map(|(id, data, _, _)| record(id, data))
        .collect();
    records.push(record("good", &b64(good)));
    let (resp, report, _) = run(event(records), MAX_RESPONSE_BYTES);
    for (i, (id, data, category, reason)) in cases.iter().enumerate() {
        let r = &resp.records[i];
        assert_eq!(r.result, RecordResult::ProcessingFailed, "{id}");
        if *category == "invalid_base64" {
            assert_eq!(r.data, "", "{id}: data must be base64, so it is not echoed");
        } else {
            assert_eq!(&r.data, data, "{id}: the original data is echoed");
        }
        let (fid, rej) = &report.failures[i];
        assert_eq!(fid, id);
        assert_eq!(rej.category, *category, "{id}: {}", rej.reason);
        assert!(rej.reason.contains(reason), "{id}: {}", rej.reason);
    }
    assert_eq!(resp.records.last().unwrap().result, RecordResult::Ok);
    assert_eq!(report.failed, cases.len() as u64);
}

/// A batch of small records as large as Lambda accepts (6 MB): Ok records grow by their
/// partition keys, so the tail no longer fits and is answered ProcessingFailed.
#[test]
fn six_mb_of_small_records_stays_under_the_response_limit() {
    let mut records = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < MAX_RESPONSE_BYTES - 400 {
        let data = b64(format!(
            "{{\"event_id\":\"e{i}\",\"event_type\":\"click\",\"user_id\":\"u{}\",\"ts\":\"2024-01-15T{:02}:00:00Z\"}}",
            i % 97,
            i % 24
        ).as_bytes());
        let r = record(
            &format!("4954698668313554428650745793632162567570019247115678{i:04}"),
            &data,
        );
        size += serde_json::to_vec(&r).unwrap().len() + 1;
        records.push(r);
        i += 1;
    }
    let input = serde_json::to_vec(&event(records.clone())).unwrap();
    assert!(input.len() <= MAX_RESPONSE_BYTES && input.len() > MAX_RESPONSE_BYTES - 1000);
    let (resp, report, body) = run(event(records), MAX_RESPONSE_BYTES);
    assert!(report.ok > 10_000, "{report:?}");
    let overflow = report
        .failed_by_reason
        .get("response_size_limit")
        .copied()
        .unwrap_or(0);
    assert!(overflow > 0, "the guard was exercised: {report:?}");
    assert_eq!(report.failed, overflow);
    assert!(
        body.len() > MAX_RESPONSE_BYTES - 500,
        "headroom used up: {}",
        body.len()
    );
    for r in &resp.records {
        match r.result {
            RecordResult::Ok => assert!(r.metadata.is_some()),
            _ => assert!(r.data.is_empty() && r.metadata.is_none()),
        }
    }
}

#[test]
fn one_oversized_record_is_failed_without_its_data() {
    let huge = b64(&vec![b'x'; 7 << 20]);
    let (resp, report, body) = run(event(vec![record("big", &huge)]), MAX_RESPONSE_BYTES);
    assert_eq!(resp.records[0].result, RecordResult::ProcessingFailed);
    assert_eq!(resp.records[0].data, "", "9 MB of base64 cannot be echoed");
    assert_eq!(report.failed_by_reason, [("too_large", 1)].into());
    assert!(report.failures[0].1.reason.contains("not echoed"));
    assert!(body.len() < 200);
}

#[test]
fn a_batch_that_cannot_be_answered_is_an_error() {
    let records = (0..100).map(|i| record(&format!("id-{i}"), "")).collect();
    let err = transform(&spec(), &event(records), 1000).unwrap_err();
    assert!(
        matches!(err, FirehoseError::BatchTooLarge { records: 100, .. }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::BadInput);
}

proptest! {
    /// Written entries are exactly as long as measured, and read back as written, for any
    /// id, dataset name, data and hour, whatever needs escaping.
    #[test]
    fn entries_are_measured_exactly(
        id in "\\PC{0,20}|[\"\\\\\u{0}-\u{1f}a]{0,8}",
        ds in "[a-z.\"\\\\\u{1}é]{1,12}",
        data_len in 0usize..64,
        us in -10_000_000_000_000_000i64..300_000_000_000_000_000,
        result in prop::sample::select(vec![RecordResult::Ok, RecordResult::Dropped, RecordResult::ProcessingFailed]),
    ) {
        let hour = HourKey::of(us);
        let ds_json = json_str(&ds);
        let data = "A".repeat(data_len);
        let meta = (result == RecordResult::Ok).then_some((ds_json.as_str(), &hour));
        let mut out = String::new();
        let plain = jsonrec::str_len(&id) == id.len() + 2;
        write_entry(&mut out, (&id, plain), result, &|o: &mut String| o.push_str(&data), meta);
        let meta_bytes = meta.map_or(0, |_| meta_len(jsonrec::str_len(&ds), &hour));
        prop_assert_eq!(out.len(), entry_len(jsonrec::str_len(&id), result, data_len, meta_bytes));
        let back: ResponseRecord = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(&back.record_id, &id);
        prop_assert_eq!(back.result, result);
        prop_assert_eq!(&back.data, &data);
        if let Some(m) = back.metadata {
            let [y, mo, d, h] = hour.values();
            prop_assert_eq!(m.partition_keys, BTreeMap::from([
                ("dataset".to_string(), ds.clone()), ("year".into(), y), ("month".into(), mo),
                ("day".into(), d), ("hour".into(), h),
            ]));
        }
    }
}
