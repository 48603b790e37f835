#!/usr/bin/python3
"""Stand-in OTLP/HTTP receiver used only until scripts/otlp_receiver.py lands:
accepts POST /v1/metrics and /v1/traces, stores each body undecoded as
OUT/metrics-NNNN.bin / traces-NNNN.bin, answers 200 with an empty protobuf."""

import argparse
import gzip
import itertools
import os

from aiohttp import web


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    counter = itertools.count()

    async def store(request):
        kind = request.path.rsplit("/", 1)[-1]
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with open(os.path.join(args.out, f"{kind}-{next(counter):04d}.bin"), "wb") as f:
            f.write(body)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/{kind}", store)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
