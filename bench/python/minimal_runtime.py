"""A minimal pure-Python Lambda Runtime API loop (stdlib only).

    python minimal_runtime.py MODULE.FUNCTION

What it does, like Lambda's Python bootstrap (awslambdaric) but without its
native HTTP client, logging setup and hooks: import the handler (POST
/init/error on failure), then forever GET /invocation/next, json.loads the
event, build a context, call the handler, json.dumps the result and POST it
to /invocation/{id}/response (or /invocation/{id}/error on an exception).
"""
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, trace_id):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def error_body(exc):
    return json.dumps({
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }).encode()


def main():
    host, port = API.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port))
    try:
        module_name, func_name = sys.argv[1].rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:  # noqa: BLE001 - reported to Lambda
        conn.request("POST", PREFIX + "/init/error", body=error_body(exc),
                     headers={"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})
        conn.getresponse().read()
        sys.exit(1)

    while True:
        conn.request("GET", PREFIX + "/invocation/next")
        r = conn.getresponse()
        body = r.read()
        rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
        ctx = LambdaContext(rid, int(r.getheader("Lambda-Runtime-Deadline-Ms", "0")),
                            r.getheader("Lambda-Runtime-Invoked-Function-Arn"),
                            r.getheader("Lambda-Runtime-Trace-Id"))
        try:
            result = handler(json.loads(body), ctx)
            out, kind, headers = json.dumps(result).encode(), "response", {}
        except Exception as exc:  # noqa: BLE001 - reported to Lambda
            out, kind = error_body(exc), "error"
            headers = {"Lambda-Runtime-Function-Error-Type": "Unhandled"}
        headers["Content-Type"] = "application/json"
        conn.request("POST", f"{PREFIX}/invocation/{rid}/{kind}", body=out, headers=headers)
        conn.getresponse().read()


if __name__ == "__main__":
    main()
