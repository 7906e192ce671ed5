#!/usr/bin/env python3
"""Tributary demo against the local AWS emulator.

By default the state machines carry the bundled data through every function, as deployed: see
scripts/demo_pipeline.py. `demo.py --walk-through` is the per-function walk-through below, each
function invoked by hand, step by step.

Run it through `scripts/demo.sh` (which bootstraps the venv and wraps this script in
`scripts/local_aws.py run`, so a fresh moto server is started and stopped around it). It expects
the environment that `local_aws.py` writes: AWS_ENDPOINT_URL, the AWS_* settings and every
TRIBUTARY_* variable, plus TRIBUTARY_LANDING_QUEUE_URL.

Steps:
 1. declare the sample datasets (tests/data/datasets.json) in the DynamoDB catalog table;
 2. build s3-landing (`cargo build -p s3-landing`) and serve it with `cargo lambda watch`;
 3. upload tests/data/landing/** to the landing bucket and invoke the function for each object:
    S3 ObjectCreated notifications, one SQS-wrapped notification taken from the landing queue,
    re-deliveries (S3 and EventBridge) that must be recorded duplicates, and a malformed event;
 4. print what happened, then check it independently: the Parquet in the clean bucket is read
    with DuckDB and must hold exactly the rows the function reported as written.
 5. (5c, 5d) streaming: Firehose batches (the events/ fixtures and a generated one) through
    firehose-transform, printing the per-result counts and the partition keys; the Kinesis fixture
    through stream-ingest (twice: a retry must rewrite the same objects) into the raw zone.
Exits non-zero, with the reason and the end of the `cargo lambda watch` log, if anything is off.

`demo.py --walk-through` runs these steps; `demo.py --seed-only` only declares the datasets and uploads the files (steps 1 and 3), for trying
the function by hand against `scripts/local_aws.py up` (see the README).
"""
import base64
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote_plus, unquote_plus

import boto3
import duckdb
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "tests" / "data" / "datasets.json"
LANDING_DIR = ROOT / "tests" / "data" / "landing"
WORK = ROOT / ".local" / "demo"  # gitignored; keeps the watch log after the run
WATCH_LOG = WORK / "watch.log"
WATCH_STARTED = False  # set once this run's watch log exists (only then is its tail shown)
WATCH_LOG_END = None  # log size when the watch was stopped: its shutdown chatter is not shown
FUNCTION = "s3-landing"
CDC_FUNCTION = "cdc-sequencer"
REGISTER_FUNCTION = "partition-register"
COMPACTOR_FUNCTION = "compactor"
CDC_DATASET = "hr.employees_cdc"
# A dataset an AWS DMS S3 target writes as Parquet *in place* into the raw bucket, in date folders
# (DatePartitionEnabled): registered by partition-register, never landed.
IN_PLACE = {"id": "sales.orders_dms", "zone": "raw", "landing_prefix": "sales/orders_dms/",
            "source": {"format": "parquet"}, "layout": "dms-date", "zone_prefix": "dms/SALES/ORDERS/",
            "primary_key": ["order_id"],
            "business": {"name": "Orders (DMS Parquet target)", "owner": "sales-data"}}
IN_PLACE_FILES = [  # (date folders/file, DuckDB query, what it shows)
    ("2024/11/05/20241105-101500123.parquet",
     "SELECT 'I' AS Op, range::BIGINT AS order_id, (range * 10.5)::DOUBLE AS amount FROM range(1, 6)",
     "new table, partition 2024/11/05"),
    ("2024/11/06/20241106-083000456.parquet",
     "SELECT 'U' AS Op, range::BIGINT AS order_id, (range * 11.0)::DOUBLE AS amount FROM range(3, 6)",
     "partition 2024/11/06"),
    ("2024/11/07/20241107-120000789.parquet",
     "SELECT 'U' AS Op, range::BIGINT AS order_id, 99.0::DOUBLE AS amount, 'web' AS channel FROM range(1, 3)",
     "schema evolution: a new nullable column"),
    ("2024/11/08/20241108-000000001.parquet",
     "SELECT 'I' AS Op, 'A-' || range AS order_id, 1.0::DOUBLE AS amount FROM range(2)",
     "incompatible: order_id is now a string"),
]
DMS_PREFIX = "dms/"  # DMS output (tests/data/landing/dms): sequenced by cdc-sequencer
# Shuffled, with a file delivered twice: the raw tier must not depend on arrival order.
DMS_ORDER = ["2024/11/06/20241106-090000000.csv", "LOAD00000002.csv", "2024/11/05/20241105-134501123.csv",
             "LOAD00000001.csv", "2024/11/05/20241105-140002456.csv", "2024/11/06/20241106-090000000.csv"]
SQS_KEY = "hr/employees/employees.csv"  # delivered through the landing queue
REDELIVER_S3_KEY = "sales/orders/2024/orders 2024-01-15.csv"  # same S3 notification, sent twice
REDELIVER_EB_KEY = "web/clicks/clicks-2024-01-15.jsonl.gz"  # again, as an EventBridge event
REPORTS = ["hr/employees/employees-bad.csv", "web/clicks/garbage.jsonl"]
FIRST_INVOKE_TIMEOUT = 900  # the first invocation runs `cargo run`, which may have to compile
INVOKE_TIMEOUT = 120
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
FIREHOSE_FUNCTION = "firehose-transform"
STREAM_FUNCTION = "stream-ingest"
STREAM_DATASET = "web.events"
FIREHOSE_FIXTURES = ["firehose-direct-put.json", "firehose-kinesis-source.json"]
KINESIS_FIXTURE = "kinesis-stream.json"
FUNCTION_ENV = {"TRIBUTARY_MAX_REJECT_RATIO": "0.5", "RUST_LOG": "info",
                # Read by the stream functions only (see template.yaml's Stream* parameters).
                "TRIBUTARY_STREAM_DATASET": STREAM_DATASET, "TRIBUTARY_STREAM_RENAMES": "userId=user_id",
                "TRIBUTARY_STREAM_DROP_IF": "event_type=heartbeat"}


class DemoError(Exception):
    pass


def env(name):
    value = os.environ.get(name)
    if not value:
        raise DemoError(f"{name} is not set: run this through scripts/demo.sh "
                        "(or `scripts/local_aws.py run -- python scripts/demo.py`)")
    return value


# ------------------------------------------------------------------ output helpers
def heading(text):
    print(f"\n== {text} " + "=" * max(0, 76 - len(text)), flush=True)


def step(text):
    print(f"-- {text}", flush=True)


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def trim(value, items=4, chars=110):
    """A copy of a JSON value with long lists and strings shortened, for printing."""
    if isinstance(value, dict):
        return {k: trim(v, items, chars) for k, v in value.items()}
    if isinstance(value, list):
        head = [trim(v, items, chars) for v in value[:items]]
        return head + ([f"... {len(value) - items} more"] if len(value) > items else [])
    if isinstance(value, str) and len(value) > chars:
        return value[:chars] + "..."
    return value


def clip(text, chars=600):
    text = str(text)
    return text if len(text) <= chars else text[:chars] + f"... ({len(text) - chars} more characters)"


def log_tail(lines=30, width=300):
    """The end of this run's watch log, long lines clipped; empty if the watch was not started."""
    if not WATCH_STARTED:
        return ""
    try:
        text = WATCH_LOG.read_bytes()[:WATCH_LOG_END].decode(errors="replace").splitlines()
    except OSError:
        return f"\n({WATCH_LOG} cannot be read)"
    tail = "\n".join(clip(line, width) for line in text[-lines:]) or "(empty)"
    return f"\nlast lines of {WATCH_LOG}:\n{tail}"


