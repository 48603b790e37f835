"""Both ends of the hostile suite's TLS traffic (issue 14), run as separate processes.

server PORTFILE CERT KEY
    A TLS server on 127.0.0.1 (port written to PORTFILE), run without the
    preload, playing a hostile Discord. The request path names the attack;
    the server answers it, then closes the connection. Every answer is the
    same bytes on every run, so a client's digest can be compared across runs.

client PORT CASE
    The program under test: connects with SNI gateway.discord.gg (REST cases:
    discord.com), so Argus treats the connection as Discord's, sends CASE's
    request, reads every byte until the server closes, and prints one JSON
    line: {"sha256", "len", "end"}. It then waits for a line on stdin before
    it exits, so the test can read its peak RSS after Argus has decoded.

Cases (what the server sends after the 101, or instead of it):
    bomb     zlib-stream: one binary message inflating to BOMB_BYTES of zeros
             (a compression bomb), then a small valid dispatch HOSTILE_AFTER
    big      one uncompressed text message of BIG_BYTES, then HOSTILE_AFTER
    tiny     TINY_FRAMES WebSocket frames of one payload byte each: valid
             dispatches HOSTILE_TINY, each fragmented into 1-byte frames
    deep     a dispatch HOSTILE_DEEP whose "d" holds arrays nested DEEP levels,
             one nested DEEP levels and never closed, then HOSTILE_AFTER
    utf8     READY, GUILD_CREATE, MESSAGE_CREATE and INTERACTION_CREATE whose
             every string field (and the event name) holds invalid UTF-8 and
             NUL, raw and as \\u escapes, then HOSTILE_AFTER
    len63    a frame header announcing 2^63 payload bytes, then junk
    headers  REST: a response with HEADERS header lines
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tls_listen import tls_listen  # noqa: E402

BOMB_BYTES = 1 << 30
BIG_BYTES = 100 * 1000 * 1000
TINY_FRAMES = 1000000
DEEP = 100000
HEADERS = 100000

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, fin=True):
    """A server-to-client WebSocket frame (RFC 6455 §5.2: unmasked)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def dispatch(t, d, s=1):
    return b'{"op":0,"t":"%s","s":%d,"d":%s}' % (t, s, d)


AFTER = frame(1, dispatch(b"HOSTILE_AFTER", b"{}", 2))


