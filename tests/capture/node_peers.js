// node_peers.js - a TLS server and its clients in one Node process, for the
// patched-path tests (tests/capture/test_patched.py).
//
//   node node_peers.js CERT KEY MODE
//
// MODE "exchange": three client connections, each in its own thread (the
// main one and two worker_threads, so the executable's SSL_* run on several
// threads), against a server in the main thread:
//   - "bulk": 3 MiB up in writes of odd sizes, 3 MiB down, read in paused
//     mode with read(n) of odd sizes (partial reads);
//   - "small": many small requests and replies;
//   - "reset": 1 MiB down, then the server resets the connection (RST) once
//     the client said it has it all; the client records the error it sees.
// Every connection uses SNI discord.com. Prints one JSON object: per
// connection, the SHA-256 and length of what the client wrote and read, and
// the error (code) it ended with. The same program with and without the
// preload must print the same thing.
//
// MODE "fetch PORT HOST": one HTTPS request to 127.0.0.1:PORT (Host: HOST,
// no SNI), then prints the names of the process' threads and whether an
// Argus core is mapped: the dormancy test.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const tls = require("tls");
const { Worker, isMainThread, parentPort, workerData } = require("worker_threads");

function payload(seed, n) {
    // Deterministic bytes: SHA-256 in counter mode.
    const out = Buffer.alloc(n);
    for (let off = 0, i = 0; off < n; i++) {
        const h = crypto.createHash("sha256").update(seed + ":" + i).digest();
        off += h.copy(out, off);
    }
    return out;
}

function summary(chunks) {
    const all = Buffer.concat(chunks);
    return { len: all.length, sha: crypto.createHash("sha256").update(all).digest("hex") };
}

// Sizes cycle through these, so calls end mid-record and mid-buffer.
const SIZES = [1, 17, 1000, 4096, 16383, 16384, 16385, 65536, 100000, 250000];

// One client connection; resolves with its summary.
function client(port, name) {
    return new Promise((resolve) => {
        const written = [], read = [];
        let error = null, gotAll = false;
        const sock = tls.connect({ port, host: "127.0.0.1", servername: "discord.com",
                                   rejectUnauthorized: false });
        const finish = () => resolve({ name, write: summary(written), read: summary(read), error });
        sock.on("error", (e) => { error = e.code || String(e); });
        sock.on("close", finish);
        const send = (buf, done) => {
            written.push(buf);
            if (sock.write(buf)) setImmediate(done); else sock.once("drain", done);
        };
        sock.once("secureConnect", () => {
            const head = Buffer.from(name + "\n");
            if (name === "bulk") {
                const up = payload("up", 3 << 20);
                let off = 0, k = 0;
                const next = () => {
                    if (off >= up.length) return;
                    const n = Math.min(SIZES[k++ % SIZES.length], up.length - off);
                    const part = up.subarray(off, off + n);
                    off += n;
                    send(part, next);
                };
                send(head, next);
                let want = 0;
                sock.on("readable", () => {
                    let chunk;
                    while ((chunk = sock.read(SIZES[want % SIZES.length])) !== null) {
                        want++;
                        read.push(chunk);
                    }
                });
                sock.on("end", () => {
                    let rest;
                    while ((rest = sock.read()) !== null) read.push(rest);
                    sock.end();
                });
            } else if (name === "small") {
                let i = 0, got = 0;
                sock.on("data", (d) => {
                    read.push(d);
                    got += d.length;
                    if (got !== 300 * (i + 1))
                        return;
                    if (++i < 200)
                        send(Buffer.alloc(100, i), () => {});
                    else
                        sock.end();
                });
                send(Buffer.concat([head, Buffer.alloc(100, 0)]), () => {});
            } else {
                sock.on("data", (d) => {
                    read.push(d);
                    if (!gotAll && summary(read).len === 1 << 20) {
                        gotAll = true;
                        send(Buffer.from("got it\n"), () => {});
                    }
                });
                send(head, () => {});
            }
        });
    });
}

function server(cert, key) {
    const srv = tls.createServer({ cert, key }, (s) => {
        let kind = null, buf = Buffer.alloc(0), small = 0, up = 0;
        s.on("error", () => {});
        s.on("data", (d) => {
            if (kind === null) {
                buf = Buffer.concat([buf, d]);
                const nl = buf.indexOf(10);
                if (nl < 0) return;
                kind = buf.subarray(0, nl).toString();
                d = buf.subarray(nl + 1);
                if (kind === "bulk") {
                    const down = payload("down", 3 << 20);
                    for (let off = 0, k = 3; off < down.length; k++) {
                        const n = Math.min(SIZES[k % SIZES.length], down.length - off);
                        s.write(down.subarray(off, off + n));
                        off += n;
                    }
                } else if (kind === "reset") {
                    s.write(payload("reset", 1 << 20));
                }
            }
            if (kind === "bulk") {
                up += d.length;
                if (up === 3 << 20)
                    s.end(); // only now: the client is still writing until then
            } else if (kind === "small") {
                small += d.length;
                while (small >= 100) {
                    small -= 100;
                    s.write(payload("small" + small, 300));
                }
            } else if (kind === "reset" && d.toString().includes("got it")) {
                // The TCP socket under the TLS one: an RST, not a close_notify.
                s._parent.resetAndDestroy();
            }
        });
    });
    return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve(srv)));
}

async function exchange(certFile, keyFile) {
    const srv = await server(fs.readFileSync(certFile), fs.readFileSync(keyFile));
    const port = srv.address().port;
    const inWorker = (name) => new Promise((resolve, reject) => {
        const w = new Worker(__filename, { workerData: { port, name } });
        w.once("message", resolve);
        w.once("error", reject);
    });
    const results = await Promise.all([client(port, "bulk"), inWorker("small"), inWorker("reset")]);
    srv.close();
    const out = {};
    for (const r of results) out[r.name] = r;
    console.log(JSON.stringify(out));
}

function fetch(port, host) {
    const https = require("https");
    const req = https.request({ host: "127.0.0.1", port, method: "POST", path: "/", servername: "",
                                headers: { Host: host, "Content-Length": 0, "X-Reply": 10 },
                                rejectUnauthorized: false }, (res) => {
        res.resume();
        res.on("end", () => {
            const tasks = fs.readdirSync("/proc/self/task");
            const names = tasks.map((t) => fs.readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim());
            const maps = fs.readFileSync("/proc/self/maps", "utf8");
            console.log(JSON.stringify({ threads: names, core: maps.includes("argus_core"),
                                         argus_thread: names.includes("argus-decode") }));
        });
    });
    req.end();
}

if (!isMainThread) {
    client(workerData.port, workerData.name).then((r) => parentPort.postMessage(r));
} else if (process.argv[4] === "exchange") {
    exchange(process.argv[2], process.argv[3]);
} else if (process.argv[4] === "fetch") {
    fetch(Number(process.argv[5]), process.argv[6]);
}