# ------------------------------------------------------------------ AWS
def clients():
    cfg = Config(proxies={}, retries={"max_attempts": 3}, connect_timeout=5, read_timeout=30)
    make = lambda svc: boto3.client(svc, endpoint_url=env("AWS_ENDPOINT_URL"), config=cfg)
    return make("s3"), make("dynamodb"), make("sqs")


def plain(item):
    """A DynamoDB item (client format) as plain Python values; numbers as int or float."""
    des, out = TypeDeserializer(), {}
    for k, v in item.items():
        v = des.deserialize(v)
        out[k] = (int(v) if v == v.to_integral_value() else float(v)) if isinstance(v, Decimal) else v
    return out


def list_keys(s3, bucket):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    return keys


def catalog_cli(*args):
    """`tributary-catalog ARGS` (tools/catalog): declarations and item reads go through the catalog's
    own code and key module, so this script never spells a DynamoDB key. JSON output is parsed."""
    run = subprocess.run(["cargo", "run", "-q", "-p", "tributary-catalog", "--", *args], cwd=ROOT,
                         capture_output=True, text=True)
    if run.returncode:
        raise DemoError(f"tributary-catalog {' '.join(args)} failed (exit {run.returncode}): {clip(run.stderr)}")
    return json.loads(run.stdout) if args[0] == "items" else run.stdout


def declare(ddb, table, datasets):
    """Declares each dataset with `tributary-catalog declare`: its record, routes (landing prefix,
    and zone prefix when it has one) and search index entries, as an operator would."""
    for ds in datasets:
        prefix = ds["landing_prefix"]
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise DemoError(f"dataset {ds['id']}: landing_prefix {prefix!r} must end with '/'")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(datasets, f)
    try:
        catalog_cli("declare", f.name)
    finally:
        os.unlink(f.name)
    for ds in datasets:
        prefix = ds["landing_prefix"]
        schema = (f"{len(ds['schema']['columns'])} declared columns" if ds.get("schema")
                  else "schema inferred from its first file")
        parts = (", ".join(ds.get("partition_columns") or []) or "ingest_date") if ds.get("layout", "hive") == "hive" \
            else f"{ds['layout']} date folders"
        step(f"{ds['id']:<13} <- s3://landing/{prefix:<14} {ds.get('source', {}).get('format', '?'):<6} "
             f"{schema}; partitions: {parts}")


def upload(s3, bucket):
    """Puts every file of tests/data/landing at its relative path; returns key -> size/etag/version."""
    uploaded = {}
    for path in sorted(p for p in LANDING_DIR.rglob("*") if p.is_file()):
        key = path.relative_to(LANDING_DIR).as_posix()
        r = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        uploaded[key] = {"size": path.stat().st_size, "etag": r["ETag"].strip('"'), "version": r.get("VersionId")}
        step(f"put s3://{bucket}/{key} ({human(path.stat().st_size)})")
    return uploaded


# ------------------------------------------------------------------ the function
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Watch:
    """`cargo lambda watch` in its own process group, logging to WATCH_LOG."""

    def __init__(self):
        self.port = free_port()
        self.proc = None
        self.base = f"http://127.0.0.1:{self.port}/2015-03-31/functions"
        self.url = f"{self.base}/{FUNCTION}/invocations"

    def start(self):
        cargo = shutil.which("cargo")
        if not cargo:
            raise DemoError("cargo is not on PATH")
        child_env = {**os.environ, **FUNCTION_ENV}
        venv_bin = str(ROOT / ".venv" / "bin")  # cargo-lambda (and zig) live there
        if venv_bin not in child_env.get("PATH", "").split(os.pathsep):
            child_env["PATH"] = venv_bin + os.pathsep + child_env.get("PATH", "")
        # --ignore-changes: serve the binary just built; do not rebuild while someone edits the code.
        cmd = [cargo, "lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1",
               "--invoke-port", str(self.port)]
        global WATCH_STARTED
        WORK.mkdir(parents=True, exist_ok=True)
        WATCH_STARTED = True
        with open(WATCH_LOG, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise DemoError(f"cargo lambda watch exited with code {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise DemoError(f"cargo lambda watch does not accept connections on port {self.port} after 60 s")
                time.sleep(0.2)

    def stop(self):
        """SIGTERM, then SIGKILL, to our watch's process group and to the function's own group
        (cargo lambda starts the function in a group of its own and logs its pgid)."""
        global WATCH_LOG_END
        if not self.proc:
            return
        try:
            WATCH_LOG_END = WATCH_LOG.stat().st_size
        except OSError:
            pass
        groups = [self.proc.pid]
        try:
            groups += [int(g) for g in re.findall(r"process group spawned pgid=(\d+)", WATCH_LOG.read_text(errors="replace"))]
        except OSError:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for g in groups:
                try:
                    os.killpg(g, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue

    def invoke(self, event, timeout=INVOKE_TIMEOUT, expect_error=False, function=FUNCTION):
        """POSTs an event to a function (s3-landing by default); returns (elapsed seconds, response JSON)."""
        url = f"{self.base}/{function}/invocations"
        req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        start = time.monotonic()
        try:
            with NO_PROXY.open(req, timeout=timeout) as r:
                body, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise DemoError(f"invoking {function} failed after {time.monotonic() - start:.1f} s: {e}")
        elapsed = time.monotonic() - start
        try:
            payload = json.loads(body)
        except ValueError:
            raise DemoError(f"{function} answered HTTP {status} with a body that is not JSON: {body[:500]!r}")
        if status != 200 and not expect_error:
            raise DemoError(f"{function} failed (HTTP {status}): {payload.get('errorType')}: {clip(payload.get('errorMessage'))}")
        if expect_error and status == 200:
            raise DemoError(f"{function} accepted an event it should have rejected: {json.dumps(payload)[:300]}")
        return elapsed, payload


# ------------------------------------------------------------------ events
def s3_event(bucket, key, size, etag, version):
    """An S3 ObjectCreated:Put notification as S3 sends it (key URL-encoded, '+' for space)."""
    now = dt.datetime.now(dt.timezone.utc)
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": os.environ.get("AWS_REGION", "us-east-1"),
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "demo"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "landing-events",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag,
                          **({"versionId": version} if version else {}),
                          "sequencer": f"{time.time_ns():018X}"}}}]}


