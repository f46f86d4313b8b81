"""Counts what a fuzz run sent, from the HAR files schemathesis wrote.

    python summarize.py MIN_REQUESTS NAME=FILE.har [NAME=FILE.har ...]

Prints the requests made per part and in total, and the number answered
with a 5xx; each 5xx is printed in full (request and answer) so that it can
be reproduced. Exits 1 when any answer was a 5xx or fewer than MIN_REQUESTS
requests were made.
"""

import json
import sys


def entries(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["log"]["entries"]


def show(entry):
    request, response = entry["request"], entry["response"]
    lines = [f"  {request['method']} {request['url']}"]
    for header in request.get("headers", []):
        lines.append(f"    {header['name']}: {header['value']}")
    body = (request.get("postData") or {}).get("text")
    if body:
        lines.append(f"    body: {body[:2000]}")
    text = (response.get("content") or {}).get("text") or ""
    lines.append(f"  -> {response['status']} {text[:2000]}")
    return "\n".join(lines)


def main(argv):
    minimum = int(argv[1])
    total = 0
    failures = []
    for part in argv[2:]:
        name, path = part.split("=", 1)
        made = entries(path)
        errors = [e for e in made if e["response"]["status"] >= 500]
        print(f"fuzz {name}: {len(made)} requests, {len(errors)} answered 5xx")
        total += len(made)
        failures += errors
    print(f"fuzz: {total} requests in all, {len(failures)} answered 5xx")
    for entry in failures:
        print(show(entry))
    ok = True
    if failures:
        print(f"fuzz: FAILED, {len(failures)} server errors", file=sys.stderr)
        ok = False
    if total < minimum:
        print(f"fuzz: FAILED, only {total} requests (at least {minimum} wanted)", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
