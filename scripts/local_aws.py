#!/usr/bin/env python3
"""Local AWS for Tributary: a moto server on 127.0.0.1, provisioned from template.yaml.

    local_aws.py up [--state-dir DIR]          start (or reuse) moto, provision, write DIR/env
    local_aws.py down [--state-dir DIR]        stop it
    local_aws.py run [--state-dir DIR] -- CMD  up, run CMD with DIR/env added, down; CMD's exit code
    local_aws.py provision | reset | env       (re)create resources | wipe and recreate | print DIR/env

DIR defaults to .local/aws in the repo (`run` without --state-dir uses a fresh temp dir).
DIR/env holds `export NAME=value` lines: the AWS_* settings for the emulator and every
TRIBUTARY_* variable of the template's Globals, resolved, plus TRIBUTARY_LANDING_QUEUE_URL and
TRIBUTARY_SFN_SUBSTITUTIONS (DIR/substitutions.json: the state machines' DefinitionSubstitutions
that resolve locally, read by scripts/sfn/run.mjs).

Resource names are not repeated here: they are computed from template.yaml by resolving its
!Ref/!Sub/!GetAtt/!Join expressions with the parameter defaults (Prefix can be overridden with
TRIBUTARY_PREFIX), AWS::AccountId=123456789012 (moto's) and AWS::Region (AWS_REGION, else
us-east-1). An expression it cannot resolve is an error. Lambda functions and log groups are
not emulated (moto cannot run project code without Docker).
"""
import argparse, fcntl, json, os, re, shlex, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    import boto3, yaml
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:  # started by a python without boto3: switch to the project venv
    if (venv := ROOT / ".venv" / "bin" / "python").exists() and Path(sys.executable) != venv:
        os.execv(venv, [str(venv), __file__, *sys.argv[1:]])
    sys.exit("local_aws: boto3/PyYAML missing; run scripts/bootstrap.sh")

TEMPLATE = ROOT / "template.yaml"
DEFAULT_STATE = ROOT / ".local" / "aws"
ACCOUNT = "123456789012"  # moto's default account
LANDING_QUEUE = "LandingEventsQueue"  # logical ID of the queue exported as TRIBUTARY_LANDING_QUEUE_URL
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
NAME_PROPS = {  # where each emulated resource type keeps its physical name
    "AWS::S3::Bucket": ("BucketName",), "AWS::DynamoDB::Table": ("TableName",),
    "AWS::SQS::Queue": ("QueueName",), "AWS::Glue::Database": ("DatabaseInput", "Name")}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Fail(Exception):
    pass


# ------------------------------------------------------------------ template resolution
class CfnLoader(yaml.SafeLoader):
    """SafeLoader reading CloudFormation short tags in their long form: !Sub x -> {"Fn::Sub": x}."""


def _short_tag(loader, suffix, node):
    construct = {yaml.ScalarNode: loader.construct_scalar, yaml.SequenceNode: loader.construct_sequence,
                 yaml.MappingNode: loader.construct_mapping}[type(node)]
    value = construct(node) if isinstance(node, yaml.ScalarNode) else construct(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _short_tag)


def _text(v):
    return str(v).lower() if isinstance(v, bool) else str(v)


