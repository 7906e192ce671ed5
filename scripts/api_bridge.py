#!/usr/bin/env python3
"""A local stand-in for API Gateway's HTTP API in front of `search-api` served by `cargo lambda watch`.

    api_bridge.py serve --port 8080 --invoke-port 9000      # HTTP on 127.0.0.1:8080
    api_bridge.py token --sub alice --groups analysts,hr    # prints a bearer token

Each HTTP request becomes an API Gateway HTTP API payload 2.0 event (rawPath, rawQueryString,
lower-case headers, body, requestContext.http) and is invoked on the function through the Lambda
invoke API of `cargo lambda watch`; the function's response (statusCode, headers, body,
isBase64Encoded) goes back to the client.

The JWT authorizer's part: a bearer token signed with HS256 by the local secret
(TRIBUTARY_BRIDGE_JWT_SECRET, default "tributary-local"; `token` makes one) is verified
(signature, exp, nbf) and its claims are put in requestContext.authorizer.jwt.claims the way
API Gateway does: every value a string, lists flattened to "[a b]". A request without a valid
token reaches the function with no authorizer context (the function answers 401; real API
Gateway answers such requests itself). Only ever listens on 127.0.0.1; stdlib only.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_ENV = "TRIBUTARY_BRIDGE_JWT_SECRET"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def secret():
    return os.environ.get(SECRET_ENV, "tributary-local").encode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(claims, ttl=3600):
    now = int(time.time())
    body = {"iat": now, "exp": now + ttl, **claims}
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(body).encode())
    sig = hmac.new(secret(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{b64url(sig)}"


def verified_claims(authorization):
    """The claims of a valid HS256 bearer token, flattened as API Gateway does; else None."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    token = authorization[7:].strip()
    try:
        head, payload, sig = token.split(".")
        if json.loads(unb64url(head)).get("alg") != "HS256":
            return None
        want = hmac.new(secret(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, unb64url(sig)):
            return None
        claims = json.loads(unb64url(payload))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    now = time.time()
    if not isinstance(claims, dict) or claims.get("exp", now + 1) <= now or claims.get("nbf", 0) > now:
        return None

    def flat(v):
        if isinstance(v, list):
            return "[" + " ".join(str(x) for x in v) + "]"
        return v if isinstance(v, str) else json.dumps(v)
    return {k: flat(v) for k, v in claims.items()}


class Bridge(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    invoke_url = None
    timeout = 120

    def log_message(self, fmt, *args):  # quiet: one line per request on stderr
        sys.stderr.write("api_bridge: " + (fmt % args) + "\n")

    def _event(self):
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body, b64 = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body, b64 = base64.b64encode(raw).decode(), True
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        now = time.time()
        ctx = {
            "accountId": "123456789012", "apiId": "local", "domainName": "127.0.0.1",
            "domainPrefix": "local", "requestId": str(uuid.uuid4()), "routeKey": "$default",
            "stage": "$default", "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "http": {"method": self.command, "path": parts.path, "protocol": "HTTP/1.1",
                     "sourceIp": self.client_address[0], "userAgent": headers.get("user-agent", "")},
        }
        claims = verified_claims(self.headers.get("Authorization"))
        if claims is not None:
            ctx["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        event = {"version": "2.0", "routeKey": "$default", "rawPath": parts.path,
                 "rawQueryString": parts.query, "headers": headers, "requestContext": ctx,
                 "isBase64Encoded": b64}
        if raw:
            event["body"] = body
        return event

    def _handle(self):
        req = urllib.request.Request(self.invoke_url, data=json.dumps(self._event()).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        try:
            with NO_PROXY.open(req, timeout=self.timeout) as r:
                out = json.loads(r.read())
        except urllib.error.HTTPError as e:  # the function failed: API Gateway answers 500
            detail = e.read()[:500].decode(errors="replace")
            return self._send(502, {"content-type": "application/json"},
                              json.dumps({"message": "Internal Server Error", "lambda": detail}).encode())
        except (urllib.error.URLError, OSError, ValueError) as e:
            return self._send(502, {"content-type": "application/json"},
                              json.dumps({"message": f"invoke failed: {e}"}).encode())
        body = out.get("body") or ""
        data = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
        headers = {k.lower(): v for k, v in (out.get("headers") or {}).items()}
        for k, values in (out.get("multiValueHeaders") or {}).items():
            if values and k.lower() not in headers:
                headers[k.lower()] = ",".join(values)
        self._send(int(out.get("statusCode", 200)), headers, data)

    def _send(self, status, headers, data):
        self.send_response(status)
        for k, v in headers.items():
            if k not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def __getattr__(self, name):
        # Every method goes to the function (it answers 405 for those a route does not take).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--invoke-port", type=int, required=True)
    s.add_argument("--function", default="search-api")
    t = sub.add_parser("token")
    t.add_argument("--sub", required=True)
    t.add_argument("--groups", default="", help="comma-separated")
    t.add_argument("--groups-claim", default="cognito:groups")
    t.add_argument("--ttl", type=int, default=3600)
    a = ap.parse_args(argv)
    if a.cmd == "token":
        claims = {"sub": a.sub, "username": a.sub}
        groups = [g for g in a.groups.split(",") if g]
        if groups:
            claims[a.groups_claim] = groups
        print(make_token(claims, a.ttl))
        return 0
    Bridge.invoke_url = f"http://127.0.0.1:{a.invoke_port}/2015-03-31/functions/{a.function}/invocations"
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Bridge)
    print(f"api_bridge: http://127.0.0.1:{a.port} -> {Bridge.invoke_url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
