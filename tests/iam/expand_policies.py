#!/usr/bin/env python3
"""Expands every function's IAM role policies from template.yaml, offline, for the IAM test.

    expand_policies.py [--region R] > policies.json

The SAM transform is run with the `aws-sam-translator` package (SAM policy templates, event
source permissions and managed policies included, exactly as `sam deploy` would); the generated
roles' inline policies are then resolved with scripts/local_aws.py's resolver (the parameters'
defaults, moto's account, the region), so the names in them are the emulated resources' names.

Output: {"functions": {<binary>: {"logical", "role", "policies": [{"name", "policy"}],
"managed": [arn...]}}, "bucket_policies": {<bucket name>: policy}}. `<binary>` is the
function's `BuildProperties.Binary`, the name the call recorder writes.
"""
import argparse, copy, json, os, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import local_aws  # noqa: E402  (resolver and CloudFormation YAML loader)

from samtranslator.translator.transform import transform  # noqa: E402


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs by name; offline there are none."""

    def load(self):
        return {}


class Resolver(local_aws.Stack):
    """local_aws's resolver, knowing the ARNs of the resource types a role policy names."""

    ARNS = {
        "AWS::Kinesis::Stream": ("Name", "arn:aws:kinesis:{region}:{account}:stream/{}"),
        "AWS::Lambda::Function": ("FunctionName", "arn:aws:lambda:{region}:{account}:function:{}"),
        "AWS::SNS::Topic": ("TopicName", "arn:aws:sns:{region}:{account}:{}"),
        "AWS::KinesisFirehose::DeliveryStream": (
            "DeliveryStreamName", "arn:aws:firehose:{region}:{account}:deliverystream/{}"),
        "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:{account}:log-group:{}"),
    }

    def getatt(self, logical, attr):
        resource = self.resources.get(logical, {})
        rtype = resource.get("Type")
        if attr == "Arn" and rtype == "AWS::KMS::Key":
            return f"arn:aws:kms:{self.region}:{local_aws.ACCOUNT}:key/{logical}"
        if attr == "Arn" and rtype == "AWS::IAM::Role":
            return f"arn:aws:iam::{local_aws.ACCOUNT}:role/{logical}"
        if attr == "Arn" and rtype in self.ARNS:
            prop, pattern = self.ARNS[rtype]
            name = local_aws._text(self.resolve(resource.get("Properties", {}).get(prop, logical)))
            return pattern.format(name, region=self.region, account=local_aws.ACCOUNT)
        return super().getatt(logical, attr)

    def ref(self, name):
        rtype = self.resources.get(name, {}).get("Type")
        if rtype == "AWS::KMS::Key":
            return name
        if rtype in self.ARNS:
            prop, _ = self.ARNS[rtype]
            return local_aws._text(self.resolve(self.resources[name].get("Properties", {}).get(prop, name)))
        return super().ref(name)


def sam_translate(template, region):
    os.environ["AWS_DEFAULT_REGION"] = region  # the translator's pseudo parameters, offline
    t = copy.deepcopy(template)
    for r in t["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = "s3://bucket/code.zip"
        if r["Type"] == "AWS::Serverless::StateMachine":
            r["Properties"].pop("Definition", None)
            r["Properties"]["DefinitionUri"] = "s3://bucket/definition.json"
    return transform(t, {}, _NoManagedPolicies())


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region")
    args = ap.parse_args(argv)
    stack = Resolver(region=args.region)
    source = stack.t
    cfn = sam_translate(source, stack.region)
    stack.resources = cfn["Resources"]
    out = {"functions": {}, "bucket_policies": {}}
    for logical, r in source["Resources"].items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        binary = r.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical)
        role_id = r["Properties"].get("Role")
        if role_id is not None:
            sys.exit(f"{logical}: an explicit Role is not expanded by this script")
        role = cfn["Resources"][f"{logical}Role"]["Properties"]
        policies = [{"name": p["PolicyName"], "policy": stack.resolve(p["PolicyDocument"])}
                    for p in role.get("Policies", [])]
        out["functions"][binary] = {
            "logical": logical,
            "role": f"arn:aws:iam::{local_aws.ACCOUNT}:role/{logical}Role",
            "policies": policies,
            "managed": [local_aws._text(stack.resolve(m)) for m in role.get("ManagedPolicyArns", [])],
        }
    for _, p in stack.of_type("AWS::S3::BucketPolicy"):
        out["bucket_policies"][local_aws._text(stack.resolve(p["Bucket"]))] = stack.resolve(p["PolicyDocument"])
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except local_aws.Fail as e:
        sys.exit(f"expand_policies: {e}")
