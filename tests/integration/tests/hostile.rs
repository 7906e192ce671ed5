//! The hostile-input table of the fault suite, against the emulator: each input is delivered to
//! s3-landing as S3 would deliver it, and its outcome is compared with the expected one. Every
//! outcome must also lose nothing: counts reconcile (read = written + rejected), what is written
//! is readable by an independent reader (DuckDB) with exactly `rows_written` rows, and what is
//! quarantined has its copy and report. The table is printed (`cargo test -- --nocapture`).

use serde_json::{Value, json};
use tributary::catalog::Dataset;
use tributary::error::{Classify, ErrorKind};
use tributary::model::schema::{Column, ColumnType, TableSchema};
use tributary_integration::{duckdb, env, gzip, s3_event};

/// What an input must end as.
#[derive(Debug, Clone)]
enum Expect {
    /// An object status, its (read, written, rejected) counts when given, and a reason fragment.
    Status(&'static str, Option<(u64, u64, u64)>, &'static str),
    /// The invocation fails with this kind and message fragment (nothing read or recorded).
    Error(ErrorKind, &'static str),
    /// An SQS batch answered with this many `batchItemFailures`.
    SqsFailures(usize),
}

struct Case {
    name: &'static str,
    key: String,
    body: Option<Vec<u8>>,
    /// The event; `None`: an S3 notification of `key` in the landing bucket.
    event: Option<Value>,
    expect: Expect,
}

fn case(name: &'static str, key: &str, body: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        key: key.to_string(),
        body: Some(body.into()),
        event: None,
        expect,
    }
}

fn event_case(name: &'static str, event: Value, expect: Expect) -> Case {
    Case {
        name,
        key: String::new(),
        body: None,
        event: Some(event),
        expect,
    }
}

fn sqs_event(bodies: &[&str]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            json!({"messageId": format!("m-{i}"), "receiptHandle": "r", "body": b,
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1", "attributes": {}, "messageAttributes": {}})
        })
        .collect();
    json!({ "Records": records })
}

fn col(name: &str, ty: ColumnType, nullable: bool) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable,
    }
}

fn people_schema() -> TableSchema {
    TableSchema {
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("name", ColumnType::String, true),
            col("score", ColumnType::Double, true),
        ],
    }
}

