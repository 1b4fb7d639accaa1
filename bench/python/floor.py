"""The Python floor: a Runtime API loop that answers every event with
{"batchItemFailures":[]} without parsing it (stdlib http.client, one
keep-alive connection). Shows what Python's loop alone costs."""
import http.client
import os

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"
ANSWER = b'{"batchItemFailures":[]}'


def main():
    host, port = API.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    while True:
        conn.request("GET", PREFIX + "/invocation/next")
        r = conn.getresponse()
        r.read()
        rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
        conn.request("POST", f"{PREFIX}/invocation/{rid}/response", body=ANSWER,
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()


if __name__ == "__main__":
    main()
