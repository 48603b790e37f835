#!/usr/bin/python3
"""A small OTLP/HTTP protobuf receiver for Argus' tests and demo.

Usage:
    otlp_receiver.py --port 4318 [--host 127.0.0.1] --out DIR
                     [--mode ok|fail503then200|fail400then200|flap400|hang|reject400|throttle429|fail500]
                     [--mode-file FILE] [--discard-traces] [--no-bin]
                     [--tls-cert CERT.pem --tls-key KEY.pem]

Accepts POST /v1/metrics and POST /v1/traces (bodies may be gzip'd, with
Content-Encoding: gzip). For each request it writes, numbered per signal:
    DIR/metrics-0001.bin   the raw (decompressed) protobuf body
    DIR/metrics-0001.json  the body decoded: resource attributes, scope, and
                           every metric with its points (attributes, start and
                           time, value or histogram fields)
    DIR/traces-0001.{bin,json}  likewise, spans with attributes, events, parent
and appends one line per request to DIR/requests.log
("<signal> <n> <status> <content-encoding> <user-agent>").

Modes:
    ok               answer 200 with an empty Export*ServiceResponse
    fail503then200   answer 503 (Retry-After: 1) to the first request of each
                     signal, then behave as ok
    fail400then200   answer 400 to the first request of each signal (a batch the
                     exporter must drop, not retry), then behave as ok
    flap400          answer 400 to the odd-numbered requests of each signal and
                     200 to the even ones: an outage, a recovery, again
    hang             accept the connection, read the request, never answer
    reject400        answer 400 with a google.rpc.Status body
    throttle429      answer every request 429 with Retry-After: 3600 (a collector
                     shedding load for an hour)
    fail500          answer 500 to every request (a collector in trouble)

--mode-file FILE switches modes at run time (scripts/soak): when FILE exists,
its first word is the mode for each new request. A request held by "hang"
is dropped without an answer (connection closed) once the mode is no longer
"hang", as a collector that was restarted would drop it.
--discard-traces answers 200 to /v1/traces without decoding or storing it;
--no-bin stores only the decoded .json, not the raw .bin (long runs).

Why a hand-written decoder rather than python3-protobuf with generated
classes: the decoder below names each field by its number from the official
opentelemetry-proto definitions, written out independently of export/proto/.
If Argus' .proto files had a wrong field number, the values would land under
the wrong names (or under "unknown_<n>") here and the tests would fail, while
classes generated from Argus' own .proto would agree with it by construction.

Every string field is decoded as strict UTF-8; a request holding one invalid
sequence is answered 400, as an OpenTelemetry Collector answers it.

The process writes "listening <port>" on stdout once it accepts connections,
and exits on SIGTERM or SIGINT.
"""

import argparse
import gzip
import json
import os
import signal
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ---- protobuf wire format ---------------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def read_varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Yields (field_number, wire_type, value) for each field of a message."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError("field number 0")
        if wt == VARINT:
            v, i = read_varint(buf, i)
        elif wt == I64:
            v = buf[i:i + 8]
            if len(v) != 8:
                raise ValueError("truncated fixed64")
            i += 8
        elif wt == LEN:
            n, i = read_varint(buf, i)
            v = buf[i:i + n]
            if len(v) != n:
                raise ValueError("truncated bytes")
            i += n
        elif wt == I32:
            v = buf[i:i + 4]
            if len(v) != 4:
                raise ValueError("truncated fixed32")
            i += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        yield num, wt, v


def int64(v):
    return v - (1 << 64) if v >= (1 << 63) else v


# Scalar decoders by proto type, checking the wire type each implies.
def _scalar(kind, wt, v):
    if kind == "string":
        assert wt == LEN, "string with wire type %d" % wt
        # Strict, as protobuf requires of `string` and as a collector is:
        # an invalid byte, overlong form or surrogate raises, and the whole
        # request is answered 400 (issue 14).
        return v.decode("utf-8", errors="strict")
    if kind == "bytes":
        assert wt == LEN
        return v.hex()
    if kind in ("uint32", "uint64", "enum", "bool", "int64", "int32"):
        assert wt == VARINT, "%s with wire type %d" % (kind, wt)
        if kind == "bool":
            return bool(v)
        if kind in ("int64", "int32"):
            return int64(v)
        return v
    if kind == "fixed64":
        assert wt == I64
        return struct.unpack("<Q", v)[0]
    if kind == "sfixed64":
        assert wt == I64
        return struct.unpack("<q", v)[0]
    if kind == "double":
        assert wt == I64
        return struct.unpack("<d", v)[0]
    if kind == "fixed32":
        assert wt == I32
        return struct.unpack("<I", v)[0]
    raise ValueError(kind)


