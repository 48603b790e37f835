"""The TLS test servers' one way to start: a TLS context with the test
certificate, a socket listening on a free loopback port, and that port
published in portfile (written whole, then renamed, so a reader never sees
half of it). Shared by tests/capture/tls_peers.py and
tests/hostile/hostile_peers.py."""

import os
import socket
import ssl


def tls_listen(portfile, cert, key, backlog):
    """Returns (ssl context, listening socket)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(backlog)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(lsock.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    return ctx, lsock
