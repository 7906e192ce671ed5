"""The demo's default mode: the whole system, run the way it runs once deployed.

The state machines of statemachines/ (executed by scripts/sfn/run.mjs, whose Task states call the
real function binaries served by `cargo lambda watch`) carry the bundled files:

 1. declare the sample datasets, build and serve every function;
 2. land the bundled files in the landing bucket; the **landing** machine converts the non-DMS
    files (clean zone, quarantine, Glue partitions registered by s3-landing itself);
 3. the **cdc-pipeline** machine carries the DMS files of hr.employees_cdc through sequencing
    (raw zone), the pending check, compaction (curated snapshot, Glue partitions switched), the
    grace period and retirement; the scheduled **compaction** machine then finds nothing to do;
 4. streaming: a Firehose batch through firehose-transform. The emulator's Firehose never calls
    the transform, so this script plays Firehose: it groups the `Ok` records by their dynamic
    partitioning keys and delivers them as objects under web.events' landing prefix (as the
    delivery stream's prefix would), writes `ProcessingFailed` records to the error prefix, and
    the landing machine lands the delivered objects (raw zone, Glue partitions registered);
 5. the search API (search-api behind scripts/api_bridge.py) answers about the compacted table;
 6. it ends with the compacted table (read through its Glue partitions with DuckDB), its Glue
    partitions and the search result, and checks that DuckDB's latest version per key over the
    raw tier equals the published snapshot.

Every execution's steps are printed with their timings. `demo.py --walk-through` is the previous
per-function walk-through (each function invoked by hand, step by step).
"""
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict

import boto3
import duckdb

FIREHOSE_BATCH = "firehose-direct-put.json"
FIREHOSE_STREAM = "tributary-events"  # the delivery stream's name in delivered object names
FIREHOSE_ERRORS = "firehose-errors/processing-failed/"  # the delivery stream's error output prefix


def run_machine(d, watch, machine, payload, subs=()):
    """One execution through scripts/sfn/run.mjs; its step log is printed as it runs."""
    d.step(f"state machine {machine}: {json.dumps(payload)[:160]}")
    cmd = ["node", str(d.ROOT / "scripts" / "sfn" / "run.mjs"), "--machine", machine,
           "--input", json.dumps(payload), "--lambda", f"http://127.0.0.1:{watch.port}"]
    for s in subs:
        cmd += ["--sub", s]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # steps go to stderr, as they run
    last = (out.stdout.strip().splitlines() or [""])[-1]
    try:
        result = json.loads(last)
    except ValueError:
        raise d.DemoError(f"the state machine runner failed for {machine} (exit {out.returncode}): {out.stdout[-500:]}")
    if result.get("status") != "SUCCEEDED":
        raise d.DemoError(f"{machine} execution {result.get('status')}: {result.get('error')}: {d.clip(str(result.get('cause')))}")
    d.step(f"{machine}: SUCCEEDED in {result['ms'] / 1000:.2f} s, {len(result['steps'])} steps, "
           f"{len(result['retries'])} retries, output {result['output_bytes']} bytes")
    return result


def totals(results):
    """Sums the per-item totals of a Map's results."""
    out = defaultdict(int)
    for r in results:
        for k, v in (r.get("totals") or {}).items():
            out[k] += v
        out[f"item {r.get('status')}"] += 1
    return dict(out)


