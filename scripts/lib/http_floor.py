"""The baseline for scripts/bench: the same gateway requests etcdlock sends, from Python's
standard http.client over one keep-alive connection, so the two clients are compared against the
same etcd in the same run. Prints one JSON object per operation, like `etcdlock bench client`."""
import base64
import http.client
import json
import resource
import sys
import time
from urllib.parse import urlparse


def b64(text):
    return base64.b64encode(text.encode()).decode()


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    endpoint, requests, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    url = urlparse(endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"Content-Type": "application/json", "Grpc-Metadata-hasleader": "true"}

    def post(path, body):
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}: {data[:200]!r}")
        return data

    k = b64(key)
    post("/v3/kv/put", json.dumps({"key": k, "value": b64("x")}))
    bodies = {
        "range": json.dumps({"key": k}),
        "txn": json.dumps({
            "compare": [{"result": "GREATER", "target": "VERSION", "key": k, "version": "0"}],
            "success": [{"request_range": {"key": k}}],
            "failure": [{"request_put": {"key": k, "value": b64("x")}}],
        }),
    }
    paths = {"range": "/v3/kv/range", "txn": "/v3/kv/txn"}
    for _ in range(100):
        post(paths["range"], bodies["range"])
    for op in ("range", "txn"):
        samples = []
        cpu_before = cpu_seconds()
        for _ in range(requests):
            start = time.perf_counter()
            post(paths[op], bodies[op])
            samples.append(time.perf_counter() - start)
        cpu = cpu_seconds() - cpu_before
        samples.sort()
        print(json.dumps({
            "client": "python-http.client", "op": op, "requests": requests,
            "p50_ms": samples[len(samples) // 2] * 1000,
            "p99_ms": samples[min(len(samples) - 1, len(samples) * 99 // 100)] * 1000,
            "cpu_us_per_request": cpu * 1e6 / requests,
        }), flush=True)


if __name__ == "__main__":
    main()
