#!/usr/bin/env python3
"""Local AWS for Tributary: a moto server on 127.0.0.1, provisioned from template.yaml.

    local_aws.py up [--state-dir DIR]          start (or reuse) moto, provision, write DIR/env
    local_aws.py down [--state-dir DIR]        stop it
    local_aws.py run [--state-dir DIR] -- CMD  up, run CMD with DIR/env added, down; CMD's exit code
    local_aws.py provision | reset | env       (re)create resources | wipe and recreate | print DIR/env

DIR defaults to .local/aws in the repo (`run` without --state-dir uses a fresh temp dir).
DIR/env holds `export NAME=value` lines: the AWS_* settings for the emulator and every
TRIBUTARY_* variable of the template's Globals, resolved, plus TRIBUTARY_LANDING_QUEUE_URL.

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
except ImportError:  # started with a system python: switch to the project venv
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.executable) != venv_python:
        os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])
    sys.exit("local_aws: boto3/PyYAML missing; run scripts/bootstrap.sh")

TEMPLATE = ROOT / "template.yaml"
DEFAULT_STATE = ROOT / ".local" / "aws"
ACCOUNT = "123456789012"  # moto's default account
LANDING_QUEUE = "LandingEventsQueue"  # logical ID whose URL is exported as below
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
NAME_PROPS = {  # where each emulated resource type keeps its physical name
    "AWS::S3::Bucket": ("BucketName",), "AWS::DynamoDB::Table": ("TableName",),
    "AWS::SQS::Queue": ("QueueName",), "AWS::Glue::Database": ("DatabaseInput", "Name")}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Fail(Exception):
    pass


# ------------------------------------------------------------------ template resolution
class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long form: !Sub x -> {"Fn::Sub": x}."""


def _short_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _short_tag)


def _text(v):
    return str(v).lower() if isinstance(v, bool) else str(v)


class Stack:
    """The template with parameters bound, able to resolve the expressions that name resources."""

    def __init__(self, region):
        self.t = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
        self.region, self.resources, self.urls = region, self.t.get("Resources", {}), {}
        self.params = {}
        for name, p in self.t.get("Parameters", {}).items():
            value = os.environ.get("TRIBUTARY_PREFIX") if name == "Prefix" else None
            value = value or p.get("Default")
            if value is None:
                raise Fail(f"parameter {name} has no Default")
            if "AllowedPattern" in p and not re.fullmatch(p["AllowedPattern"], str(value)):
                raise Fail(f"parameter {name}={value!r} does not match {p['AllowedPattern']}")
            self.params[name] = _text(value)
        self.pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": region, "AWS::Partition": "aws",
                       "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
        self._naming = set()

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
        if logical in self._naming:
            raise Fail(f"{logical}: its name refers to itself")
        value = self.resources[logical].get("Properties", {})
        for key in NAME_PROPS[rtype]:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            raise Fail(f"{logical}: no {'.'.join(NAME_PROPS[rtype])}; give it an explicit name")
        self._naming.add(logical)
        try:
            return _text(self.resolve(value))
        finally:
            self._naming.discard(logical)

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
        if (rtype, attr) == ("AWS::SQS::Queue", "QueueName"):
            return self.name(logical)
        raise Fail(f"cannot resolve !GetAtt {logical}.{attr}")

    def sub(self, template, variables):
        variables = self.resolve(variables)

        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return _text(variables[key])
            if "." in key:
                return _text(self.getatt(*key.split(".", 1)))
            return _text(self.ref(key))
        return re.sub(r"\$\{([^}]*)\}", one, template)

    def function_env(self):
        """The Globals' TRIBUTARY_* variables, resolved."""
        env = self.t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        return {k: _text(self.resolve(v)) for k, v in env.items() if k.startswith("TRIBUTARY_")}


# ------------------------------------------------------------------ provisioning
def _code(e):
    return e.response.get("Error", {}).get("Code")