def deliver_firehose(d, s3, landing, quarantine, watch, check, landing_prefix):
    """Plays Firehose: the batch through the transform, then delivery as the stream would do it."""
    event = json.loads((d.ROOT / "events" / FIREHOSE_BATCH).read_text())
    elapsed, out = watch.invoke(event, function=d.FIREHOSE_FUNCTION)
    d.check_firehose(event, out, check, FIREHOSE_BATCH)
    by_result = defaultdict(int)
    groups = defaultdict(list)
    failed = []
    for r in out["records"]:
        by_result[r["result"]] += 1
        if r["result"] == "Ok":
            keys = r["metadata"]["partitionKeys"]
            groups[(keys["year"], keys["month"], keys["day"], keys["hour"])].append(base64.b64decode(r["data"]))
        elif r["result"] == "ProcessingFailed":
            failed.append(r)
    d.step(f"{d.FIREHOSE_FUNCTION}: {len(event['records'])} records -> "
           f"{', '.join(f'{k} {v}' for k, v in sorted(by_result.items()))} in {elapsed * 1000:.0f} ms")
    delivered = []
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
    for (y, m, day, h), lines in sorted(groups.items()):
        key = f"{landing_prefix}year={y}/month={m}/day={day}/hour={h}/{FIREHOSE_STREAM}-1-{stamp}-{uuid.uuid4()}.jsonl"
        s3.put_object(Bucket=landing, Key=key, Body=b"".join(lines))
        delivered.append(key)
        d.step(f"delivered s3://{landing}/{key} ({len(lines)} records)")
    if failed:
        key = f"{FIREHOSE_ERRORS}{stamp}-{uuid.uuid4()}.json"
        body = "".join(json.dumps({"recordId": r["recordId"], "rawData": r.get("data", ""),
                                   "errorCode": "Lambda.ProcessingFailed"}) + "\n" for r in failed)
        s3.put_object(Bucket=quarantine, Key=key, Body=body.encode())
        d.step(f"error output: {len(failed)} ProcessingFailed record(s) -> s3://{quarantine}/{key}")
    return delivered, dict(by_result)


def glue_partitions(table):
    glue = boto3.client("glue", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    db = os.environ["TRIBUTARY_GLUE_DATABASE"]
    parts = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=db, TableName=table):
        parts += page["Partitions"]
    return sorted(parts, key=lambda p: p["Values"])


def curated_rows(d, s3, table):
    """The compacted table as a reader planning through Glue sees it: every file under each
    partition's location, read with DuckDB (partition value from Glue)."""
    work = d.WORK / "curated"
    work.mkdir(parents=True, exist_ok=True)
    selects = []
    listed = {}  # bucket -> its keys, listed once
    for p in glue_partitions(table):
        loc = p["StorageDescriptor"]["Location"]
        bucket, prefix = loc[len("s3://"):].split("/", 1)
        if bucket not in listed:
            listed[bucket] = [k for k, _ in d.list_keys(s3, bucket)]
        keys = [k for k in listed[bucket] if k.startswith(prefix) and k.endswith(".parquet")]
        for k in keys:
            path = work / k.replace("/", "_")
            s3.download_file(bucket, k, str(path))
            selects.append(f"SELECT *, '{p['Values'][0]}' AS DEPARTMENT_ID FROM read_parquet('{path}')")
    if not selects:
        return None
    return " UNION ALL ".join(selects)


def oracle(d, s3, raw, db):
    """DuckDB's latest version per key over every raw-tier file of the CDC dataset, deletes dropped
    (the raw deltas are still there: the compactor keeps them for its own grace period)."""
    work = d.WORK / "raw"
    work.mkdir(parents=True, exist_ok=True)
    prefix = d.CDC_DATASET + "/"
    for k, _ in d.list_keys(s3, raw):
        if k.startswith(prefix) and k.endswith(".parquet"):
            path = work / k
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(raw, k, str(path))
    return sorted(db.sql(
        f"SELECT EMPLOYEE_ID, _seq, SALARY, CAST(DEPARTMENT_ID AS VARCHAR) "
        f"FROM read_parquet('{work / d.CDC_DATASET}/**/*.parquet', hive_partitioning = true) "
        f"QUALIFY row_number() OVER (PARTITION BY EMPLOYEE_ID ORDER BY _seq DESC) = 1 AND _op <> 'D'").fetchall())