def _packed(kind, wt, v):
    """A repeated scalar: packed (LEN) or one element per field."""
    if wt != LEN:
        return [_scalar(kind, wt, v)]
    size, fmt = {"fixed64": (8, "<Q"), "double": (8, "<d")}[kind]
    if len(v) % size:
        raise ValueError("packed %s of %d bytes" % (kind, len(v)))
    return [struct.unpack(fmt, v[k:k + size])[0] for k in range(0, len(v), size)]


# The schema: message -> {field number: (name, type, repeated)}. Field
# numbers from opentelemetry-proto (common, resource, metrics, trace,
# collector/*), written out here on purpose; see the module docstring.
SCHEMA = {
    "ExportMetricsServiceRequest": {1: ("resource_metrics", "ResourceMetrics", True)},
    "ExportTraceServiceRequest": {1: ("resource_spans", "ResourceSpans", True)},
    "ResourceMetrics": {1: ("resource", "Resource", False),
                        2: ("scope_metrics", "ScopeMetrics", True),
                        3: ("schema_url", "string", False)},
    "ScopeMetrics": {1: ("scope", "InstrumentationScope", False),
                     2: ("metrics", "Metric", True),
                     3: ("schema_url", "string", False)},
    "Resource": {1: ("attributes", "KeyValue", True),
                 2: ("dropped_attributes_count", "uint32", False)},
    "InstrumentationScope": {1: ("name", "string", False), 2: ("version", "string", False),
                             3: ("attributes", "KeyValue", True),
                             4: ("dropped_attributes_count", "uint32", False)},
    "KeyValue": {1: ("key", "string", False), 2: ("value", "AnyValue", False)},
    "AnyValue": {1: ("string_value", "string", False), 2: ("bool_value", "bool", False),
                 3: ("int_value", "int64", False), 4: ("double_value", "double", False),
                 5: ("array_value", "ArrayValue", False),
                 6: ("kvlist_value", "KeyValueList", False),
                 7: ("bytes_value", "bytes", False)},
    "ArrayValue": {1: ("values", "AnyValue", True)},
    "KeyValueList": {1: ("values", "KeyValue", True)},
    "Metric": {1: ("name", "string", False), 2: ("description", "string", False),
               3: ("unit", "string", False), 5: ("gauge", "Gauge", False),
               7: ("sum", "Sum", False), 9: ("histogram", "Histogram", False),
               10: ("exponential_histogram", "bytes", False), 11: ("summary", "bytes", False),
               12: ("metadata", "KeyValue", True)},
    "Gauge": {1: ("data_points", "NumberDataPoint", True)},
    "Sum": {1: ("data_points", "NumberDataPoint", True),
            2: ("aggregation_temporality", "enum", False),
            3: ("is_monotonic", "bool", False)},
    "Histogram": {1: ("data_points", "HistogramDataPoint", True),
                  2: ("aggregation_temporality", "enum", False)},
    "NumberDataPoint": {7: ("attributes", "KeyValue", True),
                        2: ("start_time_unix_nano", "fixed64", False),
                        3: ("time_unix_nano", "fixed64", False),
                        4: ("as_double", "double", False), 6: ("as_int", "sfixed64", False),
                        5: ("exemplars", "bytes", True), 8: ("flags", "uint32", False)},
    "HistogramDataPoint": {9: ("attributes", "KeyValue", True),
                           2: ("start_time_unix_nano", "fixed64", False),
                           3: ("time_unix_nano", "fixed64", False),
                           4: ("count", "fixed64", False), 5: ("sum", "double", False),
                           6: ("bucket_counts", "packed:fixed64", False),
                           7: ("explicit_bounds", "packed:double", False),
                           8: ("exemplars", "bytes", True), 10: ("flags", "uint32", False),
                           11: ("min", "double", False), 12: ("max", "double", False)},
    "ResourceSpans": {1: ("resource", "Resource", False),
                      2: ("scope_spans", "ScopeSpans", True),
                      3: ("schema_url", "string", False)},
    "ScopeSpans": {1: ("scope", "InstrumentationScope", False), 2: ("spans", "Span", True),
                   3: ("schema_url", "string", False)},
    "Span": {1: ("trace_id", "bytes", False), 2: ("span_id", "bytes", False),
             3: ("trace_state", "string", False), 4: ("parent_span_id", "bytes", False),
             16: ("flags", "fixed32", False), 5: ("name", "string", False),
             6: ("kind", "enum", False), 7: ("start_time_unix_nano", "fixed64", False),
             8: ("end_time_unix_nano", "fixed64", False),
             9: ("attributes", "KeyValue", True),
             10: ("dropped_attributes_count", "uint32", False),
             11: ("events", "Event", True), 12: ("dropped_events_count", "uint32", False),
             13: ("links", "bytes", True), 14: ("dropped_links_count", "uint32", False),
             15: ("status", "Status", False)},
    "Event": {1: ("time_unix_nano", "fixed64", False), 2: ("name", "string", False),
              3: ("attributes", "KeyValue", True),
              4: ("dropped_attributes_count", "uint32", False)},
    "Status": {2: ("message", "string", False), 3: ("code", "enum", False)},
}


