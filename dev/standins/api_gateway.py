"""A local stand-in for the stack's HTTP API: checks each request's SigV4 signature with
botocore (independently of emr-flows and of the Rust signer), then invokes the function its
route names with the API Gateway HTTP API event (payload format 2.0) API Gateway would send,
and answers the function's HTTP response.

Routes are read from template.yaml's `HttpApi` events, so the stand-in cannot drift from the
stack. A request without a valid signature for `execute-api` in --region, made with the
credentials AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of this process, is answered 403 as API
Gateway answers it (`{"message": ...}`); an unknown route 404; a function error 500.

Usage: python dev/standins/api_gateway.py --port 9052 --lambda-url http://127.0.0.1:9050 [--region us-east-1]
"""

import argparse
import json
import os
import re
import sys
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import boto3
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<headers>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
# template.yaml's function resources by the folder (and cargo lambda's function name) they build.
FUNCTIONS = {"SubmitFunction": "submit", "ListFunction": "list", "TerminateFunction": "terminate"}


def routes(template_path):
    """[(method, path template, regex, function)] from the template's HttpApi events."""

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub, …) as plain values: only the routes matter here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(template_path) as f:
        template = yaml.load(f, Loader=Loader)
    found = []
    for name, resource in template["Resources"].items():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi" or name not in FUNCTIONS:
                continue
            method, path = event["Properties"]["Method"].upper(), event["Properties"]["Path"]
            pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
            found.append((method, path, re.compile(pattern), FUNCTIONS[name]))
    return found


def signature_problem(method, url, headers, body, region):
    """None when the request is signed right for execute-api in `region`; else what is wrong."""
    match = AUTHORIZATION.match(headers.get("authorization", ""))
    if not match:
        return "Missing Authentication Token"
    if match["key"] != os.environ["AWS_ACCESS_KEY_ID"]:
        return "The security token included in the request is invalid."
    if (match["region"], match["service"]) != (region, "execute-api"):
        return f"Credential should be scoped to a valid region and service ({region}, execute-api)"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(match["date"]):
        return "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"
    signed = match["headers"].split(";")
    if "host" not in signed:
        return "'Host' must be a 'SignedHeader' in the AWS Authorization."
    request = AWSRequest(method=method, url=url, data=body, headers={h: headers[h] for h in signed if h in headers})
    request.context["timestamp"] = amz_date
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                              headers.get("x-amz-security-token"))
    auth = SigV4Auth(credentials, "execute-api", region)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if expected != match["signature"]:
        return "The request signature we calculated does not match the signature you provided."
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-url", required=True, help="the functions (cargo lambda watch)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--template", default=os.path.join(os.path.dirname(__file__), "..", "..", "template.yaml"))
    args = parser.parse_args()
    table = routes(args.template)
    lam = boto3.client("lambda", endpoint_url=args.lambda_url, region_name=args.region,
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=Config(retries={"max_attempts": 1}, read_timeout=300))

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, document, headers=()):
            body = document.encode() if isinstance(document, str) else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            url = f"http://{headers.get('host', '')}{self.path}"
            split = urlsplit(self.path)
            for method, path, pattern, function in table:
                matched = pattern.match(split.path)
                if method == self.command and matched:
                    break
            else:
                return self.answer(404, {"message": "Not Found"})
            problem = signature_problem(self.command, url, headers, body, args.region)
            if problem:
                print(f"403 {self.command} {self.path}: {problem}", flush=True)
                return self.answer(403, {"message": problem})
            now = datetime.now(timezone.utc)
            route_key = f"{method} {path}"
            event = {
                "version": "2.0", "routeKey": route_key, "rawPath": split.path, "rawQueryString": split.query,
                "headers": headers, "isBase64Encoded": False,
                "requestContext": {
                    "accountId": "123456789012", "apiId": "local", "domainName": headers.get("host", ""),
                    "http": {"method": self.command, "path": split.path, "protocol": "HTTP/1.1",
                             "sourceIp": self.client_address[0], "userAgent": headers.get("user-agent", "")},
                    "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
                    "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
                },
            }
            if split.query:
                event["queryStringParameters"] = dict(parse_qsl(split.query))
            if matched.groupdict():
                event["pathParameters"] = matched.groupdict()
            if body:
                event["body"] = body.decode()
            try:
                result = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode())
                response = json.loads(result["Payload"].read())
                failed = result.get("FunctionError")
            except lam.exceptions.ClientError as e:  # cargo lambda watch: a function error is a 500
                response, failed = str(e), True
            if failed:
                print(f"500 {self.command} {self.path}: {response}", flush=True)
                return self.answer(500, {"message": "Internal Server Error"})
            print(f"{response['statusCode']} {self.command} {self.path}", flush=True)
            return self.answer(response["statusCode"], response.get("body") or "",
                               [(k, v) for k, v in (response.get("headers") or {}).items() if k.lower() != "content-type"])

        do_GET = do_POST = handle_any

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"API stand-in on http://127.0.0.1:{args.port} -> {args.lambda_url} ({len(table)} routes)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
