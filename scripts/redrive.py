#!/usr/bin/env python3
"""Redrives the state machines' failure records.

    redrive.py --queue-url URL [--max N] [--dry-run]            deployed: StartExecution
    redrive.py --queue-url URL --local [--lambda URL] [--sub NAME=VALUE ...]
                                                                locally: scripts/sfn/run.mjs

Every failure a state machine records on the orchestration failures queue (template.yaml
OrchestrationFailuresQueue; stack output OrchestrationFailuresQueueUrl) is a JSON message
{machine, state_machine, execution, error, cause, redrive: {state_machine, input}}. For each
record this starts `redrive.state_machine` again with `redrive.input` (a whole execution's input,
or one item's: a single key of a batch) under a new execution name `redrive-<id>`, and deletes
the record once the new execution has started (deployed) or has finished (locally: the run is
synchronous; a run that fails again has recorded a new failure of its own). A record that is not
valid JSON or has no redrive input is left on the queue and reported. Prints one line per record;
exits 1 if any record could not be redriven.

Credentials, region and endpoint come from the usual AWS settings (AWS_ENDPOINT_URL for the
emulator). --local needs `cargo lambda watch` serving the functions (--lambda, default
$SFN_LAMBDA_URL or http://127.0.0.1:9000).
"""
import argparse, json, os, subprocess, sys, uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    import boto3
except ImportError:  # started by a python without boto3: switch to the project venv
    if (venv := ROOT / ".venv" / "bin" / "python").exists() and Path(sys.executable) != venv:
        os.execv(venv, [str(venv), __file__, *sys.argv[1:]])
    sys.exit("redrive: boto3 missing; run scripts/bootstrap.sh")


def records(sqs, url, limit):
    """Up to `limit` messages, all received before any is redriven (so a redrive that fails again
    and records a new failure is not redriven in the same run), with a visibility timeout long
    enough to redrive them."""
    out = []
    while len(out) < limit:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(out)),
                                  WaitTimeSeconds=1, VisibilityTimeout=900).get("Messages", [])
        if not got:
            break
        out += got
    return out


def machine_name(arn):
    """`arn:...:stateMachine:<prefix>-<name>` → `<name>` (statemachines/<name>.asl.json)."""
    full = arn.rsplit(":", 1)[-1]
    prefix = os.environ.get("TRIBUTARY_PREFIX", "tributary") + "-"
    if not full.startswith(prefix):
        raise ValueError(f"{arn} is not one of this stack's state machines (prefix {prefix!r})")
    return full[len(prefix):]


def redrive_local(arn, payload, name, lambda_url, subs):
    cmd = ["node", str(ROOT / "scripts/sfn/run.mjs"), "--machine", machine_name(arn),
           "--input", json.dumps(payload), "--name", name, "--lambda", lambda_url]
    for s in subs:
        cmd += ["--sub", s]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    last = (out.stdout.strip().splitlines() or ["{}"])[-1]
    result = json.loads(last) if last.startswith("{") else {"status": "ERROR", "error": last}
    return result


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queue-url", required=True)
    ap.add_argument("--max", type=int, default=100, help="records to redrive at most (default 100)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be redriven; delete nothing")
    ap.add_argument("--local", action="store_true", help="run with scripts/sfn/run.mjs and cargo lambda watch")
    ap.add_argument("--lambda", dest="lambda_url",
                    default=os.environ.get("SFN_LAMBDA_URL", "http://127.0.0.1:9000"))
    ap.add_argument("--sub", action="append", default=[], metavar="NAME=VALUE",
                    help="--local: a definition substitution for the runner (e.g. a threshold)")
    args = ap.parse_args(argv)
    sqs = boto3.client("sqs")
    sfn = None if args.local else boto3.client("stepfunctions")
    failed = 0
    done = 0
    for m in records(sqs, args.queue_url, args.max):
        try:
            rec = json.loads(m["Body"])
            arn = rec["redrive"]["state_machine"]
            payload = rec["redrive"]["input"]
            if isinstance(payload, str):
                payload = json.loads(payload)
        except (ValueError, KeyError, TypeError) as e:
            print(f"redrive: SKIPPED message {m['MessageId']}: not a failure record ({e})")
            failed += 1
            continue
        name = f"redrive-{uuid.uuid4().hex[:12]}"
        what = f"{rec.get('machine', '?')} {rec.get('error', '?')} from {rec.get('execution', '?')}"
        if args.dry_run:
            print(f"redrive: WOULD START {arn} {name} input={json.dumps(payload)} ({what})")
            continue
        try:
            if args.local:
                result = redrive_local(arn, payload, name, args.lambda_url, args.sub)
                status = result.get("status")
                print(f"redrive: {status} {name} ({what})"
                      + ("" if status == "SUCCEEDED" else f": {result.get('error')}: {result.get('cause', '')[:300]}"))
                if status not in ("SUCCEEDED", "FAILED"):
                    failed += 1
                    continue
                if status == "FAILED":
                    failed += 1
            else:
                started = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
                print(f"redrive: STARTED {started['executionArn']} ({what})")
        except Exception as e:  # noqa: BLE001 - reported per record, the record stays queued
            print(f"redrive: FAILED to start {arn}: {e} ({what})")
            failed += 1
            continue
        sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=m["ReceiptHandle"])
        done += 1
    print(f"redrive: {done} record(s) redriven, {failed} not")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