def decode(msg_type, buf):
    """Decodes buf as msg_type into a dict; unknown fields become unknown_<n>."""
    out = {}
    schema = SCHEMA[msg_type]
    for num, wt, v in fields(buf):
        if num not in schema:
            out.setdefault("unknown_%d" % num, []).append(wt)
            continue
        name, kind, repeated = schema[num]
        if kind.startswith("packed:"):
            out.setdefault(name, []).extend(_packed(kind[7:], wt, v))
            continue
        if kind in SCHEMA:
            if wt != LEN:
                raise ValueError("%s.%s: message with wire type %d" % (msg_type, name, wt))
            val = decode(kind, v)
        elif kind == "bytes" and repeated:
            val = v.hex()
        else:
            val = _scalar(kind, wt, v)
        if repeated:
            out.setdefault(name, []).append(val)
        else:
            out[name] = val
    return out


# ---- friendlier JSON -----------------------------------------------------------

def any_value(v):
    for k in ("string_value", "bool_value", "int_value", "double_value", "bytes_value"):
        if k in v:
            return v[k]
    if "array_value" in v:
        return [any_value(x) for x in v["array_value"].get("values", [])]
    if "kvlist_value" in v:
        return attrs(v["kvlist_value"].get("values", []))
    return None


def attrs(kvs):
    return {kv.get("key", ""): any_value(kv.get("value", {})) for kv in kvs}


def simplify_point(p):
    q = dict(p)
    q["attributes"] = attrs(p.get("attributes", []))
    return q


def simplify_metrics(req):
    out = {"resource_metrics": []}
    for rm in req.get("resource_metrics", []):
        r = {"resource": attrs(rm.get("resource", {}).get("attributes", [])), "scopes": []}
        for sm in rm.get("scope_metrics", []):
            s = {"scope": sm.get("scope", {}), "metrics": []}
            for m in sm.get("metrics", []):
                mm = {"name": m.get("name", ""), "description": m.get("description", ""),
                      "unit": m.get("unit", "")}
                for kind in ("gauge", "sum", "histogram"):
                    if kind in m:
                        mm["kind"] = kind
                        body = m[kind]
                        mm["aggregation_temporality"] = body.get("aggregation_temporality")
                        mm["is_monotonic"] = body.get("is_monotonic", False)
                        mm["points"] = [simplify_point(p) for p in body.get("data_points", [])]
                for k in m:
                    if k.startswith("unknown_"):
                        mm[k] = m[k]
                s["metrics"].append(mm)
            r["scopes"].append(s)
        out["resource_metrics"].append(r)
    return out


def simplify_traces(req):
    out = {"resource_spans": []}
    for rs in req.get("resource_spans", []):
        r = {"resource": attrs(rs.get("resource", {}).get("attributes", [])), "scopes": []}
        for ss in rs.get("scope_spans", []):
            s = {"scope": ss.get("scope", {}), "spans": []}
            for sp in ss.get("spans", []):
                q = dict(sp)
                q["attributes"] = attrs(sp.get("attributes", []))
                q["events"] = [dict(e, attributes=attrs(e.get("attributes", [])))
                               for e in sp.get("events", [])]
                s["spans"].append(q)
            r["scopes"].append(s)
        out["resource_spans"].append(r)
    return out


# ---- HTTP -------------------------------------------------------------------------

def encode_status(code, message):
    """google.rpc.Status {int32 code = 1; string message = 2}."""
    m = message.encode()
    return bytes([0x08, code]) + bytes([0x12, len(m)]) + m