class Stack:
    """template.yaml with its parameters bound; resolves the expressions that name resources."""

    def __init__(self, region=None):
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.t = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
        self.region, self.resources, self.urls = region, self.t["Resources"], {}
        self.params = {}
        for name, p in self.t.get("Parameters", {}).items():
            value = (os.environ.get("TRIBUTARY_PREFIX") if name == "Prefix" else None) or p.get("Default")
            if value is None:
                raise Fail(f"parameter {name} has no Default")
            if "AllowedPattern" in p and not re.fullmatch(p["AllowedPattern"], str(value)):
                raise Fail(f"parameter {name}={value!r} does not match {p['AllowedPattern']}")
            self.params[name] = _text(value)
        self.pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": region, "AWS::Partition": "aws",
                       "AWS::URLSuffix": "amazonaws.com"}

    def of_type(self, rtype):
        return [(k, r.get("Properties", {})) for k, r in self.resources.items() if r["Type"] == rtype]

    def resolve(self, x):
        if isinstance(x, list):
            return [self.resolve(v) for v in x]
        if not isinstance(x, dict):
            return x
        if len(x) == 1:
            (fn, arg), = x.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                return self.getatt(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if fn == "Fn::Sub":
                return self.sub(*(arg if isinstance(arg, list) else [arg, {}]))
            if fn == "Fn::Join":
                return self.resolve(arg[0]).join(_text(v) for v in self.resolve(arg[1]))
            if fn.startswith("Fn::") or fn == "Condition":
                raise Fail(f"cannot resolve {fn}: {json.dumps(arg)}")
        return {k: self.resolve(v) for k, v in x.items()}

    def name(self, logical):
        """Physical name of an emulated resource, from its explicit name property."""
        rtype = self.resources[logical]["Type"]
        if rtype not in NAME_PROPS:
            raise Fail(f"{logical}: cannot name a {rtype}")
        value = self.resources[logical].get("Properties", {})
        for key in NAME_PROPS[rtype]:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            raise Fail(f"{logical}: no {'.'.join(NAME_PROPS[rtype])}; give it an explicit name")
        return _text(self.resolve(value))

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.resources:
            raise Fail(f"!Ref {name}: no such parameter or resource")
        if self.resources[name]["Type"] == "AWS::SQS::Queue":  # Ref of a queue is its URL
            if name not in self.urls:
                raise Fail(f"!Ref {name}: a queue URL is known only once it is provisioned")
            return self.urls[name]
        return self.name(name)

    def getatt(self, logical, attr):
        rtype = self.resources.get(logical, {}).get("Type")
        arns = {"AWS::S3::Bucket": "arn:aws:s3:::{}",
                "AWS::SQS::Queue": f"arn:aws:sqs:{self.region}:{ACCOUNT}:{{}}",
                "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{{}}"}
        if attr == "Arn" and rtype in arns:
            return arns[rtype].format(self.name(logical))
        raise Fail(f"cannot resolve !GetAtt {logical}.{attr}")

    def sub(self, template, variables):
        variables = self.resolve(variables)

        def one(m):
            key = m.group(1)
            if key.startswith("!"):  # ${!Literal}
                return "${" + key[1:] + "}"
            if key in variables:
                return _text(variables[key])
            return _text(self.getatt(*key.split(".", 1)) if "." in key else self.ref(key))
        return re.sub(r"\$\{([^}]*)\}", one, template)

    def substitutions(self):
        """The state machines' DefinitionSubstitutions that name emulated resources or parameters
        (queue URLs, bucket names, thresholds), resolved; Lambda and state-machine ARNs are left
        to the local runner (scripts/sfn/run.mjs), which maps them to the served binaries."""
        out = {}
        for _, p in self.of_type("AWS::Serverless::StateMachine"):
            for k, v in p.get("DefinitionSubstitutions", {}).items():
                try:
                    out[k] = _text(self.resolve(v))
                except (Fail, KeyError):
                    pass
        return out

    def function_env(self):
        """The TRIBUTARY_* variables of Globals.Function.Environment, resolved."""
        env = self.t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        return {k: _text(self.resolve(v)) for k, v in env.items() if k.startswith("TRIBUTARY_")}


# ------------------------------------------------------------------ provisioning
def _ignore(e, *codes):
    if e.response.get("Error", {}).get("Code") not in codes:
        raise e


def provision(stack, endpoint):
    """Create every emulated resource of the template, or bring it up to date. Idempotent."""
    client = lambda svc: boto3.client(
        svc, endpoint_url=endpoint, region_name=stack.region, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(proxies={}, retries={"max_attempts": 2}))
    sqs, s3, ddb, glue = client("sqs"), client("s3"), client("dynamodb"), client("glue")

    # Queues without a redrive policy (the DLQs) first. Queue properties are SQS attribute names.
    for logical, p in sorted(stack.of_type("AWS::SQS::Queue"), key=lambda q: "RedrivePolicy" in q[1]):
        attrs = {k: json.dumps(v) if isinstance(v, dict) else _text(v)
                 for k, v in stack.resolve(p).items() if k not in ("QueueName", "Tags")}
        name = stack.name(logical)
        try:
            stack.urls[logical] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        except ClientError as e:  # exists with other attributes: update them
            _ignore(e, "QueueAlreadyExists", "QueueNameExists")
            stack.urls[logical] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attrs.pop("FifoQueue", None)
            sqs.set_queue_attributes(QueueUrl=stack.urls[logical], Attributes=attrs)
    for _, p in stack.of_type("AWS::SQS::QueuePolicy"):
        policy = json.dumps(stack.resolve(p["PolicyDocument"]))
        for url in stack.resolve(p["Queues"]):
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})

    for logical, p in stack.of_type("AWS::DynamoDB::Table"):
        p, name = stack.resolve(p), stack.name(logical)
        keep = ("KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
                "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification")
        try:
            ddb.create_table(TableName=name, **{k: p[k] for k in keep if k in p})
        except ClientError as e:
            _ignore(e, "ResourceInUseException")
        ttl = p.get("TimeToLiveSpecification", {})
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("Enabled") and current.get("TimeToLiveStatus") != "ENABLED":
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)

    for _, p in stack.of_type("AWS::Glue::Database"):
        try:
            glue.create_database(DatabaseInput=stack.resolve(p["DatabaseInput"]))
        except ClientError as e:
            _ignore(e, "AlreadyExistsException")

    for logical, p in stack.of_type("AWS::S3::Bucket"):
        name = stack.name(logical)
        where = {"CreateBucketConfiguration": {"LocationConstraint": stack.region}}
        try:
            s3.create_bucket(Bucket=name, **({} if stack.region == "us-east-1" else where))
        except ClientError as e:
            _ignore(e, "BucketAlreadyOwnedByYou")
        # Versioning changes the events and reads; encryption, access blocks, lifecycle do not matter here.
        if "VersioningConfiguration" in p:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=p["VersioningConfiguration"])
        notify = p.get("NotificationConfiguration", {})
        queues = [{"QueueArn": stack.resolve(q["Queue"]), "Events": [q["Event"]],
                   **({"Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}}} if "Filter" in q else {})}
                  for q in notify.get("QueueConfigurations", [])]
        eventbridge = notify.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled")
        have = [{k: v for k, v in c.items() if k != "Id"}
                for c in s3.get_bucket_notification_configuration(Bucket=name).get("QueueConfigurations", [])]
        # moto never reports EventBridgeConfiguration back, so the queue configurations decide;
        # an unchanged bucket is left alone (each put makes moto send another s3:TestEvent).
        if have != queues or (eventbridge and not queues):
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={
                "QueueConfigurations": queues, **({"EventBridgeConfiguration": {}} if eventbridge else {})})
    skipped = sorted({r["Type"] for r in stack.resources.values()} - set(NAME_PROPS) - {"AWS::SQS::QueuePolicy"})
    print(f"local_aws: provisioned {endpoint} (not emulated: {', '.join(skipped)})", file=sys.stderr)


# ------------------------------------------------------------------ the moto server
def _http(method, url, body=None, timeout=5):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with NO_PROXY.open(req, timeout=timeout) as r:
        return r.status


def _moto_pid(state):
    """The pid in DIR/moto.pid if that process is alive and is a moto server, else None."""
    try:
        pid = int((state / "moto.pid").read_text())
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, exited: now reaped
                return None
        except ChildProcessError:
            pass
        return pid if b"moto_server" in Path(f"/proc/{pid}/cmdline").read_bytes() else None
    except (OSError, ValueError):
        return None


def _running(state):
    """The endpoint of the healthy moto server started from this state dir, else None."""
    try:
        endpoint = f"http://127.0.0.1:{int((state / 'moto.port').read_text())}"
        return endpoint if _moto_pid(state) and _http("GET", endpoint + "/moto-api/", timeout=2) == 200 else None
    except (OSError, ValueError):
        return None


@contextmanager
def _locked(state):
    state.mkdir(parents=True, exist_ok=True)
    with open(state / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start(state):
    # moto's server, with DynamoDB writes serialised (see scripts/moto_server_serial.py).
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists() or not (ROOT / ".venv" / "bin" / "moto_server").exists():
        raise Fail("moto_server not found; run scripts/bootstrap.sh")
    moto = [str(python), str(ROOT / "scripts" / "moto_server_serial.py")]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(state / "moto.log", "ab") as log:
        proc = subprocess.Popen([*moto, "-H", "127.0.0.1", "-p", str(port)], cwd=state, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (state / "moto.pid").write_text(f"{proc.pid}\n")
    (state / "moto.port").write_text(f"{port}\n")
    deadline = time.monotonic() + 30
    while not (endpoint := _running(state)):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(state)
            tail = (state / "moto.log").read_text(errors="replace").splitlines()[-20:]
            raise Fail(f"moto_server did not answer on port {port}; {state / 'moto.log'} ends:\n" + "\n".join(tail))
        time.sleep(0.2)
    return endpoint


def _stop(state):
    pid = _moto_pid(state)
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 2)) if pid else ():
        try:
            os.killpg(pid, sig)  # it leads its own session, so its process group id is its pid
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _moto_pid(state) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _moto_pid(state):
            break
    for f in ("moto.pid", "moto.port"):
        (state / f).unlink(missing_ok=True)


def _provision_and_write_env(state, endpoint, stack=None):
    stack = stack or Stack()
    _http("POST", endpoint + "/moto-api/config", MOTO_CONFIG)
    provision(stack, endpoint)
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region, "AWS_EC2_METADATA_DISABLED": "true",
           **stack.function_env(), "TRIBUTARY_LANDING_QUEUE_URL": stack.ref(LANDING_QUEUE)}
    subs = state / "substitutions.json"
    subs.write_text(json.dumps(stack.substitutions(), indent=1, sort_keys=True))
    env["TRIBUTARY_SFN_SUBSTITUTIONS"] = str(subs)
    (state / "env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    return env


# ------------------------------------------------------------------ subcommands
def up(state):
    stack = Stack()  # a template problem fails before anything is started
    with _locked(state):
        endpoint = _running(state)
        if not endpoint:
            _stop(state)  # a stale or unhealthy one
            endpoint = _start(state)
        return _provision_and_write_env(state, endpoint, stack)


def down(state):
    with _locked(state):
        _stop(state)


def run(state, cmd):
    temp = state is None
    state = Path(tempfile.mkdtemp(prefix="tributary-aws-")) if temp else state

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(signum)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    child, code = None, 1
    try:
        env = up(state)
        try:
            child = subprocess.Popen(cmd, env={**os.environ, **env})
        except OSError as e:
            print(f"local_aws: cannot run {cmd[0]}: {e}", file=sys.stderr)
            code = 127
        else:
            code = child.wait()
            code = 128 - code if code < 0 else code  # killed by a signal: shell convention
    except KeyboardInterrupt as e:
        code = 128 + (e.args[0] if e.args else signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the cleanup finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if child and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        down(state)
        if temp and code == 0:
            shutil.rmtree(state, ignore_errors=True)
        elif temp:
            print(f"local_aws: state kept in {state} (see moto.log)", file=sys.stderr)
    return code


def main(argv):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", type=Path, help=f"default: {DEFAULT_STATE} (run: a temp dir)")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "provision", "reset", "env"):
        sub.add_parser(name, parents=[common])
    sub.add_parser("run", parents=[common]).add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    state = args.state_dir.resolve() if args.state_dir else None
    if args.command == "run":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            parser.error("run needs a command after --")
        return run(state, cmd)
    state = state or DEFAULT_STATE
    if args.command == "up":
        up(state)
        print(state / "env")
    elif args.command == "down":
        down(state)
    elif args.command == "env":
        if not (state / "env").exists():
            raise Fail(f"{state / 'env'} does not exist; use `up` first")
        sys.stdout.write((state / "env").read_text())
    else:  # provision, reset
        with _locked(state):
            endpoint = _running(state)
            if not endpoint:
                raise Fail(f"no moto server is running for {state}; use `up` first")
            if args.command == "reset":
                _http("POST", endpoint + "/moto-api/reset")
            _provision_and_write_env(state, endpoint)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        sys.exit(f"local_aws: {e}")