def bomb_message():
    """One zlib-stream message: BOMB_BYTES of zeros, ending in a sync flush
    (the 00 00 ff ff suffix Discord ends each message with), then the same
    stream's next message, a small dispatch."""
    z = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    parts = [z.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
    parts.append(z.flush(zlib.Z_SYNC_FLUSH))
    after = z.compress(dispatch(b"HOSTILE_AFTER", b"{}", 2)) + z.flush(zlib.Z_SYNC_FLUSH)
    return frame(2, b"".join(parts)) + frame(2, after)


def tiny_frames():
    msg = dispatch(b"HOSTILE_TINY", b"{}")
    per = len(msg)
    out = []
    for _ in range(TINY_FRAMES // per):
        out.append(bytes([0x01, 1, msg[0]]))  # text, not final
        out.extend(bytes([0x00, 1, b]) for b in msg[1:-1])  # continuations
        out.append(bytes([0x80, 1, msg[-1]]))  # final continuation
    return b"".join(out)


def deep_messages():
    closed = dispatch(b"HOSTILE_DEEP", b"[" * DEEP + b"]" * DEEP)
    unclosed = dispatch(b"HOSTILE_DEEP_OPEN", b"[" * DEEP)
    return frame(1, closed) + frame(1, unclosed)


# Bad bytes for every string: a lone continuation byte, an overlong NUL, a
# raw surrogate, a raw NUL (not valid JSON either), and escaped NUL and lone
# surrogates (valid JSON, not valid UTF-8 once unescaped).
BAD_RAW = b"\xff\xc0\x80\xed\xa0\x80\x00\x80"
BAD_ESC = b"\\u0000\\udc80\\ud800"


def utf8_messages():
    out = []
    for bad in (BAD_RAW, BAD_ESC):
        s = b'"x' + bad + b'"'
        user = b'{"id":%s,"username":%s,"global_name":%s,"bot":false}' % (s, s, s)
        out.append(dispatch(b"READY", b'{"v":10,"user":%s,"session_id":%s,"shard":[0,1],'
                            b'"guilds":[{"id":%s}],"resume_gateway_url":%s}' % (user, s, s, s)))
        out.append(dispatch(b"GUILD_CREATE", b'{"id":%s,"name":%s,"member_count":%s}' % (s, s, s)))
        out.append(dispatch(b"MESSAGE_CREATE",
                            b'{"id":%s,"channel_id":%s,"guild_id":%s,"content":"!%s",'
                            b'"author":%s}' % (s, s, s, bad, user)))
        out.append(dispatch(b"INTERACTION_CREATE",
                            b'{"id":%s,"type":2,"token":%s,"application_id":%s,"guild_id":%s,'
                            b'"channel_id":%s,"user":%s,"data":{"id":%s,"name":%s,"type":1,'
                            b'"options":[{"name":%s,"type":3,"value":%s}]}}'
                            % (s, s, s, s, s, user, s, s, s, s)))
        # Well-formed ids and token, so a lifecycle opens: its command name
        # and option value are the bad bytes.
        out.append(dispatch(b"INTERACTION_CREATE",
                            b'{"id":"1%d","type":2,"token":"aW50ZXJhY3Rpb24","application_id":"2",'
                            b'"channel_id":"3","user":{"id":"4","username":%s},"data":{"id":"5",'
                            b'"name":%s,"type":1,"options":[{"name":%s,"type":3,"value":%s}]}}'
                            % (len(out), s, s, s, s)))
        out.append(dispatch(b"EVT" + bad, b"{}"))
    return b"".join(frame(1, m) for m in out)


def len63():
    return bytes([0x81, 127]) + (1 << 63).to_bytes(8, "big") + b"junk" * 1024


def many_headers():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"".join(b"X-Hostile-%d: %d\r\n" % (i, i) for i in range(HEADERS))
    body = b'{"url":"wss://gateway.discord.gg"}'
    return head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


BODIES = {"tiny": tiny_frames, "deep": deep_messages, "utf8": utf8_messages, "len63": len63}
GATEWAY_QUERY = {"bomb": "?v=10&encoding=json&compress=zlib-stream"}


def _serve_one(conn, cache):
    try:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        case = head.split(" ")[1].lstrip("/").split("?")[0]
        if case == "headers":
            conn.sendall(many_headers())
            return
        key = ""
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "sec-websocket-key":
                key = v.strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept)
        if case == "big":
            # Streamed: the frame header, then the payload a MiB at a time.
            head, tail = b'{"op":0,"t":"HOSTILE_BIG","s":1,"d":{"pad":"', b'"}}'
            pad = BIG_BYTES - len(head) - len(tail)
            conn.sendall(bytes([0x81, 127]) + BIG_BYTES.to_bytes(8, "big") + head)
            chunk = b"x" * (1 << 20)
            while pad > 0:
                conn.sendall(chunk[:pad])
                pad -= len(chunk)
            conn.sendall(tail)
        elif case == "bomb":
            with cache["lock"]:
                if "bomb" not in cache:
                    cache["bomb"] = bomb_message()
            conn.sendall(cache["bomb"])
        else:
            conn.sendall(BODIES[case]())
        if case != "len63":
            conn.sendall(AFTER + frame(8, (1000).to_bytes(2, "big")))
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.unwrap()
        except (OSError, ssl.SSLError):
            pass
        conn.close()


def server(portfile, cert, key):
    ctx, lsock = tls_listen(portfile, cert, key, 16)
    cache = {"lock": threading.Lock()}
    while True:
        raw, _ = lsock.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=_serve_one, args=(conn, cache), daemon=True).start()


def client(port, case):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    rest = case == "headers"
    sni = "discord.com" if rest else "gateway.discord.gg"
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname=sni)
    if rest:
        req = ("GET /headers HTTP/1.1\r\nHost: discord.com\r\nUser-Agent: DiscordBot (hostile, 1)"
               "\r\nAuthorization: Bot hostile.token\r\n\r\n")
    else:
        req = ("GET /%s%s HTTP/1.1\r\nHost: gateway.discord.gg\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (case, GATEWAY_QUERY.get(case, "?v=10&encoding=json"),
                  base64.b64encode(b"hostile-suite-16").decode()))
    sock.sendall(req.encode())
    digest, total, end = hashlib.sha256(), 0, "eof"
    while True:
        try:
            data = sock.recv(1 << 20)
        except ssl.SSLEOFError:
            end = "ragged_eof"
            break
        if not data:
            break
        digest.update(data)
        total += len(data)
    sock.close()
    print(json.dumps({"sha256": digest.hexdigest(), "len": total, "end": end}), flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(*sys.argv[2:5])
    elif sys.argv[1] == "client":
        client(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: hostile_peers.py server|client ...")