class State:
    def __init__(self, out, mode, mode_file=None, discard_traces=False, keep_bin=True):
        self.out = out
        self.default_mode = mode
        self.mode_file = mode_file
        self.discard_traces = discard_traces
        self.keep_bin = keep_bin
        self.lock = threading.Lock()
        self.counts = {"metrics": 0, "traces": 0}
        self.seen = {"metrics": 0, "traces": 0}

    @property
    def mode(self):
        if self.mode_file:
            try:
                with open(self.mode_file) as f:
                    words = f.read().split()
                if words:
                    return words[0]
            except OSError:
                pass
        return self.default_mode


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def _reply(self, code, body=b"", headers=()):
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The exporter cut the request (shutdown budget); the body was
            # already stored.
            self.close_connection = True

    def do_POST(self):
        st = self.state
        signal_name = {"/v1/metrics": "metrics", "/v1/traces": "traces"}.get(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if signal_name is None:
            self._reply(404, encode_status(5, "unknown path"))
            return
        mode = st.mode
        if mode == "hang":
            held_until = time.time() + 3600
            while st.mode == "hang" and time.time() < held_until:
                time.sleep(0.1)
            self._log(signal_name, 0, 0)
            self.close_connection = True
            return
        if mode == "fail500":
            self._reply(500, encode_status(13, "internal error (test receiver)"))
            self._log(signal_name, 0, 500)
            return
        if signal_name == "traces" and st.discard_traces:
            self._reply(200, b"")
            self._log(signal_name, 0, 200)
            return
        with st.lock:
            st.seen[signal_name] += 1
            nth = st.seen[signal_name]
            first = nth == 1
        if mode == "fail503then200" and first:
            self._reply(503, encode_status(14, "try again"), [("Retry-After", "1")])
            self._log(signal_name, 0, 503)
            return
        if mode == "fail400then200" and first:
            self._reply(400, encode_status(3, "rejected once by test receiver"))
            self._log(signal_name, 0, 400)
            return
        if mode == "flap400" and nth % 2 == 1:
            self._reply(400, encode_status(3, "rejected (odd request) by test receiver"))
            self._log(signal_name, 0, 400)
            return
        if mode == "throttle429":
            self._reply(429, encode_status(8, "throttled by test receiver"),
                        [("Retry-After", "3600")])
            self._log(signal_name, 0, 429)
            return
        if mode == "reject400":
            self._reply(400, encode_status(3, "rejected by test receiver"))
            self._log(signal_name, 0, 400)
            return
        enc = self.headers.get("Content-Encoding", "")
        try:
            raw = gzip.decompress(body) if enc == "gzip" else body
            if signal_name == "metrics":
                decoded = simplify_metrics(decode("ExportMetricsServiceRequest", raw))
            else:
                decoded = simplify_traces(decode("ExportTraceServiceRequest", raw))
        except Exception as exc:  # a malformed body is what the tests look for
            self._reply(400, encode_status(3, "cannot decode: %s" % exc))
            self._log(signal_name, 0, 400)
            return
        with st.lock:
            st.counts[signal_name] += 1
            n = st.counts[signal_name]
        base = os.path.join(st.out, "%s-%04d" % (signal_name, n))
        if st.keep_bin:
            with open(base + ".bin", "wb") as f:
                f.write(raw)
        decoded["content_type"] = self.headers.get("Content-Type", "")
        decoded["content_encoding"] = enc
        decoded["user_agent"] = self.headers.get("User-Agent", "")
        decoded["received_unix_ns"] = time.time_ns()
        with open(base + ".json.tmp", "w") as f:
            json.dump(decoded, f, indent=1, sort_keys=True)
        os.rename(base + ".json.tmp", base + ".json")
        self._reply(200, b"")
        self._log(signal_name, n, 200)

    def _log(self, signal_name, n, status):
        with self.state.lock, open(os.path.join(self.state.out, "requests.log"), "a") as f:
            f.write("%s %d %d %s %s\n" % (signal_name, n, status,
                                          self.headers.get("Content-Encoding", "-") or "-",
                                          self.headers.get("User-Agent", "-")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=4318)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", default="ok", choices=["ok", "fail503then200", "fail400then200", "flap400",
                                              "hang", "reject400", "throttle429", "fail500"])
    ap.add_argument("--mode-file", help="a file whose first word, when it exists, is the mode")
    ap.add_argument("--discard-traces", action="store_true")
    ap.add_argument("--no-bin", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    Handler.state = State(args.out, args.mode, args.mode_file, args.discard_traces,
                          not args.no_bin)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