def provision(stack, endpoint):
    """Create (or bring up to date) every emulated resource of the template. Idempotent."""
    client = lambda svc: boto3.client(
        svc, endpoint_url=endpoint, region_name=stack.region, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(proxies={}, retries={"max_attempts": 2}))
    sqs, s3, ddb, glue = client("sqs"), client("s3"), client("dynamodb"), client("glue")

    # Queues: those without a redrive policy (the DLQs) first.
    for logical, p in sorted(stack.of_type("AWS::SQS::Queue"), key=lambda q: "RedrivePolicy" in q[1]):
        attrs = {k: _text(stack.resolve(v)) for k, v in p.items() if k not in ("QueueName", "RedrivePolicy", "RedriveAllowPolicy", "Tags")}
        for k in ("RedrivePolicy", "RedriveAllowPolicy"):
            if k in p:
                attrs[k] = json.dumps(stack.resolve(p[k]))
        name = stack.name(logical)
        try:
            stack.urls[logical] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        except ClientError as e:  # exists with other attributes: update them
            if _code(e) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            stack.urls[logical] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attrs.pop("FifoQueue", None)
            sqs.set_queue_attributes(QueueUrl=stack.urls[logical], Attributes=attrs)
    for _, p in stack.of_type("AWS::SQS::QueuePolicy"):
        policy = json.dumps(stack.resolve(p["PolicyDocument"]))
        for url in stack.resolve(p["Queues"]):
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})

    for logical, p in stack.of_type("AWS::DynamoDB::Table"):
        p, name = stack.resolve(p), stack.name(logical)
        kw = {k: p[k] for k in ("KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
                                "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification") if k in p}
        try:
            ddb.create_table(TableName=name, **kw)
        except ClientError as e:
            if _code(e) != "ResourceInUseException":
                raise
        ttl = p.get("TimeToLiveSpecification")
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl and ttl.get("Enabled") and current.get("TimeToLiveStatus") != "ENABLED":
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)

    for _, p in stack.of_type("AWS::Glue::Database"):
        try:
            glue.create_database(DatabaseInput=stack.resolve(p["DatabaseInput"]))
        except ClientError as e:
            if _code(e) != "AlreadyExistsException":
                raise

    for logical, p in stack.of_type("AWS::S3::Bucket"):
        name = stack.name(logical)
        where = {} if stack.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": stack.region}}
        try:
            s3.create_bucket(Bucket=name, **where)
        except ClientError as e:
            if _code(e) != "BucketAlreadyOwnedByYou":
                raise
        if "VersioningConfiguration" in p:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]})
        if "PublicAccessBlockConfiguration" in p:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if "BucketEncryption" in p:
            rules = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                     for r in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        notify = p.get("NotificationConfiguration", {})
        want = {"QueueConfigurations": [
            {"QueueArn": stack.resolve(q["Queue"]), "Events": [q["Event"]],
             **({"Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}}} if "Filter" in q else {})}
            for q in notify.get("QueueConfigurations", [])]}
        if notify.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            want["EventBridgeConfiguration"] = {}
        have = [{k: v for k, v in c.items() if k != "Id"}
                for c in s3.get_bucket_notification_configuration(Bucket=name).get("QueueConfigurations", [])]
        # moto never reports EventBridgeConfiguration back, so the queue configurations decide:
        # a reused server gets no second s3:TestEvent.
        if have != want["QueueConfigurations"] or (len(want) > 1 and not have):
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=want)
    emulated = set(NAME_PROPS) | {"AWS::SQS::QueuePolicy"}
    skipped = sorted({r["Type"] for r in stack.resources.values()} - emulated)
    print(f"local_aws: provisioned {endpoint} (not emulated: {', '.join(skipped)})", file=sys.stderr)


# ------------------------------------------------------------------ the moto server
def _http(method, url, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with NO_PROXY.open(req, timeout=timeout) as r:
        return r.status


def _healthy(endpoint):
    try:
        return _http("GET", endpoint + "/moto-api/", timeout=2) == 200
    except OSError:
        return False


def _moto_pid(state):
    """The pid in DIR/moto.pid if that process is alive and is a moto server, else None."""
    try:
        pid = int((state / "moto.pid").read_text())
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, exited: reaped now
                return None
        except ChildProcessError:
            pass
        return pid if b"moto_server" in Path(f"/proc/{pid}/cmdline").read_bytes() else None
    except (OSError, ValueError):
        return None


def _endpoint(state):
    try:
        return f"http://127.0.0.1:{int((state / 'moto.port').read_text())}"
    except (OSError, ValueError):
        return None


def _running(state):
    endpoint = _endpoint(state)
    return endpoint if _moto_pid(state) and endpoint and _healthy(endpoint) else None


@contextmanager
def _locked(state):
    state.mkdir(parents=True, exist_ok=True)
    with open(state / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start(state):
    moto = ROOT / ".venv" / "bin" / "moto_server"
    moto = str(moto) if moto.exists() else shutil.which("moto_server")
    if not moto:
        raise Fail("moto_server not found; run scripts/bootstrap.sh")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(state / "moto.log", "ab") as log:
        proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], cwd=state, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (state / "moto.pid").write_text(f"{proc.pid}\n")
    (state / "moto.port").write_text(f"{port}\n")
    endpoint, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 30
    while not _healthy(endpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(state)
            tail = (state / "moto.log").read_text(errors="replace").splitlines()[-20:]
            raise Fail(f"moto_server did not come up on {endpoint}; {state / 'moto.log'} ends:\n" + "\n".join(tail))
        time.sleep(0.2)
    return endpoint


def _stop(state):
    pid = _moto_pid(state)
    if pid:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 2)):
            try:
                os.killpg(pid, sig)  # started with its own session: group id == pid
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while _moto_pid(state) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not _moto_pid(state):
                break
    for f in ("moto.pid", "moto.port"):
        (state / f).unlink(missing_ok=True)


def _region():
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _configure_and_provision(state, endpoint):
    _http("POST", endpoint + "/moto-api/config", MOTO_CONFIG)
    stack = Stack(_region())
    provision(stack, endpoint)
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": stack.region, "AWS_DEFAULT_REGION": stack.region, "AWS_EC2_METADATA_DISABLED": "true",
           **stack.function_env(), "TRIBUTARY_LANDING_QUEUE_URL": stack.ref(LANDING_QUEUE)}
    (state / "env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    return env


# ------------------------------------------------------------------ subcommands
def up(state):
    with _locked(state):
        endpoint = _running(state)
        if not endpoint:
            _stop(state)  # a stale or unhealthy one
            endpoint = _start(state)
        return _configure_and_provision(state, endpoint)


def down(state):
    with _locked(state):
        _stop(state)


def _require(state):
    endpoint = _running(state)
    if not endpoint:
        raise Fail(f"no moto server running for {state}; use `up` first")
    return endpoint


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
            code = 128 - code if code < 0 else code
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
                child.wait()
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
    elif args.command in ("provision", "reset"):
        with _locked(state):
            endpoint = _require(state)
            if args.command == "reset":
                _http("POST", endpoint + "/moto-api/reset")
            _configure_and_provision(state, endpoint)
    elif args.command == "env":
        if not (state / "env").exists():
            raise Fail(f"{state / 'env'} does not exist; use `up` first")
        sys.stdout.write((state / "env").read_text())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        sys.exit(f"local_aws: {e}")
