"""A WSGI app for the server tests: answers with the path and the body it got, after half a
second for the path /slow."""

import json
import time


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode()
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.5)
    payload = json.dumps({"path": environ["PATH_INFO"], "body": body}).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