def eventbridge_event(bucket, key, size, etag, version):
    """An EventBridge `Object Created` event (its key is not URL-encoded)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": os.environ.get("AWS_REGION", "us-east-1"), "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       "object": {"key": key, "size": size, "etag": etag,
                                  **({"version-id": version} if version else {})},
                       "reason": "PutObject"}}


def sqs_event(message, queue_arn):
    """Wraps a message received from the landing queue the way Lambda's SQS poller does."""
    return {"Records": [{
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {k: {"stringValue": v.get("StringValue"), "binaryValue": v.get("BinaryValue"),
                                  "stringListValues": [], "binaryListValues": [], "dataType": v["DataType"]}
                              for k, v in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": os.environ.get("AWS_REGION", "us-east-1")}]}


def queued_message(sqs, queue_url, key, timeout=15):
    """The message moto delivered to the landing queue for `key` (the s3:TestEvent is skipped)."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  AttributeNames=["All"], MessageAttributeNames=["All"], VisibilityTimeout=60)
        for m in got.get("Messages", []):
            body = json.loads(m["Body"])
            if body.get("Event") == "s3:TestEvent":
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
                continue
            keys = [unquote_plus(r["s3"]["object"]["key"]) for r in body.get("Records", [])]
            seen += keys
            if key in keys:
                return m
    raise DemoError(f"no message for {key} arrived in {queue_url} within {timeout} s (saw: {seen})")


# ------------------------------------------------------------------ the demo
def print_object(o, via, elapsed, clean, quarantine):
    rows = f"read {o['rows_read']}, written {o['rows_written']}, rejected {o['rows_rejected']}"
    print(f"{o['key']}  [{via}, {elapsed * 1000:.0f} ms]")
    print(f"    status {o['status'].upper():<11} dataset {o.get('dataset') or '-':<13} rows: {rows}")
    for out in o.get("outputs", []):
        extra = f"  ({out['rows']} rows, {human(out['bytes'])})" if "rows" in out else ""
        print(f"    output     s3://{clean}/{out['key']}{extra}")
    for q in o.get("quarantine", []):
        print(f"    quarantine s3://{quarantine}/{q}")
    reg = o.get("registration")
    if reg:
        print(f"    glue       table {reg['table']}{' (created)' if reg['table_created'] else ''}: "
              f"{reg['partitions_created']} partition(s) registered, {reg['partitions_present']} already there, "
              f"{len(reg['partitions_failed'])} failed, {reg['glue_calls']} Glue call(s)")
    if o.get("reason"):
        print(f"    reason     {o['reason']}")


def seed_only():
    """Declares the sample datasets and uploads the sample files, nothing else (for trying the
    function by hand against `scripts/local_aws.py up`)."""
    landing, catalog = env("TRIBUTARY_LANDING_BUCKET"), env("TRIBUTARY_CATALOG_TABLE")
    s3, ddb, _ = clients()
    heading(f"Declaring datasets in {catalog}")
    declare(ddb, catalog, json.loads(DATASETS.read_text()))
    heading(f"Uploading tests/data/landing to s3://{landing}")
    upload(s3, landing)
    print("\nnow invoke the function, e.g. `cargo lambda invoke s3-landing --invoke-address 127.0.0.1 "
          "--data-file events/s3-put.json`")
    return 0


def main(argv):
    if argv == ["--seed-only"]:
        return seed_only()
    if not argv:
        import demo_pipeline  # the default: the state machines carry the data (demo_pipeline.py)
        return demo_pipeline.main(sys.modules[__name__])
    if argv != ["--walk-through"]:
        raise DemoError(f"usage: demo.py [--walk-through | --seed-only]  (got {' '.join(argv)})")
    t0 = time.monotonic()
    landing, clean, quarantine = env("TRIBUTARY_LANDING_BUCKET"), env("TRIBUTARY_CLEAN_BUCKET"), env("TRIBUTARY_QUARANTINE_BUCKET")
    catalog, ledger, queue_url = env("TRIBUTARY_CATALOG_TABLE"), env("TRIBUTARY_LEDGER_TABLE"), env("TRIBUTARY_LANDING_QUEUE_URL")
    s3, ddb, sqs = clients()
    if list_keys(s3, landing):
        raise DemoError(f"s3://{landing} is not empty: the demo needs a fresh emulator (run scripts/demo.sh, "
                        "or `scripts/local_aws.py reset` first)")
    failures = []

    def check(ok, message):
        if not ok:
            failures.append(message)
            print(f"    CHECK FAILED: {message}")

    heading(f"1. Declaring datasets in {catalog}")
    datasets = json.loads(DATASETS.read_text())
    declare(ddb, catalog, datasets)

    functions = [FUNCTION, CDC_FUNCTION, REGISTER_FUNCTION, FIREHOSE_FUNCTION, STREAM_FUNCTION, COMPACTOR_FUNCTION]
    heading(f"2. Building and serving {', '.join(functions)}")
    start = time.monotonic()
    packages = [arg for f in functions for arg in ("-p", f)]
    step(f"cargo build {' '.join(packages)}")
    build = subprocess.run(["cargo", "build", *packages], cwd=ROOT)
    if build.returncode:
        raise DemoError(f"cargo build {' '.join(packages)} failed (exit {build.returncode})")
    build_s = time.monotonic() - start
    step(f"built in {build_s:.1f} s")
    watch = Watch()
    try:
        start = time.monotonic()
        watch.start()
        step(f"cargo lambda watch is serving {watch.url} (started in {time.monotonic() - start:.1f} s; log: {WATCH_LOG.relative_to(ROOT)})")
        # The first invocation starts the function through `cargo run`; a missing object is a no-op.
        first_s, warm = watch.invoke({"bucket": landing, "key": "_demo/warm-up"}, timeout=FIRST_INVOKE_TIMEOUT)
        check(warm["objects"][0]["status"] == "missing", f"warm-up: expected status missing, got {warm['objects'][0]['status']}")
        recompiled = "Compiling" in WATCH_LOG.read_text(errors="replace")
        step(f"first invocation (cargo run + cold start, task-input event for a missing object): {first_s:.1f} s"
             + (" -- cargo lambda watch RECOMPILED the function" if recompiled else ", no recompilation"))

        heading(f"3. Landing {len(list(p for p in LANDING_DIR.rglob('*') if p.is_file()))} files in s3://{landing}")
        uploaded = upload(s3, landing)

        heading("4. Invoking s3-landing for each object")
        results = []  # (via, elapsed, summary)
        sent = {}  # key -> the S3 notification sent, for the re-delivery
        for key, meta in uploaded.items():
            if key == SQS_KEY or key.startswith(DMS_PREFIX):
                continue
            sent[key] = s3_event(landing, key, **meta)
            elapsed, out = watch.invoke(sent[key])
            check(len(out.get("objects", [])) == 1, f"{key}: expected one object in the summary, got {json.dumps(out)[:300]}")
            results.append(("S3 notification", elapsed, out["objects"][0]))
            print_object(out["objects"][0], "S3 notification", elapsed, clean, quarantine)

        # SQS: the very message moto's bucket notification put on the landing queue.
        msg = queued_message(sqs, queue_url, SQS_KEY)
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        elapsed, out = watch.invoke(sqs_event(msg, queue_arn))
        check(out == {"batchItemFailures": []}, f"SQS delivery of {SQS_KEY}: expected no batchItemFailures, got {out}")
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])  # as Lambda's poller would
        items = catalog_cli("items", "ledger", landing, SQS_KEY)
        if len(items) != 1:
            raise DemoError(f"expected one ledger entry for {SQS_KEY} after its SQS delivery, found {len(items)}")
        entry = json.loads(items[0]["entry"])
        summary = {"key": SQS_KEY, "status": entry["outcome"], "dataset": entry["dataset_id"],
                   "rows_read": entry["rows_read"], "rows_written": entry["rows_written"],
                   "rows_rejected": entry["rows_rejected"], "outputs": [{"key": k} for k in entry["outputs"]],
                   "quarantine": entry["quarantine"], "reason": None,
                   "partitions": sorted({k.rsplit("/", 1)[0] for k in entry["outputs"]})}
        via = f"SQS message {msg['MessageId'][:8]}; reply {json.dumps(out)}; summary from the ledger"
        results.append(("SQS", elapsed, summary))
        print_object(summary, via, elapsed, clean, quarantine)

        # At-least-once delivery: the same object again must be a recorded no-op.
        heading("5. Re-delivering objects (must be recorded duplicates)")
        redeliveries = [("the same S3 notification again", REDELIVER_S3_KEY, sent[REDELIVER_S3_KEY]),
                        ("EventBridge Object Created", REDELIVER_EB_KEY,
                         eventbridge_event(landing, REDELIVER_EB_KEY, **uploaded[REDELIVER_EB_KEY]))]
        redelivered = []
        for via, key, event in redeliveries:
            elapsed, out = watch.invoke(event)
            o = out["objects"][0]
            print_object(o, via, elapsed, clean, quarantine)
            check(o["status"] == "duplicate", f"re-delivery of {key} ({via}): expected status duplicate, got {o['status']}")
            check(o["rows_written"] == 0 and not o["outputs"], f"re-delivery of {key} wrote something: {o}")
            redelivered.append((via, elapsed, o))
            item = catalog_cli("items", "ledger", landing, key)
            print(f"    ledger     {len(item)} entry, duplicate_deliveries={item[0].get('duplicate_deliveries') if item else '?'}")

        heading(f"5b. Sequencing the DMS files with {CDC_FUNCTION} (shuffled, one delivered twice)")
        sequenced = []
        for name in DMS_ORDER:
            key = f"{DMS_PREFIX}HR/EMPLOYEES/{name}"
            elapsed, out = watch.invoke(s3_event(landing, key, **uploaded[key]), function=CDC_FUNCTION,
                                        timeout=FIRST_INVOKE_TIMEOUT if not sequenced else INVOKE_TIMEOUT)
            o = out["objects"][0]
            print_object(o, f"{CDC_FUNCTION}, S3 notification", elapsed, env("TRIBUTARY_RAW_BUCKET"), quarantine)
            if o["status"] == "sequenced":
                print(f"    {o['phase']:<9}  rows by op {o['rows_by_op']}  partitions {len(o['partitions'])}")
                print(f"    _seq       {o['seq_first']}")
                print(f"       ..      {o['seq_last']}")
            expected = "duplicate" if any(x["key"] == key for _, _, x in sequenced) else "sequenced"
            check(o["status"] == expected, f"{key} via {CDC_FUNCTION}: expected {expected}, got {o['status']}")
            sequenced.append((CDC_FUNCTION, elapsed, o))
        results += [r for r in sequenced if r[2]["status"] != "duplicate"]
        redelivered += [r for r in sequenced if r[2]["status"] == "duplicate"]

        heading(f"5c. {REGISTER_FUNCTION}: every zone object as EventBridge delivers it (all registered already)")
        raw = env("TRIBUTARY_RAW_BUCKET")
        statuses, created, present, calls = {}, 0, 0, 0
        for n, (bucket, key, size) in enumerate((b, k, sz) for b in (clean, raw) for k, sz in list_keys(s3, b)):
            elapsed, out = watch.invoke(eventbridge_event(bucket, key, size, None, None), function=REGISTER_FUNCTION,
                                        timeout=FIRST_INVOKE_TIMEOUT if n == 0 else INVOKE_TIMEOUT)
            o, t = out["objects"][0], out["totals"]
            statuses[o["status"]] = statuses.get(o["status"], 0) + 1
            created, present, calls = created + t["partitions_created"], present + t["partitions_present"], calls + t["glue_calls"]
            if n < 3:
                print(f"{key}  [{elapsed * 1000:.0f} ms] -> {o['status']} {o.get('table')} {o.get('partition')}")
        print(f"... {sum(statuses.values())} objects: {statuses}; partitions created {created}, already present {present}; "
              f"Glue calls {calls}")
        check(set(statuses) == {"registered"} and created == 0,
              f"zone objects: expected all registered and none created (landing registered them), got {statuses}, {created}")

        heading(f"5d. {REGISTER_FUNCTION}: DMS Parquet written in place in date folders, a new column, a conflict")
        declare(ddb, catalog, [IN_PLACE])
        step(f"{IN_PLACE['id']}: layout {IN_PLACE['layout']}, s3://{raw}/{IN_PLACE['zone_prefix']}YYYY/MM/DD/")
        gen = duckdb.connect()
        in_place = {}
        with tempfile.TemporaryDirectory(prefix="tributary-dms-") as tmp:
            for rel, sql, what in IN_PLACE_FILES:
                path = Path(tmp) / "f.parquet"
                gen.sql(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
                key = IN_PLACE["zone_prefix"] + rel
                r = s3.put_object(Bucket=raw, Key=key, Body=path.read_bytes())
                elapsed, out = watch.invoke(s3_event(raw, key, path.stat().st_size, r["ETag"].strip('"'), None),
                                            function=REGISTER_FUNCTION)
                o, tables = out["objects"][0], out["tables"]
                in_place[rel] = (o, tables[0] if tables else {})
                print(f"{key}  ({what})  [{elapsed * 1000:.0f} ms]")
                print(f"    -> {o['status']}" + (f" partition {o['partition']} at {o.get('location')}" if o["status"] == "registered" else "")
                      + (f": {o['reason']}" if o.get("reason") else ""))
                t = tables[0] if tables else {}
                if t.get("columns_added") or t.get("columns_widened"):
                    print(f"    table evolved: added {t.get('columns_added', [])}, widened {t.get('columns_widened', [])}, "
                          f"{t.get('partitions_updated', 0)} existing partition(s) updated")
        (o1, t1), (o2, _), (o3, t3), (o4, _) = (in_place[rel] for rel, _, _ in IN_PLACE_FILES)
        check(o1["status"] == "registered" and t1.get("table_created"), f"first DMS file: {o1}")
        check(o2["status"] == "registered" and o2["partition"] == [["year", "2024"], ["month", "11"], ["day", "06"]], f"second DMS file: {o2}")
        check(o3["status"] == "registered" and t3.get("columns_added") == ["channel"] and t3.get("partitions_updated") == 2,
              f"schema evolution: {o3} {t3}")
        check(o4["status"] == "quarantined" and "order_id changed type" in (o4.get("reason") or ""), f"conflict: {o4}")
        check(not any(k == IN_PLACE["zone_prefix"] + IN_PLACE_FILES[3][0] for k, _ in list_keys(s3, raw)),
              "the conflicting file is still in the raw zone")

        firehose_batches = firehose_step(watch, check)
        stream = stream_step(watch, check)
        compaction = compaction_step(watch, check, s3)
        search_step(watch, check)

        heading("6. A malformed event (must fail as Tributary.BadInput)")
        elapsed, err = watch.invoke({"hello": "world"}, expect_error=True)
        print(f"{{\"hello\": \"world\"}}  [{elapsed * 1000:.0f} ms] -> HTTP 500 {err.get('errorType')}: {err.get('errorMessage')}")
        check(err.get("errorType") == "Tributary.BadInput", f"malformed event: expected Tributary.BadInput, got {err}")
    finally:
        watch.stop()

    for via, _, o in results + redelivered:
        check(o["rows_read"] == o["rows_written"] + o["rows_rejected"],
              f"{o['key']}: counts do not reconcile: read {o['rows_read']} != written {o['rows_written']} + rejected {o['rows_rejected']}")
    written = {}
    for _, _, o in results:
        if o.get("dataset"):
            written[o["dataset"]] = written.get(o["dataset"], 0) + o["rows_written"]

    heading(f"7. Clean zone: s3://{clean}")
    clean_keys = list_keys(s3, clean)
    for key, size in clean_keys:
        print(f"{human(size):>10}  {key}")
    listed = {out["key"] for _, _, o in results if o["status"] != "sequenced" for out in o.get("outputs", [])}
    check(listed == {k for k, _ in clean_keys},
          f"clean bucket and reported outputs differ: unreported {sorted({k for k, _ in clean_keys} - listed)}, "
          f"missing {sorted(listed - {k for k, _ in clean_keys})}")

    raw = env("TRIBUTARY_RAW_BUCKET")
    heading(f"7b. Raw zone (sequenced CDC): s3://{raw}")
    raw_keys = [(k, sz) for k, sz in list_keys(s3, raw) if not k.startswith(IN_PLACE["zone_prefix"])]
    for key, size in raw_keys:
        print(f"{human(size):>10}  {key}")
    listed = {out["key"] for _, _, o in results if o["status"] == "sequenced" for out in o.get("outputs", [])}
    listed |= set(stream["outputs"])  # stream-ingest's micro-batches (5f)
    check(listed == {k for k, _ in raw_keys}, f"raw bucket and reported outputs differ: {sorted(listed ^ {k for k, _ in raw_keys})}")

    heading(f"8. Quarantine: s3://{quarantine}")
    for key, size in list_keys(s3, quarantine):
        print(f"{human(size):>10}  {key}")
    by_key = {o["key"]: o for _, _, o in results}
    for key in REPORTS:
        report_key = next((q for q in by_key.get(key, {}).get("quarantine", []) if q.endswith(".report.json")), None)
        if not report_key:
            check(False, f"{key}: no quarantine report listed in its summary")
            continue
        report = json.loads(s3.get_object(Bucket=quarantine, Key=report_key)["Body"].read())
        print(f"\n{report_key}:")
        print(json.dumps(trim(report), indent=2))

    heading(f"9. Dataset stats in {catalog}")
    stats = {}
    for item in catalog_cli("items", "stats"):
        stats[item["dataset_id"]] = item
    for ds_id, item in sorted(stats.items()):
        print(f"{ds_id}: rows {item.get('row_count', 0)}, bytes {item.get('byte_count', 0)}, files {item.get('file_count', 0)}, "
              f"rejected rows {item.get('rejected_row_count', 0)}, quarantined files {item.get('quarantined_file_count', 0)}")
        print(f"    last_update {item.get('last_update', '-')}  location {item.get('location', '-')}")
        if item.get("schema"):
            cols = json.loads(item["schema"])["columns"]
            text = ", ".join(f"{c['name']}:{c['type']}{'' if c.get('nullable', True) else '!'}" for c in cols)
            print(f"    schema      {text if len(text) < 200 else text[:200] + '...'}")
        check(item.get("row_count", 0) == written.get(ds_id, 0),
              f"{ds_id}: stats row_count {item.get('row_count', 0)} != rows written {written.get(ds_id, 0)}")

    heading(f"9b. Glue Data Catalog: database {env('TRIBUTARY_GLUE_DATABASE')} (registered by the functions, no crawler)")
    glue = boto3.client("glue", endpoint_url=env("AWS_ENDPOINT_URL"), config=Config(proxies={}))
    db_name = env("TRIBUTARY_GLUE_DATABASE")
    for table in glue.get_tables(DatabaseName=db_name)["TableList"]:
        keys = ", ".join(f"{k['Name']} {k['Type']}" for k in table.get("PartitionKeys", []))
        parts = []
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=db_name, TableName=table["Name"]):
            parts += page["Partitions"]
        print(f"{table['Name']}: {table['StorageDescriptor']['Location']}  partitioned by ({keys}); {len(parts)} partition(s)")
        for p in sorted(parts, key=lambda p: p["Values"])[:6]:
            print(f"    {p['Values']} -> {p['StorageDescriptor']['Location']}")
        if len(parts) > 6:
            print(f"    ... {len(parts) - 6} more")
        cols = table["StorageDescriptor"]["Columns"]
        print(f"    columns: {', '.join(c['Name'] + ' ' + c['Type'] for c in cols)}")
        if table["Name"].endswith("_curated"):
            check(len(parts) == compaction["partitions"]
                  and all("/snapshot=" + compaction["snapshot"] + "/" in p["StorageDescriptor"]["Location"] for p in parts),
                  f"{table['Name']}: partitions do not all point at snapshot {compaction['snapshot']}")
            continue
        if table["Name"] == "sales_orders_dms":
            check(len(parts) == 3 and [c["Name"] for c in cols][-1] == "channel"
                  and all([c["Name"] for c in p["StorageDescriptor"]["Columns"]] == [c["Name"] for c in cols] for p in parts),
                  f"sales_orders_dms: expected 3 partitions sharing the evolved columns, got {len(parts)}")
            continue
        ds_id = next((d["id"] for d in datasets if d["id"].replace(".", "_").replace("-", "_").lower() == table["Name"]), None)
        expected = {p for _, _, o in results if o.get("dataset") == ds_id for p in o.get("partitions", [])}
        if ds_id == STREAM_DATASET:
            expected |= stream["partitions"]
        check(len(parts) == len(expected), f"{table['Name']}: {len(parts)} Glue partitions, {len(expected)} written")

    heading("10. Independent check: the clean and raw Parquet read back with DuckDB")
    with tempfile.TemporaryDirectory(prefix="tributary-demo-") as tmp:
        for bucket, keys in ((clean, clean_keys), (raw, raw_keys)):
            for key, _ in keys:
                dest = Path(tmp) / key
                dest.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(dest))
        db = duckdb.connect()
        for ds in datasets:
            ds_id = ds["id"]
            files = list((Path(tmp) / ds_id).rglob("*.parquet"))
            source = f"read_parquet('{Path(tmp) / ds_id}/**/*.parquet', hive_partitioning=true)"
            count = db.sql(f"SELECT count(*) FROM {source}").fetchone()[0] if files else 0
            reported = written.get(ds_id, 0) + (stream["written"] if ds_id == STREAM_DATASET else 0)
            by = STREAM_FUNCTION if ds_id == STREAM_DATASET else "s3-landing"
            ok = count == reported
            print(f"\n{ds_id}: DuckDB counts {count} rows in {len(files)} file(s); {by} reported "
                  f"{reported} written -> {'OK' if ok else 'MISMATCH'}")
            check(ok, f"{ds_id}: DuckDB counts {count} rows, {by} reported {reported} written")
            if files:
                cols = db.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
                print("columns: " + ", ".join(f"{c[0]} {c[1]}" for c in cols))
                ids = [c[0] for c in cols if c[0].lower().endswith("id")]  # EMPLOYEE_ID, order_id, event_id
                order = f'"{ids[0]}"' if ids else "ALL"
                if ds.get("source", {}).get("format", "").startswith("dms"):
                    print("the sequenced change history of employees 104 and 107, in _seq order:")
                    db.sql(f"SELECT _op, _seq, _commit_ts, EMPLOYEE_ID, SALARY, DEPARTMENT_ID FROM {source} "
                           "WHERE EMPLOYEE_ID IN (104, 107) ORDER BY _seq").show(max_width=160)
                    dup = db.sql(f"SELECT count(*) - count(DISTINCT _seq) FROM {source}").fetchone()[0]
                    print(f"duplicate _seq values: {dup}")
                    check(dup == 0, f"{ds_id}: {dup} duplicate _seq values")
                    latest = db.sql(f"SELECT EMPLOYEE_ID, SALARY FROM {source} QUALIFY row_number() OVER "
                                    "(PARTITION BY EMPLOYEE_ID ORDER BY _seq DESC) = 1 AND _op <> 'D' "
                                    "ORDER BY 1").fetchall()
                    print(f"latest version per key (DuckDB, from the raw tier): {len(latest)} employees; "
                          f"104 earns {dict(latest).get(104)}, 107 {dict(latest).get(107)}, 178 deleted: {178 not in dict(latest)}")
                    check(dict(latest).get(104) == 7200 and 178 not in dict(latest), "latest versions of 104/178 are wrong")
                else:
                    db.sql(f"SELECT * FROM {source} ORDER BY {order} LIMIT 3").show(max_width=140)

    heading("Result")
    objects = len(results)
    print(f"{objects} objects landed ({', '.join(f'{s} {n}' for s, n in sorted(count_by(results).items()))}); "
          f"rows written per dataset: {', '.join(f'{k} {v}' for k, v in sorted(written.items()))}")
    for name, counts, keys, elapsed in firehose_batches:
        print(f"firehose-transform, {name}: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}; "
              f"{len(keys)} partition(s); {elapsed * 1000:.0f} ms")
    print(f"compactor, {CDC_DATASET}: generation {compaction['generation']}, {compaction['rows_in']} changes -> "
          f"{compaction['rows']} rows ({compaction['superseded']} superseded, {compaction['deleted']} deleted), "
          f"{compaction['partitions']} partitions; DuckDB agrees")
    print(f"stream-ingest, {KINESIS_FIXTURE}: {stream['records']} records = {stream['written']} written + "
          f"{stream['dropped']} dropped + {stream['quarantined']} quarantined + {stream['retried']} retried")
    print(f"timings: build {build_s:.1f} s, first invocation {first_s:.1f} s, "
          f"invocations {', '.join(f'{e * 1000:.0f}' for _, e, _ in results + redelivered)} ms, total {time.monotonic() - t0:.1f} s")
    if failures:
        print(f"\nDEMO FAILED: {len(failures)} check(s) did not hold:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        print(log_tail(), file=sys.stderr)
        return 1
    print("all checks passed: every object's counts reconcile (read = written + rejected), re-deliveries were "
          "recorded duplicates, and DuckDB reads exactly the rows s3-landing reported as written; every Firehose "
          "record came back once with a valid result, the Kinesis batch reconciles and re-runs idempotently, and the "
          "compacted snapshot equals DuckDB's latest version per key.")
    return 0


# ------------------------------------------------------------------ streaming (5c, 5d)
def fixture(name):
    return json.loads((ROOT / "events" / name).read_text())


def last_log(message):
    """The fields of the last JSON log line in the watch log with this message (the functions log
    their batch summaries), or None."""
    for line in reversed(WATCH_LOG.read_text(errors="replace").splitlines()):
        if message not in line or "{" not in line:
            continue
        try:
            entry = json.loads(line[line.index("{"):])
        except ValueError:
            continue
        return entry.get("fields", entry)
    return None


def generated_firehose_batch(n):
    """A Direct PUT batch of n clickstream records over three hours: mostly valid, some heartbeats
    (dropped) and some bad records (failed)."""
    records = []
    for i in range(n):
        minute = i * 180 // n
        ts = f"2024-01-15T{10 + minute // 60:02d}:{minute % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
        if i % 50 == 7:
            body = {"event_type": "heartbeat", "tracker": f"web-{i % 3}", "ts": ts}
        elif i % 100 == 13:
            body = {"event_id": f"gen-{i}", "event_type": "click", "ts": ts}  # no user_id
        else:
            body = {"event_id": f"gen-{i}", "event_type": "page_view", "userId": f"u-{i % 97}", "ts": ts,
                    "page": ["/", "/pricing", "/docs"][i % 3], "duration_ms": (i * 37) % 5000}
        text = json.dumps(body, separators=(",", ":"))
        if i % 100 == 29:
            text = text[: len(text) // 2]  # truncated JSON
        records.append({"recordId": f"{49546986683135544286507457936321625675700192471156780000 + i}",
                        "approximateArrivalTimestamp": 1705312800000 + i * 5000,
                        "data": base64.b64encode(text.encode()).decode()})
    return {"invocationId": str(uuid.uuid4()), "region": os.environ.get("AWS_REGION", "us-east-1"),
            "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/demo", "records": records}


def check_firehose(event, out, check, name):
    """The transformation contract: every recordId once, in order, a valid result, base64 data;
    Ok records are newline-terminated JSON objects with partition keys."""
    got = out.get("records", [])
    check([r["recordId"] for r in got] == [r["recordId"] for r in event["records"]],
          f"{name}: the response does not return every recordId once, in order")
    for r in got:
        check(r.get("result") in ("Ok", "Dropped", "ProcessingFailed"), f"{name}: record {r.get('recordId')}: result {r.get('result')!r}")
        try:
            data = base64.b64decode(r.get("data", ""), validate=True)
        except ValueError:
            check(False, f"{name}: record {r['recordId']}: data is not base64")
            continue
        if r["result"] == "Ok":
            check(data.endswith(b"\n") and isinstance(json.loads(data), dict),
                  f"{name}: record {r['recordId']}: Ok data is not one JSON line")
            keys = r.get("metadata", {}).get("partitionKeys", {})
            check(sorted(keys) == ["dataset", "day", "hour", "month", "year"] and keys["dataset"] == STREAM_DATASET,
                  f"{name}: record {r['recordId']}: partition keys {keys}")
    check(len(json.dumps(out, separators=(",", ":"))) <= 6291456, f"{name}: response over 6 MB")


def partition_path(keys):
    return "/".join(f"{k}={keys[k]}" for k in ("dataset", "year", "month", "day", "hour"))


def firehose_step(watch, check):
    heading(f"5e. Firehose batches through {FIREHOSE_FUNCTION} (dynamic partitioning keys from each event's ts)")
    batches = [(name, fixture(name)) for name in FIREHOSE_FIXTURES]
    batches.append(("2,000 generated records", generated_firehose_batch(2000)))
    summaries = []
    for i, (name, event) in enumerate(batches):
        elapsed, out = watch.invoke(event, function=FIREHOSE_FUNCTION,
                                    timeout=FIRST_INVOKE_TIMEOUT if i == 0 else INVOKE_TIMEOUT)
        check_firehose(event, out, check, name)
        counts, keys = {}, {}
        for r in out["records"]:
            counts[r["result"]] = counts.get(r["result"], 0) + 1
            if r.get("metadata"):
                path = partition_path(r["metadata"]["partitionKeys"])
                keys[path] = keys.get(path, 0) + 1
        print(f"{name}  [{len(event['records'])} records, {elapsed * 1000:.0f} ms]")
        if i == 0:
            for sent, r in zip(event["records"], out["records"]):
                detail = (partition_path(r["metadata"]["partitionKeys"]) + "  " + base64.b64decode(r["data"]).decode().strip()
                          if r["result"] == "Ok" else base64.b64decode(sent["data"]).decode(errors="replace")[:60] or "(empty)")
                print(f"    ...{r['recordId'][-6:]}  {r['result']:<16} {clip(detail, 150)}")
        print(f"    results        {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}")
        for path, n in sorted(keys.items()):
            print(f"    partition      {path}: {n} record(s)")
        summary = last_log("firehose batch transformed")
        if summary:
            print(f"    function log   ok {summary.get('ok')}, dropped {summary.get('dropped')}, failed {summary.get('failed')} "
                  f"by reason {summary.get('failed_by_reason')}, response {summary.get('response_bytes')} bytes")
            check(summary.get("records") == len(event["records"]), f"{name}: the logged summary is not this batch's")
        summaries.append((name, counts, keys, elapsed))
    return summaries


def stream_step(watch, check):
    heading(f"5f. The Kinesis fixture through {STREAM_FUNCTION} (raw zone, hour partitions, quarantine)")
    event = fixture(KINESIS_FIXTURE)
    raw, quarantine = env("TRIBUTARY_RAW_BUCKET"), env("TRIBUTARY_QUARANTINE_BUCKET")
    runs = []
    for attempt in ("first delivery", "the same batch again (a retry)"):
        elapsed, out = watch.invoke(event, function=STREAM_FUNCTION,
                                    timeout=FIRST_INVOKE_TIMEOUT if not runs else INVOKE_TIMEOUT)
        summary = last_log("kinesis batch ingested") or {}
        outputs, q = json.loads(summary.get("outputs", "[]")), json.loads(summary.get("quarantine", "[]"))
        print(f"{KINESIS_FIXTURE}, {attempt}  [{len(event['Records'])} records, {elapsed * 1000:.0f} ms] -> {json.dumps(out)}")
        print(f"    records {summary.get('records')} = written {summary.get('written')} + dropped {summary.get('dropped')} + "
              f"quarantined {summary.get('quarantined')} + retried {summary.get('retried')}; rejections {summary.get('rejections_by_reason')}")
        for key in outputs:
            print(f"    output     s3://{raw}/{key}")
        for key in q:
            print(f"    quarantine s3://{quarantine}/{key}")
        check(out == {"batchItemFailures": []}, f"{KINESIS_FIXTURE}: expected no batchItemFailures, got {out}")
        check(summary.get("records") == summary.get("written", 0) + summary.get("dropped", 0)
              + summary.get("quarantined", 0) + summary.get("retried", 0), f"{KINESIS_FIXTURE}: counts do not reconcile: {summary}")
        runs.append((outputs, q, summary))
    check(runs[0][:2] == runs[1][:2], "the retried batch did not rewrite the same objects")
    outputs, _, summary = runs[0]
    return {"outputs": outputs, "written": summary.get("written", 0), "records": summary.get("records", 0),
            "dropped": summary.get("dropped", 0), "quarantined": summary.get("quarantined", 0),
            "retried": summary.get("retried", 0),
            "partitions": {f"{STREAM_DATASET}/{k.split('/', 1)[1].rsplit('/', 1)[0]}" for k in outputs}}


def compaction_step(watch, check, s3):
    heading(f"5g. {COMPACTOR_FUNCTION}: {CDC_DATASET} compacted into a curated snapshot (then a no-op)")
    raw, curated = env("TRIBUTARY_RAW_BUCKET"), env("TRIBUTARY_CURATED_BUCKET")
    event = {"table": CDC_DATASET}
    elapsed, out = watch.invoke(event, function=COMPACTOR_FUNCTION, timeout=FIRST_INVOKE_TIMEOUT)
    print(f"{json.dumps(event)}  [{elapsed * 1000:.0f} ms] -> {out['status']} generation {out['generation']}")
    for k in ("snapshot", "high_water", "deltas_consumed", "rows_in", "rows_out", "superseded", "deleted",
              "tombstones", "partitions", "files", "bytes", "glue_calls"):
        print(f"    {k:<16} {out[k]}")
    check(out["status"] == "published", f"compactor: expected published, got {out}")
    check(out["rows_in"] == out["rows_out"] + out["superseded"] + out["deleted"], f"compactor counts do not reconcile: {out}")
    elapsed, again = watch.invoke(event, function=COMPACTOR_FUNCTION)
    print(f"the same input again  [{elapsed * 1000:.0f} ms] -> {again['status']} generation {again['generation']}")
    check(again["status"] == "unchanged" and again["generation"] == out["generation"], f"re-run: {again}")

    item = next(i for i in catalog_cli("items", "compaction", CDC_DATASET) if "doc" in i)
    record = json.loads(item["doc"])
    print(f"DynamoDB record: generation {record['generation']}, {record['rows']} rows, {record['files']} files, "
          f"manifest s3://{curated}/{record['manifest']}")
    with tempfile.TemporaryDirectory(prefix="tributary-compact-") as tmp:
        selects = []
        for p in record["partitions"]:
            files = []
            for key in p["files"]:
                dest = Path(tmp) / "curated" / key
                dest.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(curated, key, str(dest))
                files.append(f"'{dest}'")
            if files:
                # The partition value comes from the catalog, as a Glue reader gets it (not the path).
                selects.append(f"SELECT *, '{p['values'][0]}' AS DEPARTMENT_ID "
                               f"FROM read_parquet([{', '.join(files)}], hive_partitioning=false)")
        for key, _ in list_keys(s3, raw):
            if key.startswith(CDC_DATASET + "/"):
                dest = Path(tmp) / "raw" / key
                dest.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(raw, key, str(dest))
        db = duckdb.connect()
        snapshot = " UNION ALL ".join(selects)
        print("the compacted snapshot (what a reader of the Glue table sees), first rows by EMPLOYEE_ID:")
        db.sql(f"SELECT EMPLOYEE_ID, FIRST_NAME, LAST_NAME, SALARY, DEPARTMENT_ID, _op, _seq FROM ({snapshot}) "
               "ORDER BY EMPLOYEE_ID LIMIT 8").show(max_width=170)
        ours = db.sql(f"SELECT EMPLOYEE_ID, SALARY, NULLIF(DEPARTMENT_ID, '') AS d, _seq FROM ({snapshot}) ORDER BY 1").fetchall()
        theirs = db.sql(f"SELECT EMPLOYEE_ID, SALARY, NULLIF(NULLIF(CAST(DEPARTMENT_ID AS VARCHAR), "
                        "'__HIVE_DEFAULT_PARTITION__'), '') AS d, _seq FROM read_parquet("
                        f"'{Path(tmp) / 'raw' / CDC_DATASET}/**/*.parquet', hive_partitioning=true) QUALIFY row_number() "
                        "OVER (PARTITION BY EMPLOYEE_ID ORDER BY _seq DESC) = 1 AND _op <> 'D' ORDER BY 1").fetchall()
        same = ours == theirs
        print(f"DuckDB over the raw tier (QUALIFY row_number() ... = 1 AND _op <> 'D'): {len(theirs)} rows; "
              f"snapshot: {len(ours)} rows -> {'identical' if same else 'DIFFERENT'}")
        check(same, f"compacted snapshot differs from DuckDB: {sorted(set(ours) ^ set(theirs))[:5]}")
        check(len(ours) == out["rows_out"], f"snapshot rows {len(ours)} != reported rows_out {out['rows_out']}")
    return {"generation": out["generation"], "snapshot": out["snapshot"], "rows": out["rows_out"], "rows_in": out["rows_in"],
            "superseded": out["superseded"], "deleted": out["deleted"], "partitions": out["partitions"]}


def count_by(results):
    out = {}
    for _, _, o in results:
        out[o["status"]] = out.get(o["status"], 0) + 1
    return out


# ------------------------------------------------------------------ the search API (5h)
SEARCH_FUNCTION = "search-api"


def api_call(port, method, path, token=None, body=None, headers=None, timeout=60):
    """One request to the local HTTP API (scripts/api_bridge.py): (status, headers, JSON body)."""
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=h)
    try:
        with NO_PROXY.open(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise DemoError(f"{method} {path} through the API bridge failed: {e}")
    try:
        return status, {k.lower(): v for k, v in hdrs.items()}, json.loads(raw)
    except ValueError:
        raise DemoError(f"{method} {path} answered HTTP {status} with a body that is not JSON: {raw[:300]!r}")


def fetch(url):
    with NO_PROXY.open(url, timeout=30) as r:
        return r.read()


def start_bridge(watch):
    """scripts/api_bridge.py serving the HTTP API over the watch's search-api: (port, process, log)."""
    port = free_port()
    log = open(WORK / "api_bridge.log", "wb")
    bridge = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "api_bridge.py"), "serve", "--port", str(port),
                               "--invoke-port", str(watch.port)], stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return port, bridge, log
        except OSError:
            if time.monotonic() > deadline:
                bridge.kill()
                raise DemoError("api_bridge.py does not accept connections")
            time.sleep(0.1)


def stop_bridge(bridge, log):
    bridge.terminate()
    try:
        bridge.wait(timeout=10)
    except subprocess.TimeoutExpired:
        bridge.kill()
    log.close()


def token(sub, groups):
    """A development token from scripts/api_bridge.py for `sub` in `groups`."""
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "api_bridge.py"), "token", "--sub", sub,
                           "--groups", groups], capture_output=True, text=True, check=True).stdout.strip()


