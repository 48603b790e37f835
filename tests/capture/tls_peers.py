"""Both ends of the capture tests' TLS traffic, run as separate processes.

server PORTFILE CERT KEY
    A threaded TLS server on 127.0.0.1 (port written to PORTFILE). Each
    connection carries requests "POST / HTTP/1.1 ... Content-Length: N,
    X-Reply: M" + N bytes; each is answered with "HTTP/1.1 200" + M
    pseudo-random bytes. Runs without the preload. With TLS_PEERS_LOG set,
    appends each request line to that file (tests await an OTLP export).

client PORT SPEC_JSON
    Runs the connections described in SPEC_JSON, one thread each, and prints
    one JSON object: per connection name, the SHA-256 and length of every
    byte written and read. Under the preload this is the program whose I/O
    must be unaffected and whose streams must be captured byte-exactly.
    A spec entry: {"name", "host" (Host header), "sni" (or null), "requests":
    [[body_bytes, reply_bytes], ...], "chunk" (write size), "reset": true
    (the server resets the connection after the last request's body; the
    client records the error it sees)}.
"""
import hashlib
import json
import os
import random
import socket
import ssl
import struct
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tls_listen import tls_listen  # noqa: E402


def _read_head(sock, buf):
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def _header(head, name):
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def _payload(seed, n):
    rnd = random.Random(seed)
    return rnd.randbytes(n)


def _serve_one(conn):
    buf = b""
    try:
        while True:
            head, buf = _read_head(conn, buf)
            if head is None:
                return
            log = os.environ.get("TLS_PEERS_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(head.split("\r\n", 1)[0] + "\n")
            body_len = int(_header(head, "content-length") or 0)
            reply_len = int(_header(head, "x-reply") or 0)
            while len(buf) < body_len:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            body, buf = buf[:body_len], buf[body_len:]
            if _header(head, "x-reset"):
                # Reset instead of answering: SO_LINGER 0 makes close() send RST.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return
            reply = _payload(hashlib.sha256(body).digest(), reply_len)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % reply_len + reply)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def server(portfile, cert, key):
    ctx, lsock = tls_listen(portfile, cert, key, 64)
    while True:
        raw, _ = lsock.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()


def run_connection(port, spec, results, lock):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port))
    sock = ctx.wrap_socket(raw, server_hostname=spec.get("sni"))
    wsha, rsha = hashlib.sha256(), hashlib.sha256()
    wlen = rlen = 0
    chunk = spec.get("chunk", 16384)
    rnd = random.Random(spec["name"])
    buf = b""
    error = None
    for body_len, reply_len in spec["requests"]:
        body = rnd.randbytes(body_len)
        reset = spec.get("reset") and (body_len, reply_len) == tuple(spec["requests"][-1])
        head = ("POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nX-Reply: %d\r\n%s\r\n"
                % (spec["host"], body_len, reply_len, "X-Reset: 1\r\n" if reset else "")).encode()
        # The head goes out in its own write, as HTTP clients do: the hooks
        # classify on the first write.
        out = [head] + [body[i:i + chunk] for i in range(0, body_len, chunk)]
        for piece in out:
            sock.sendall(piece)
            wsha.update(piece)
            wlen += len(piece)
        if reset:
            try:
                while True:
                    data = sock.recv(65536)
                    rsha.update(data)
                    rlen += len(data)
                    if not data:
                        error = "eof"
                        break
            except (OSError, ssl.SSLError) as e:
                error = "%s errno=%s" % (type(e).__name__, e.errno)
            break
        # Read the whole response (head + reply_len bytes).
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            rsha.update(data)
            rlen += len(data)
            buf += data
        head, rest = buf.split(b"\r\n\r\n", 1)
        need = int(_header(head.decode("latin-1"), "content-length"))
        while len(rest) < need:
            data = sock.recv(65536)
            rsha.update(data)
            rlen += len(data)
            rest += data
        buf = rest[need:]
    sock.close()
    with lock:
        results[spec["name"]] = {"write_sha": wsha.hexdigest(), "write_len": wlen,
                                 "read_sha": rsha.hexdigest(), "read_len": rlen}
        if error is not None:
            results[spec["name"]]["error"] = error


def client(port, specs):
    results, lock = {}, threading.Lock()
    threads = [threading.Thread(target=run_connection, args=(port, s, results, lock))
               for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(*sys.argv[2:5])
    elif sys.argv[1] == "client":
        client(int(sys.argv[2]), json.loads(sys.argv[3]))
    else:
        sys.exit("usage: tls_peers.py server|client ...")