fn parquet(schema: &TableSchema) -> Vec<u8> {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let arrays: Vec<ArrayRef> = schema
        .columns
        .iter()
        .map(|c| -> ArrayRef {
            match c.ty {
                ColumnType::Int64 => Arc::new(Int64Array::from(vec![1, 2])),
                ColumnType::Double => Arc::new(Float64Array::from(vec![1.5, 2.5])),
                _ => Arc::new(StringArray::from(vec!["x", "y"])),
            }
        })
        .collect();
    let batch = arrow::record_batch::RecordBatch::try_new(schema.arrow(), arrays).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

async fn declare() {
    let env = env();
    let people: Dataset = serde_json::from_value(json!({
        "id": "hx.people", "landing_prefix": "hx/people/",
        "source": {"format": "csv", "header": true}, "primary_key": ["id"],
    }))
    .unwrap();
    let people = Dataset {
        schema: Some(people_schema()),
        ..people
    };
    env.declare(people).await;
    let typed: Dataset = serde_json::from_value(json!({
        "id": "hx.typed", "landing_prefix": "hx/typed/", "primary_key": ["id"],
    }))
    .unwrap();
    env.declare(Dataset {
        schema: Some(people_schema()),
        ..typed
    })
    .await;
    let events: Dataset = serde_json::from_value(json!({
        "id": "hx.events", "landing_prefix": "hx/events/", "source": {"format": "jsonl"},
    }))
    .unwrap();
    let events = Dataset {
        schema: Some(TableSchema {
            columns: vec![
                col("id", ColumnType::String, false),
                col("payload", ColumnType::String, true),
            ],
        }),
        ..events
    };
    env.declare(events).await;
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let env = env();
    let landing = env.config.landing_bucket.as_str();
    let mut big_line = br#"{"id":"big","payload":""#.to_vec();
    big_line.resize(big_line.len() + 10 * 1024 * 1024, b'a');
    big_line.extend_from_slice(b"\"}\n");
    let mut bomb = b"id,name,score\n1,".to_vec();
    bomb.resize(80 << 20, b'0');
    let good_gz = gzip(b"id,name,score\n1,Ada,1.5\n2,Bob,2\n3,Cy,3\n");
    let truncated = good_gz[..good_gz.len() / 2].to_vec();
    let conflicting = TableSchema {
        columns: vec![
            col("id", ColumnType::String, true),
            col("name", ColumnType::String, true),
            col("score", ColumnType::String, true),
        ],
    };
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    vec![
        case(
            "UTF-8 byte order mark",
            "hx/people/bom.csv",
            "\u{feff}id,name,score\n1,Ada,1.5\n",
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "CRLF line ends",
            "hx/people/crlf.csv",
            "id,name,score\r\n1,Ada,1.5\r\n2,Bob,2\r\n",
            Status("converted", Some((2, 2, 0)), ""),
        ),
        case(
            "quoted newline in a field",
            "hx/people/newline.csv",
            "id,name,score\n1,\"Ada\nLovelace\",1.5\n2,Bob,2\n",
            Status("converted", Some((2, 2, 0)), ""),
        ),
        case(
            "quoted delimiter and quotes",
            "hx/people/quotes.csv",
            "id,name,score\n1,\"Doe, \"\"JD\"\"\",3\n",
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "a 10 MB JSON line",
            "hx/events/big.jsonl",
            big_line,
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "unicode in the key",
            "hx/people/été 日本.csv",
            "id,name,score\n1,Zoë,1\n",
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "+ and space in the key",
            "hx/people/a+b c.csv",
            "id,name,score\n1,Ada,1\n",
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "../ in the key",
            "hx/people/../../etc/passwd.csv",
            "id,name,score\n1,Ada,1\n",
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "% in the key",
            "hx/people/100%25 done.csv",
            "id,name,score\n1,Ada,1\n",
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "empty object",
            "hx/people/empty.csv",
            "",
            Status("quarantined", None, "the object is empty"),
        ),
        case(
            "header only",
            "hx/people/header-only.csv",
            "id,name,score\n",
            Status("quarantined", Some((0, 0, 0)), "holds no data rows"),
        ),
        case(
            "gzip bomb (80 MiB of zeros)",
            "hx/people/bomb.csv.gz",
            gzip(&bomb),
            Status("quarantined", None, "compression ratio exceeds"),
        ),
        case(
            "truncated gzip",
            "hx/people/truncated.csv.gz",
            truncated,
            Status("quarantined", None, "cannot be read"),
        ),
        case(
            "plain text named .gz",
            "hx/people/plain.csv.gz",
            "id,name,score\n1,Ada,1\n",
            Status("converted", Some((1, 1, 0)), ""),
        ),
        case(
            "first file Parquet, conflicting schema",
            "hx/typed/first.parquet",
            parquet(&conflicting),
            Status("quarantined", None, "does not match the declared schema"),
        ),
        case(
            "Parquet under a CSV dataset",
            "hx/people/actually.csv",
            parquet(&people_schema()),
            Status("quarantined", None, "the file is Parquet"),
        ),
        case(
            "unknown dataset",
            "nobody/declared/this.csv",
            "a,b\n1,2\n",
            Status("quarantined", None, "no dataset is declared"),
        ),
        case(
            "mostly bad rows",
            "hx/people/mostly-bad.csv",
            "id,name,score\n1,Ada,1\nx,a,1\ny,b,2\nz,c,3\n",
            // Nothing is published, so every row counts as rejected.
            Status(
                "quarantined",
                Some((4, 0, 4)),
                "3 of 4 rows rejected (more than 50% allowed)",
            ),
        ),
        case(
            "a row with too many fields",
            "hx/people/wide-row.csv",
            "id,name,score\n1,Ada,1\n2,Bob,2,extra\n3,Cy,3\n4,Di,4\n",
            Status("converted", Some((4, 3, 1)), ""),
        ),
        case(
            "required field empty",
            "hx/people/no-id.csv",
            "id,name,score\n,Ada,1\n2,Bob,2\n3,Cy,3\n",
            Status("converted", Some((3, 2, 1)), ""),
        ),
        case(
            "Latin-1 bytes in a field",
            "hx/people/latin1.csv",
            b"id,name,score\n1,Jos\xe9,1\n2,Bob,2\n3,Cy,3\n".to_vec(),
            Status("converted", Some((3, 2, 1)), ""),
        ),
        case(
            "binary garbage",
            "hx/people/garbage.csv",
            garbage,
            Status("quarantined", None, ""),
        ),
        case(
            "header missing a required column",
            "hx/people/no-id-column.csv",
            "name,score\nAda,1\n",
            Status("quarantined", None, "id"),
        ),
        event_case(
            "event for a foreign bucket",
            s3_event("someone-elses-bucket", "hx/people/crlf.csv"),
            Error(ErrorKind::BadInput, "refused"),
        ),
        event_case(
            "event for the clean zone's bucket",
            s3_event(&env.config.clean_bucket, "hx.people/x.parquet"),
            Error(ErrorKind::BadInput, "refused"),
        ),
        event_case(
            "wrong types in event fields",
            json!({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": 7}, "object": {"key": true}}}]}),
            Error(ErrorKind::BadInput, ""),
        ),
        event_case(
            "not an event at all",
            json!([1, 2, 3]),
            Error(ErrorKind::BadInput, ""),
        ),
        event_case(
            "malformed SQS bodies",
            sqs_event(&[
                "not json",
                r#"{"Records": "nope"}"#,
                &json!({"Event": "s3:TestEvent", "Bucket": landing}).to_string(),
            ]),
            SqsFailures(2),
        ),
    ]
}

/// Rows DuckDB reads from the given clean-zone outputs.
async fn rows_in(outputs: &[String], tag: &str) -> u64 {
    let env = env();
    if outputs.is_empty() {
        return 0;
    }
    let dir = env.download(&env.config.clean_bucket, outputs, tag).await;
    let files: Vec<String> = outputs
        .iter()
        .map(|k| format!("'{}'", dir.join(k).display()))
        .collect();
    duckdb(&format!(
        "SELECT count(*) FROM read_parquet([{}])",
        files.join(", ")
    ))[0][0]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_end_as_expected_and_lose_nothing() {
    let env = env();
    declare().await;
    let cases = cases();
    assert!(cases.len() >= 20);
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        if let Some(body) = &c.body {
            env.put(&env.config.landing_bucket, &c.key, body.clone())
                .await;
        }
        let event = c
            .event
            .clone()
            .unwrap_or_else(|| s3_event(&env.config.landing_bucket, &c.key));
        let result = env.landing().handle(event).await;
        let (observed, ok) = match (&c.expect, result) {
            (Expect::Error(kind, fragment), Err(e)) => (
                format!("{} {}", e.kind().error_type(), e),
                e.kind() == *kind && e.to_string().contains(fragment),
            ),
            (Expect::SqsFailures(n), Ok(out)) => {
                let got = out["batchItemFailures"].as_array().map_or(0, Vec::len);
                (format!("batchItemFailures {got}"), got == *n)
            }
            (Expect::Status(status, counts, fragment), Ok(out)) => {
                let o = &out["objects"][0];
                let n = |f: &str| o[f].as_u64().unwrap_or(0);
                let (read, written, rejected) =
                    (n("rows_read"), n("rows_written"), n("rows_rejected"));
                let reason = o["reason"].as_str().unwrap_or("");
                let mut ok = o["status"] == *status
                    && counts.is_none_or(|c| c == (read, written, rejected))
                    && reason.contains(fragment)
                    && read == written + rejected
                    && o["key"] == c.key.as_str();
                // Nothing lost: written rows are readable, quarantined objects have their copy.
                let outputs: Vec<String> = o["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x["key"].as_str().map(str::to_string))
                    .collect();
                ok &= outputs.iter().all(|k| !k.contains(".."));
                ok &= rows_in(&outputs, &format!("hx{i}")).await == written;
                if *status == "quarantined" {
                    let q = env.list(&env.config.quarantine_bucket, "").await;
                    ok &= q
                        .iter()
                        .any(|(k, _)| k.ends_with(&format!("{}.report.json", c.key)));
                }
                (
                    format!(
                        "{} {read}={written}+{rejected} {}",
                        o["status"].as_str().unwrap_or("?"),
                        clip(reason)
                    ),
                    ok,
                )
            }
            (_, Ok(out)) => (format!("answered {}", clip(&out.to_string())), false),
            (_, Err(e)) => (
                format!("{} {}", e.kind().error_type(), clip(&e.to_string())),
                false,
            ),
        };
        table.push((c.name, format!("{:?}", c.expect), observed.clone(), ok));
        if !ok {
            failures.push(c.name);
        }
    }
    println!("\n{:<40} {:<8} observed", "hostile input", "ok");
    for (name, expect, observed, ok) in &table {
        println!(
            "{name:<40} {:<8} {}",
            if *ok { "ok" } else { "FAILED" },
            clip(observed)
        );
        if !ok {
            println!("{:<40}          expected {expect}", "");
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

fn clip(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() > 110 {
        format!("{}…", s.chars().take(110).collect::<String>())
    } else {
        s
    }
}
