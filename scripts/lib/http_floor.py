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
    lock_cycles(post, key, requests)
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


def lock_cycles(post, key, requests):
    """The floor of a lock cycle: the acquire txn etcdlock sends (create a leased key if absent,
    read the queue head) and the release txn (delete it if it is still the one created)."""
    lease = json.loads(post("/v3/lease/grant", json.dumps({"TTL": "60"})))["ID"]
    prefix = key + "/queue/"
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    acquire, release, cycle = [], [], []
    for index in range(requests):
        k = b64(prefix + "%016x" % index)
        head = {"key": b64(prefix), "range_end": b64(end), "limit": "1", "sort_order": "ASCEND", "sort_target": "CREATE"}
        body = json.dumps({
            "compare": [{"result": "EQUAL", "target": "CREATE", "key": k, "create_revision": "0"}],
            "success": [{"request_put": {"key": k, "value": b64("owner"), "lease": lease}}, {"request_range": head}],
            "failure": [{"request_range": {"key": k}}, {"request_range": head}],
        })
        start = time.perf_counter()
        answer = post("/v3/kv/txn", body)
        middle = time.perf_counter()
        revision = json.loads(answer)["header"]["revision"]
        release_body = json.dumps({
            "compare": [{"result": "EQUAL", "target": "CREATE", "key": k, "create_revision": revision}],
            "success": [{"request_delete_range": {"key": k}}],
        })
        middle2 = time.perf_counter()
        post("/v3/kv/txn", release_body)
        end_time = time.perf_counter()
        acquire.append(middle - start)
        release.append(end_time - middle2)
        cycle.append((middle - start) + (end_time - middle2))
    post("/v3/lease/revoke", json.dumps({"ID": lease}))
    for op, samples in (("acquire_txn", acquire), ("release_txn", release), ("acquire_release", cycle)):
        samples.sort()
        print(json.dumps({
            "client": "python-http.client", "op": op, "requests": requests,
            "p50_ms": samples[len(samples) // 2] * 1000,
            "p99_ms": samples[min(len(samples) - 1, len(samples) * 99 // 100)] * 1000,
            "cpu_us_per_request": 0,
        }), flush=True)


if __name__ == "__main__":
    main()