def main(d):
    t0 = time.monotonic()
    landing, quarantine = d.env("TRIBUTARY_LANDING_BUCKET"), d.env("TRIBUTARY_QUARANTINE_BUCKET")
    raw, catalog = d.env("TRIBUTARY_RAW_BUCKET"), d.env("TRIBUTARY_CATALOG_TABLE")
    s3, ddb, _ = d.clients()
    if d.list_keys(s3, landing):
        raise d.DemoError(f"s3://{landing} is not empty: the demo needs a fresh emulator (run scripts/demo.sh)")
    failures = []

    def check(ok, message):
        if not ok:
            failures.append(message)
            print(f"    CHECK FAILED: {message}")

    d.heading(f"1. Declaring datasets in {catalog}; building and serving every function")
    datasets = json.loads(d.DATASETS.read_text())
    d.declare(ddb, catalog, datasets)
    functions = [d.FUNCTION, d.CDC_FUNCTION, d.REGISTER_FUNCTION, d.FIREHOSE_FUNCTION, d.COMPACTOR_FUNCTION,
                 d.SEARCH_FUNCTION]
    packages = [a for f in functions for a in ("-p", f)] + ["-p", "tributary-catalog"]
    start = time.monotonic()
    if subprocess.run(["cargo", "build", *packages], cwd=d.ROOT).returncode:
        raise d.DemoError(f"cargo build {' '.join(packages)} failed")
    d.step(f"cargo build: {time.monotonic() - start:.1f} s")
    watch = d.Watch()
    try:
        watch.start()
        d.step(f"cargo lambda watch serves the functions on 127.0.0.1:{watch.port} (log: {d.WATCH_LOG.relative_to(d.ROOT)})")

        d.heading(f"2. The bundled files land in s3://{landing}; the landing state machine converts them")
        uploaded = d.upload(s3, landing)
        plain = [k for k in uploaded if not k.startswith(d.DMS_PREFIX)]
        dms = [k for k in uploaded if k.startswith(d.DMS_PREFIX)]
        r = run_machine(d, watch, "landing", {"bucket": landing, "keys": plain})
        t = totals(r["output"]["results"])
        d.step(f"landing: {json.dumps(t)}")
        check(t.get("item done") == len(plain), f"landing: every item done, got {t}")
        check(t.get("rows_read") == t.get("rows_written", 0) + t.get("rows_rejected", 0), f"landing counts reconcile: {t}")

        d.heading(f"3. The CDC pipeline for {d.CDC_DATASET}: sequence, compact when due, wait the grace period, retire")
        d.step("thresholds: CompactionMinDeltas=1 for the demo (deployed default 10; also MinBytes 128 MiB, MaxDeltaAgeSeconds 3600)")
        r = run_machine(d, watch, "cdc-pipeline",
                        {"table": d.CDC_DATASET, "bucket": landing, "keys": dms, "grace_seconds": 1},
                        subs=["CompactionMinDeltas=1"])
        out = r["output"]
        t = totals(out["sequenced"])
        c = out["compaction"] or {}
        d.step(f"sequenced: {json.dumps(t)}")
        d.step(f"pending: {json.dumps(out['pending'])}")
        d.step(f"compaction: {json.dumps(c)}")
        d.step(f"retirement: {json.dumps(out['retirement'])}")
        check(t.get("sequenced") == len(dms), f"every DMS file sequenced: {t}")
        check(c.get("status") == "published", f"compaction published: {c}")
        check(c.get("rows_in") == c.get("rows_out", 0) + c.get("superseded", 0) + c.get("deleted", 0),
              f"compaction counts reconcile: {c}")
        r = run_machine(d, watch, "compaction", {"tables": [d.CDC_DATASET]}, subs=["CompactionMinDeltas=1"])
        res = r["output"]["results"][0]
        d.step(f"scheduled compaction: {json.dumps(res)} (nothing new: the child stopped at Due?)")
        check(res.get("status") == "done" and res.get("compaction") is None, f"scheduled run: {res}")

        d.heading("4. Streaming: a Firehose batch through firehose-transform, delivered, landed and registered")
        d.step("the emulator's Firehose never calls the transform: this script plays Firehose (transform, "
               "dynamic partitioning, delivery, error output)")
        events = next(ds for ds in datasets if ds["id"] == d.STREAM_DATASET)
        delivered, _ = deliver_firehose(d, s3, landing, quarantine, watch, check, events["landing_prefix"])
        r = run_machine(d, watch, "landing", {"bucket": landing, "keys": delivered})
        t = totals(r["output"]["results"])
        d.step(f"landing the deliveries: {json.dumps(t)}")
        check(t.get("converted") == len(delivered), f"every delivered object converted: {t}")
        events_parts = glue_partitions(d.STREAM_DATASET.replace(".", "_"))
        d.step(f"Glue partitions of {d.STREAM_DATASET}: {[p['Values'] for p in events_parts]}")
        check(len(events_parts) >= 1, "the delivered objects' partitions are registered")

        d.heading("5. The search API answers about the compacted table")
        answer = search(d, watch, check)

        d.heading(f"6. The compacted table {d.CDC_DATASET.replace('.', '_')}_curated")
        table = d.CDC_DATASET.replace(".", "_") + "_curated"
        parts = glue_partitions(table)
        for p in parts:
            print(f"    partition {p['Values']} -> {p['StorageDescriptor']['Location']}")
        check(len(parts) == c.get("partitions"), f"{len(parts)} Glue partitions, compactor reported {c.get('partitions')}")
        sql = curated_rows(d, s3, table)
        db = duckdb.connect()
        db.sql(f"SELECT EMPLOYEE_ID, FIRST_NAME, LAST_NAME, SALARY, DEPARTMENT_ID, _op, _seq FROM ({sql}) "
               f"ORDER BY EMPLOYEE_ID").show(max_rows=40, max_width=140)
        ours = sorted(db.sql(f"SELECT EMPLOYEE_ID, _seq, SALARY, DEPARTMENT_ID FROM ({sql})").fetchall())
        check(len(ours) == c.get("rows_out"), f"{len(ours)} rows in the snapshot, compactor reported {c.get('rows_out')}")
        theirs = oracle(d, s3, raw, db)
        d.step(f"DuckDB's latest version per key over the raw tier: {len(theirs)} rows; "
               f"{'the same' if theirs == ours else 'DIFFERENT'} as the published snapshot")
        check(theirs == ours, f"snapshot differs from DuckDB: {sorted(set(ours) ^ set(theirs))[:5]}")
        print(f"    search: {answer}")
    finally:
        watch.stop()

    d.heading("Result")
    print(f"the state machines carried {len(plain)} landed files, {len(dms)} DMS files and a Firehose batch "
          f"through the functions in {time.monotonic() - t0:.1f} s")
    if failures:
        print(f"\nDEMO FAILED: {len(failures)} check(s) did not hold:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        print(d.log_tail(), file=sys.stderr)
        return 1
    print("all checks passed: every landed item done and its counts reconcile, every DMS file sequenced, the "
          "snapshot published with reconciled counts and as many rows and Glue partitions as reported, the "
          "Firehose deliveries landed and registered, and the search API found the compacted table.")
    return 0


def search(d, watch, check):
    """GET /datasets?q=employees and the compacted table's detail through the local HTTP API."""
    out = subprocess.run(["cargo", "run", "-q", "-p", "tributary-catalog", "--", "reindex"], cwd=d.ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise d.DemoError(f"tributary-catalog reindex failed: {out.stderr.strip()}")
    port, bridge, log = d.start_bridge(watch)
    try:
        token = d.token("hal", "hr")
        status, _, body = d.api_call(port, "GET", "/datasets?q=employees", token, timeout=d.FIRST_INVOKE_TIMEOUT)
        ids = [i["id"] for i in body.get("items", [])]
        d.step(f"GET /datasets?q=employees (sub hal, group hr) -> {status}: {ids}")
        check(status == 200 and d.CDC_DATASET in ids, f"search finds {d.CDC_DATASET}: {status} {body}")
        status, _, detail = d.api_call(port, "GET", f"/datasets/{d.CDC_DATASET}", token)
        tech = detail.get("technical") or {}
        keep = {"id": detail.get("id"), "zone": tech.get("zone"), "primary_key": tech.get("primary_key"),
                "glue_table": tech.get("glue_table"), "stats": detail.get("stats")}
        d.step(f"GET /datasets/{d.CDC_DATASET} -> {status}: {json.dumps(keep)}")
        check(status == 200 and (detail.get("stats") or {}).get("row_count", 0) > 0,
              f"detail of {d.CDC_DATASET}: {status} {detail}")
        return f"{d.CDC_DATASET} found among {ids}; {json.dumps(keep)}"
    finally:
        d.stop_bridge(bridge, log)