def search_step(watch, check):
    """5h: the search API (search-api under the same `cargo lambda watch`, behind api_bridge.py):
    search, detail, partitions, a metadata update with If-Match, and a manifest of presigned links."""
    heading("5h. The search API: search-api behind scripts/api_bridge.py (a local HTTP API)")
    step("cargo build -p search-api -p tributary-catalog")
    if subprocess.run(["cargo", "build", "-q", "-p", SEARCH_FUNCTION, "-p", "tributary-catalog"], cwd=ROOT).returncode:
        raise DemoError("cargo build -p search-api -p tributary-catalog failed")
    # Step 1 declared the datasets with plain PutItem: index them as an operator would.
    out = subprocess.run(["cargo", "run", "-q", "-p", "tributary-catalog", "--", "reindex"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise DemoError(f"tributary-catalog reindex failed: {out.stderr.strip()}")
    step(f"tributary-catalog reindex: {out.stdout.strip()}")
    port, bridge, bridge_log = start_bridge(watch)
    try:
        analyst, hr, web_owner = token("ana", "analysts,sales"), token("hal", "hr"), token("wes", "web-analytics,analysts")
        start = time.monotonic()
        status, _, body = api_call(port, "GET", "/health", timeout=FIRST_INVOKE_TIMEOUT)
        step(f"GET /health -> {status} {json.dumps(body)} (first request starts {SEARCH_FUNCTION}: {time.monotonic() - start:.1f} s)")
        check(status == 200, f"health: {status} {body}")

        step("GET /datasets?q=orders  (token: sub ana, groups analysts, sales)")
        status, _, body = api_call(port, "GET", "/datasets?q=orders", analyst)
        for item in body.get("items", []):
            print(f"    {item['score']:>6}  {item['id']:<18} {item['name']!r:<20} matched {','.join(item['matched']):<24} "
                  f"{item['row_count']} rows, {human(item['byte_count'])}")
        check(status == 200 and body["items"] and body["items"][0]["id"] == "sales.orders", f"search orders: {body}")
        check(body.get("items") and body["items"][0]["row_count"] > 0, "the landed rows show in the search result")

        step("GET /datasets?tag=web&limit=1  (facets count every match)")
        status, _, body = api_call(port, "GET", "/datasets?tag=web&limit=1", analyst)
        print(f"    total {body.get('total')}, page {[i['id'] for i in body.get('items', [])]}, next_cursor "
              f"{'yes' if body.get('next_cursor') else 'no'}; facets: " + json.dumps(body.get("facets")))
        check(status == 200 and body.get("total") == 2 and body.get("next_cursor"), f"tag=web: {body}")
        status, _, page2 = api_call(port, "GET", f"/datasets?tag=web&limit=1&cursor={body.get('next_cursor')}", analyst)
        check(status == 200 and page2["items"] and page2["items"][0]["id"] != body["items"][0]["id"], f"page 2: {page2}")

        status, _, body = api_call(port, "GET", "/datasets/hr.employees", analyst)
        step(f"GET /datasets/hr.employees as ana (not in group hr) -> {status} {body.get('code')}")
        check(status == 404, f"hr.employees is invisible to analysts: {status}")
        status, headers, body = api_call(port, "GET", "/datasets/hr.employees", hr)
        step(f"GET /datasets/hr.employees as hal (group hr) -> {status}, ETag {headers.get('etag')}, "
             f"{len(body.get('technical', {}).get('columns') or [])} columns, {body.get('stats', {}).get('row_count')} rows")
        check(status == 200, f"hr.employees for hr: {status} {body}")

        status, _, body = api_call(port, "GET", "/datasets/sales.orders/partitions", analyst)
        step(f"GET /datasets/sales.orders/partitions -> {status}: table {body.get('table')}, "
             f"{[p['values'] for p in body.get('items', [])]}")
        check(status == 200 and len(body.get("items", [])) >= 1, f"partitions: {body}")

        status, headers, body = api_call(port, "GET", "/datasets/web.clicks", web_owner)
        etag = headers.get("etag")
        status, headers, body = api_call(port, "PUT", "/datasets/web.clicks/metadata", web_owner,
                                         {"tags": ["web", "clickstream", "marketing"]}, {"If-Match": etag})
        step(f"PUT /datasets/web.clicks/metadata (owner, If-Match {etag}) -> {status}, ETag {headers.get('etag')}, "
             f"tags {body.get('business', {}).get('tags')}")
        check(status == 200, f"metadata update: {status} {body}")
        status, _, body = api_call(port, "PUT", "/datasets/web.clicks/metadata", web_owner,
                                   {"tags": ["web"]}, {"If-Match": etag})
        step(f"the same If-Match again -> {status} {body.get('code')}")
        check(status == 412, f"stale If-Match: {status}")
        status, _, body = api_call(port, "GET", "/datasets?tag=marketing", analyst)
        check([i["id"] for i in body.get("items", [])] == ["web.clicks"], f"re-indexed: {body}")

        req = {"datasets": [{"id": "sales.orders"}, {"id": "web.clicks"}], "expires_in": 600}
        status, _, body = api_call(port, "POST", "/manifests", analyst, req)
        step(f"POST /manifests {json.dumps(req)} -> {status}: {body.get('object_count')} objects, expires {body.get('expires_at')}")
        check(status == 201, f"manifest: {status} {body}")
        if status == 201:
            print(f"    manifest link: {clip(body['url'], 160)}")
            manifest = json.loads(fetch(body["url"]))
            for ds in manifest["datasets"]:
                for o in ds["objects"]:
                    print(f"    {ds['id']:<13} {human(o['size']):>9}  {o['key']}  {json.dumps(o['partition'])}")
            first = manifest["datasets"][0]["objects"][0]
            data = fetch(first["url"])
            check(data[:4] == b"PAR1" and len(data) == first["size"], "a presigned link fetches the Parquet object")
            step(f"GET of the first object's presigned link: {human(len(data))}, starts with {data[:4]!r}")
        status, _, body = api_call(port, "POST", "/manifests", analyst, {"datasets": [{"id": "hr.employees"}]})
        step(f"POST /manifests for hr.employees as ana -> {status} {body.get('code')}")
        check(status == 404, f"manifest of an invisible dataset: {status}")
    finally:
        stop_bridge(bridge, bridge_log)

if __name__ == "__main__":
    # local_aws.py stops us with SIGTERM when it is interrupted: unwind, so `finally` stops the watch.
    def terminated(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminated)
    try:
        sys.exit(main(sys.argv[1:]))
    except DemoError as e:
        print(f"\nDEMO FAILED: {e}", file=sys.stderr)
        print(log_tail(), file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception:
        import traceback
        traceback.print_exc()
        print(f"\nDEMO FAILED: unexpected error (above)\n{log_tail()}", file=sys.stderr)
        sys.exit(1)
