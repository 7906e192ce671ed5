#!/usr/bin/env python3
"""The reference for `tributary-bench firehose`: the Firehose transformation Tributary's
firehose-transform performs, written the way AWS's Python blueprints are (stdlib json and base64,
one record at a time), so the benchmark compares the same work.

    firehose_reference.py SETTINGS EVENT OUT ITERATIONS

SETTINGS is a JSON file: {"dataset", "columns": [[name, type, nullable], ...], "renames": {from: to},
"drop_if": [[field, value], ...], "time_field", "max_response", "max_record"}. Each iteration
parses EVENT (as the Lambda runtime does), transforms it and serialises the response (as the
runtime does). Prints one line per iteration's seconds; writes the last response to OUT.

Per record, as in Tributary (shared/core/src/stream/record.rs, shared/core/src/stream/firehose.rs): base64 decode, size
limit, JSON object, renames, drop filters (Dropped), schema checks (ProcessingFailed), timestamps
to RFC 3339 UTC, newline, partition keys from the time field (else the arrival time); the same
response size guard (every record's minimal entry reserved, a record whose entry no longer fits
answered ProcessingFailed with empty data).
"""
import base64
import binascii
import json
import math
import sys
import time
from datetime import date, datetime, timezone

SEPARATORS = (",", ":")


def parse_ts(s):
    t = datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)


def format_ts(t):
    # isoformat() omits the fraction when it is zero, else writes six digits.
    return t.isoformat().replace("+00:00", "Z")


class Failed(Exception):
    pass


def typed(name, kind, v):
    """Checks a value against its column type; returns the normalised value."""
    if kind == "string":
        return v
    if kind in ("int64", "int32"):
        bits = 63 if kind == "int64" else 31
        if type(v) is int and -(2 ** bits) <= v < 2 ** bits:
            return v
    elif kind == "double":
        if type(v) in (int, float) and math.isfinite(v):
            return v
    elif kind == "boolean":
        if type(v) is bool:
            return v
    elif kind == "timestamp":
        if isinstance(v, str):
            try:
                return format_ts(parse_ts(v))
            except ValueError:
                raise Failed(f"field {name}: {v!r} is not a valid timestamp")
    elif kind == "date":
        if isinstance(v, str):
            try:
                return date.fromisoformat(v).isoformat()
            except ValueError:
                raise Failed(f"field {name}: {v!r} is not a valid date")
    raise Failed(f"field {name}: {json.dumps(v)} is not a valid {kind}")


def matches(v, value):
    return v == value if isinstance(v, str) else json.dumps(v) == value


def transform_record(rec, s):
    """Returns ("Ok", line, event time) / ("Dropped",) / ("ProcessingFailed", reason, echo)."""
    try:
        data = base64.b64decode(rec["data"], validate=True)
    except (binascii.Error, ValueError):
        return ("ProcessingFailed", "data is not valid base64", False)
    if len(data) > s["max_record"]:
        return ("ProcessingFailed", "record is too large", True)
    if not data.strip():
        return ("ProcessingFailed", "record is empty", True)
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return ("ProcessingFailed", f"record is invalid JSON: {e}", True)
    if not isinstance(obj, dict):
        return ("ProcessingFailed", "record is not an object", True)
    renames = s["renames"]
    obj = {renames.get(k, k): v for k, v in obj.items()}
    for field, value in s["drop_if"]:
        if field in obj and matches(obj[field], value):
            return ("Dropped",)
    try:
        for name, kind, nullable in s["columns"]:
            v = obj.get(name)
            if v is None:
                if not nullable:
                    return ("ProcessingFailed",
                            f"missing required field {name}" if name not in obj else f"required field {name} is null", True)
                continue
            obj[name] = typed(name, kind, v)
    except Failed as e:
        return ("ProcessingFailed", str(e), True)
    when = None
    tf = s["time_field"]
    if tf and obj.get(tf) is not None:
        when = parse_ts(obj[tf])
    if when is None:
        arrival = rec["approximateArrivalTimestamp"]
        when = datetime.fromtimestamp(arrival / 1000, tz=timezone.utc)
    return ("Ok", json.dumps(obj, separators=SEPARATORS) + "\n", when)


def entry_json(entry):
    return json.dumps(entry, separators=SEPARATORS)


def handler(event, s):
    records = event["records"]
    n = len(records)
    fixed = len('{"recordId":,"result":"ProcessingFailed","data":""}')
    minimal = [fixed + len(json.dumps(r["recordId"])) for r in records]
    envelope = len('{"records":[]}') + max(n - 1, 0)
    headroom = s["max_response"] - envelope - sum(minimal)
    if headroom < 0:
        raise ValueError("batch cannot be answered within the response limit")
    parts = []
    for rec, minimum in zip(records, minimal):
        out = transform_record(rec, s)
        entry = None
        if out[0] == "Ok":
            when = out[2]
            entry = {"recordId": rec["recordId"], "result": "Ok",
                     "data": base64.b64encode(out[1].encode("utf-8")).decode("ascii"),
                     "metadata": {"partitionKeys": {"dataset": s["dataset"], "year": "%04d" % when.year,
                                                    "month": "%02d" % when.month, "day": "%02d" % when.day,
                                                    "hour": "%02d" % when.hour}}}
        elif out[0] == "Dropped":
            entry = {"recordId": rec["recordId"], "result": "Dropped", "data": ""}
        else:
            echo = out[2] and len(rec["data"]) <= headroom
            entry = {"recordId": rec["recordId"], "result": "ProcessingFailed", "data": rec["data"] if echo else ""}
        text = entry_json(entry)
        if len(text) - minimum > headroom:
            text = entry_json({"recordId": rec["recordId"], "result": "ProcessingFailed", "data": ""})
        headroom -= len(text) - minimum
        parts.append(text)
    return '{"records":[' + ",".join(parts) + "]}"


def main(settings_path, event_path, out_path, iterations):
    with open(settings_path) as f:
        s = json.load(f)
    with open(event_path, "rb") as f:
        raw = f.read()
    body = None
    for _ in range(int(iterations)):
        t = time.perf_counter()
        event = json.loads(raw)  # what the Lambda runtime does before the handler
        body = handler(event, s).encode("utf-8")  # and after it
        print(time.perf_counter() - t, flush=True)
    with open(out_path, "wb") as f:
        f.write(body)


if __name__ == "__main__":
    main(*sys.argv[1:])
