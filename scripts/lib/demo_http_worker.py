#!/usr/bin/env python3
"""A worker of `etcdlock demo` written in Python with its standard library only.

It takes the same lock as the Swift workers, but through `etcdlock serve`'s HTTP API, and then
does what they do: "work", write the external resource through the same fencing gate (a file
holding "newest-token accepted-count", locked with flock), increment the etcd counter with a
transaction fenced by the HTTP-issued token (through etcd's JSON gateway), release. It reports
each step on stdout in the Swift workers' line protocol ("holding T", "resource-accepted T",
"ack T", "etcd-rejected T", "error ...", "done N"), so the demo's verdict covers it too.

Usage: demo_http_worker.py --service URL --endpoints URLS --lock NAME --counter KEY
       --resource FILE --increments N [--ttl S] [--work-ms MS]
"""
import argparse
import base64
import fcntl
import json
import math
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def say(line):
    print(line, flush=True)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def post(url, body, timeout):
    """POSTs JSON; returns (status, answer). HTTP errors are answers; a failed connection raises."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Gateway:
    """etcd's v3 JSON gateway over several members: a refused connection moves to the next."""

    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.current = 0

    def call(self, path, body):
        """Returns the answer; raises (ambiguous, error) when no member answered."""
        for _ in range(len(self.endpoints)):
            url = self.endpoints[self.current].rstrip("/") + path
            try:
                status, answer = post(url, body, timeout=3)
                if status == 200:
                    return answer
                error = "status %d" % status
                ambiguous = status >= 500
            except (ConnectionError, urllib.error.URLError, socket.timeout, TimeoutError) as failure:
                error = type(failure).__name__
                # Refused: never sent. Anything else may have reached etcd.
                reason = getattr(failure, "reason", failure)
                ambiguous = not isinstance(reason, ConnectionRefusedError)
            if ambiguous:
                raise RuntimeError((True, error))
            self.current = (self.current + 1) % len(self.endpoints)
        raise RuntimeError((False, "no member answered"))


def write_resource(path, token):
    """The demo's FencingGate, restored from the file: admits tokens not older than the newest."""
    with open(path, "r+") as resource:
        fcntl.flock(resource, fcntl.LOCK_EX)
        fields = resource.read().split()
        newest = int(fields[0]) if fields else 0
        accepted = int(fields[1]) if len(fields) > 1 else 0
        if newest != 0 and token < newest:
            return False
        resource.seek(0)
        resource.truncate()
        resource.write("%d %d\n" % (token, accepted + 1))
        return True


def increment(gateway, counter, key, token):
    """Adds one to the counter in a transaction that lands only while `key` is still the one
    created at `token` (the holder's); returns the report line."""
    try:
        current = gateway.call("/v3/kv/range", {"key": b64(counter)})
    except RuntimeError as failure:
        # A read changes nothing: no increment of unknown outcome.
        return "error %d %s applied=false" % (token, failure.args[0][1].replace(" ", "_"))
    kvs = current.get("kvs", [])
    value = int(base64.b64decode(kvs[0].get("value", "")).decode() or "0") if kvs else 0
    try:
        result = gateway.call("/v3/kv/txn", {
            "compare": [{"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": str(token)}],
            "success": [{"request_put": {"key": b64(counter), "value": b64(str(value + 1))}}],
        })
    except RuntimeError as failure:
        ambiguous, error = failure.args[0]
        return "error %d %s applied=%s" % (token, error.replace(" ", "_"), "true" if ambiguous else "false")
    # A failed compare leaves "succeeded" out of the answer.
    return ("ack %d" if result.get("succeeded") else "etcd-rejected %d") % token


def main():
    options = argparse.ArgumentParser()
    for name in ["--service", "--endpoints", "--lock", "--counter", "--resource", "--increments"]:
        options.add_argument(name, required=True)
    options.add_argument("--ttl", default="2")
    options.add_argument("--work-ms", default="150")
    arguments = options.parse_args()
    service = arguments.service.rstrip("/")
    lock = urllib.parse.quote(arguments.lock, safe="")
    gateway = Gateway(arguments.endpoints.split(","))
    increments = int(arguments.increments)
    ttl = max(1, math.ceil(float(arguments.ttl)))
    acknowledged = 0
    while acknowledged < increments:
        try:
            status, answer = post("%s/v1/locks/%s:acquire" % (service, lock),
                                  {"ttl_seconds": ttl, "wait_seconds": 30, "owner": "python-%d" % os.getpid()}, timeout=40)
        except (ConnectionError, urllib.error.URLError, socket.timeout, TimeoutError) as failure:
            say("error - %s applied=false" % type(failure).__name__)
            time.sleep(0.2)
            continue
        if status != 200:
            # 409 (the wait ended) or 503 (etcd unreachable for a moment): try again.
            say("error - %s applied=false" % answer.get("error", {}).get("code", status))
            time.sleep(0.2)
            continue
        token, lease, key = answer["token"], answer["lease"], answer["key"]
        say("holding %d" % token)
        time.sleep(int(arguments.work_ms) / 1000)  # the work a pause can interrupt
        # Written even if the lock was lost meanwhile: fencing is what must stop a stale holder.
        say("resource-%s %d" % ("accepted" if write_resource(arguments.resource, token) else "rejected", token))
        line = increment(gateway, arguments.counter, key, token)
        acknowledged += line.startswith("ack ")
        say(line)
        try:
            post("%s/v1/locks/%s:release" % (service, lock), {"token": token, "lease": lease}, timeout=10)
        except (ConnectionError, urllib.error.URLError, socket.timeout, TimeoutError):
            pass  # the lease expires within its TTL
    say("done %d" % acknowledged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
