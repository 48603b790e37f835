"""Capture tests of the patched path (issue 12), one case per run:
test_patched.py CASE [NODE_MAJOR].

The OpenSSL built into an executable is reached by patching its entries
(preload/patch.c). These cases run executables that export their own SSL_*
under the preload with the stub core, and compare with runs without it:

  shim_transparency, shim_cet_transparency
        bio_pair's deterministic schedule, its SSL_* defined in the
        executable (ssl_shim.c; the _cet build opens them with endbr64):
        identical output, the client stream captured byte-exactly, the
        debug line names the patched object.
  shim_pac_transparency, shim_bti_transparency (arm64)
        the same, the shim's SSL_* opening with paciasp (pointer
        authentication checked by qemu); the _bti build is a library mapped
        with guarded pages (bti_probe.c: its probe must die of SIGILL first,
        or the case proves nothing) whose SSL_* are called through pointers.
  refusal
        executables whose SSL_read opens with a RIP-relative load (arm64: a
        literal load) or a jmp (arm64: b), and on arm64 one that branches back into
        its entry and one that calls nothing (refuse.c), run exactly as
        without the preload, nothing of them is patched, one debug line says
        why; the control build is patched.
  relocated_branch, relocated_adrp (arm64)
        an SSL_read opening with tbnz is patched and its moved branch goes
        where it went, taken and not taken; one opening with adrp is patched
        and the trampoline's load of that address finds the same variable.
  node_transparency MAJOR
        the official Node build (scripts/setup-node-official MAJOR): a TLS
        server and three clients on three threads exchange several MiB both
        ways, read in odd sizes, one connection reset by its peer
        (node_peers.js): identical output with and without the preload, each
        client stream captured byte-exactly, the server sides ignored.
  node_dormant MAJOR
        the same Node fetching a non-Discord URL starts no Argus thread and
        maps no core; fetching a Discord host does both.
  mprotect_denied
        under a policy that refuses mprotect(PROT_EXEC) (deny_exec.c, as
        SELinux or PaX would): the control and the shim run exactly as
        without the preload, unpatched, and one debug line says why.
  fork
        a patched executable that forks right after start: parent and child
        each capture their own connection, under their own pid.

On arm64 (ARGUS_PATCH_ARCH=arm64) the programs, Node 22 arm64 included,
run under ARGUS_GUEST_RUN (qemu) in a cross build; see test_capture.guest().

Under CI (CI=true) a missing Node build is a failure; elsewhere the Node
cases are skipped (exit 77) when the registry cannot be reached.
"""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_capture as tc  # noqa: E402  (the shared Case and helpers)

from test_capture import ENV, expect, fail, sha  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_PEERS = os.path.join(tc.SRC, "node_peers.js")
SKIP = 77
ARM64 = ENV.get("ARGUS_PATCH_ARCH") == "arm64"


def official_node(major):
    arch = ["--arch", "arm64"] if ARM64 else []
    p = subprocess.run([os.path.join(ROOT, "scripts", "setup-node-official")] + arch + [major],
                       capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        if os.environ.get("CI") == "true":
            fail("no official Node %s (scripts/setup-node-official): %s" % (major, p.stderr))
        print("skipped: no official Node %s: %s" % (major, p.stderr.strip()))
        sys.exit(SKIP)
    return p.stdout.split()[-1]


def debug_lines(stderr, needle):
    return [l for l in stderr.splitlines() if needle in l]


def shim_case(c, exe, obj=None):
    """obj: the file name of the object whose SSL_* are patched (exe's by
    default)."""
    argv = [exe, c.cert, c.key, "discord.com", "4"]
    plain = c.run(argv, c.plain_env()).stdout
    p = c.run(argv, c.preload_env(OTEL_LOG_LEVEL="debug",
                                  ARGUS_RING_BYTES=tc.BIO_PAIR_RING_BYTES))
    patched = debug_lines(p.stderr, "patched the OpenSSL built into")
    expect(len(patched) >= 1 and (obj or os.path.basename(exe)) in patched[0],
           "the executable's SSL_* were not patched:\n%s" % p.stderr)
    tc.check_bio_pair_run(c, plain, p.stdout)

def case_shim_transparency(c):
    shim_case(c, ENV["ARGUS_BIO_PAIR_PATCHED"])


def case_shim_cet_transparency(c):
    shim_case(c, ENV["ARGUS_BIO_PAIR_PATCHED_CET"])


def case_shim_pac_transparency(c):
    shim_case(c, ENV["ARGUS_BIO_PAIR_PATCHED_PAC"])


def case_shim_bti_transparency(c):
    exe = ENV["ARGUS_BIO_PAIR_PATCHED_BTI"]
    argv, env = tc.guest([exe, "probe"], c.plain_env())
    p = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    expect(p.returncode == -signal.SIGILL,
           "the BTI library is not guarded (probe exit %d): this case would prove nothing"
           % p.returncode)
    shim_case(c, exe, "libbio_pair_bti.so")


REFUSALS = (
    (("ARGUS_REFUSE_RIPREL", "SSL_read+0: a PC-relative literal load"),
     ("ARGUS_REFUSE_JMP", "SSL_read+0: a branch"),
     ("ARGUS_REFUSE_INTO", "SSL_read+20: a branch into the patched bytes"),
     ("ARGUS_REFUSE_LEAF", "SSL_read calls nothing"))
    if ARM64 else
    (("ARGUS_REFUSE_RIPREL", "SSL_read+0: a RIP-relative operand"),
     ("ARGUS_REFUSE_JMP", "SSL_read+0: a jump")))


def case_refusal(c):
    for var, why in REFUSALS:
        exe = ENV[var]
        plain = c.run([exe], c.plain_env()).stdout
        p = c.run([exe], c.preload_env(OTEL_LOG_LEVEL="debug"))
        expect(p.stdout == plain, "%s behaves differently under the preload:\n%s\n%s"
               % (exe, plain, p.stdout))
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        expect(len(lines) == 1 and "not patching" in lines[0] and why in lines[0],
               "expected one debug line saying '%s', got:\n%s" % (why, p.stderr))
        quiet = c.run([exe], c.preload_env())
        expect(quiet.stderr == "", "a refusal is said at debug only: %r" % quiet.stderr)
    # The control is patched, so the comparison above can fail.
    exe = ENV["ARGUS_REFUSE_CONTROL"]
    plain = c.run([exe], c.plain_env()).stdout.splitlines()
    patched = c.run([exe], c.preload_env()).stdout.splitlines()
    expect(plain[:2] == patched[:2], "the control's calls differ under the preload")
    for a, b in zip(plain[2:], patched[2:]):
        expect(a != b, "the control's entry was not patched: %s" % b)


def case_relocated_branch(c):
    """arm64: an entry opening with tbnz (refuse.c -DCONDBR) is patched, and
    the branch, moved to the trampoline, goes where it went, taken or not."""
    exe = ENV["ARGUS_PATCH_CONDBR"]
    plain = c.run([exe], c.plain_env()).stdout.splitlines()
    p = c.run([exe], c.preload_env(OTEL_LOG_LEVEL="debug"))
    patched = p.stdout.splitlines()
    expect(len(debug_lines(p.stderr, "patched the OpenSSL built into")) == 1,
           "the tbnz entry was not patched:\n%s" % p.stderr)
    expect(plain[-1] == "negative -2" and plain[0] == "read 9 write 11",
           "the program itself changed: %s" % plain)
    calls = [l for l in plain if not l.startswith("SSL_")]
    expect(calls == [l for l in patched if not l.startswith("SSL_")],
           "the calls differ under the preload:\n%s\n%s" % (plain, patched))
    read = [l for l in plain if l.startswith("SSL_read ")]
    expect(read and read != [l for l in patched if l.startswith("SSL_read ")],
           "SSL_read's entry was not patched")


def case_relocated_adrp(c):
    exe = ENV["ARGUS_PATCH_ADRP"]
    plain = c.run([exe], c.plain_env()).stdout.splitlines()
    p = c.run([exe], c.preload_env(OTEL_LOG_LEVEL="debug"))
    patched = p.stdout.splitlines()
    expect(len(debug_lines(p.stderr, "patched the OpenSSL built into")) == 1,
           "the adrp entry was not patched:\n%s" % p.stderr)
    expect(plain[0] == "read 16 write 11", "the program itself changed: %s" % plain)
    expect(plain[:2] == patched[:2], "the calls differ under the preload:\n%s\n%s"
           % (plain, patched))
    expect(plain[2] != patched[2], "SSL_read's entry was not patched: %s" % patched[2])


def case_node_transparency(c, major):
    node = official_node(major)
    argv = [node, NODE_PEERS, c.cert, c.key, "exchange"]
    plain = json.loads(c.run(argv, c.plain_env()).stdout)
    # A ring larger than the exchange (several MiB each way): this case is
    # about transparency and byte-exact capture, not a full ring (as in
    # test_capture.py's case_capture).
    p = c.run(argv, c.preload_env(OTEL_LOG_LEVEL="debug", ARGUS_RING_BYTES=32 << 20))
    hooked = json.loads(p.stdout)
    expect(plain["reset"]["error"] == "ECONNRESET", "the peer's reset went unnoticed: %s"
           % plain["reset"])
    expect(plain["bulk"]["write"]["len"] > 3 << 20 and plain["bulk"]["read"]["len"] == 3 << 20,
           "the bulk exchange is short: %s" % plain["bulk"])
    expect(plain == hooked, "bytes or errors differ under the preload:\n%s\n%s" % (plain, hooked))
    expect(len(debug_lines(p.stderr, "capturing TLS: patched the OpenSSL built into")) == 1,
           "the activation line does not say the patched path is in force:\n%s" % p.stderr)
    conns = c.recorded()
    by_digest = {(sha(x["write"]), sha(x["read"])): x for x in conns.values()}
    for name, r in plain.items():
        got = by_digest.get((r["write"]["sha"], r["read"]["sha"]))
        expect(got is not None, "connection %s not captured byte-exactly" % name)
        # (Its first bytes are no HTTP request, so its first record is
        # marked as a gap: that is the design, not a loss.)
        expect(got["open"] == "discord.com" and got["close"],
               "connection %s: open %r close %r" % (name, got["open"], got["close"]))
    expect(len(conns) == 3, "expected 3 captured connections, got %d" % len(conns))
    stats = c.stats()
    expect(stats["connections_ignored"] == "3", "the server sides were not ignored: %s" % stats)
    expect(stats["dropped_bytes"] == "0", "bytes were dropped: %s" % stats)


def node_fetch(c, node, env, host):
    return json.loads(c.run([node, NODE_PEERS, c.cert, c.key, "fetch", str(c.port), host],
                            env).stdout)


def case_node_dormant(c, major):
    node = official_node(major)
    c.start_server()
    host = "127.0.0.1:%d" % c.port
    p = c.run([node, NODE_PEERS, c.cert, c.key, "fetch", str(c.port), "example.org"],
              c.preload_env())
    out = json.loads(p.stdout)
    expect(not out["argus_thread"] and not out["core"],
           "a non-Discord fetch woke Argus: %s" % out)
    expect(p.stderr == "", "a dormant node printed: %s" % p.stderr)
    expect(c.recorded() == {}, "a dormant process recorded something")
    out = node_fetch(c, node, c.preload_env(ARGUS_DISCORD_HOSTS=host, OTEL_SDK_DISABLED="true"),
                     host)
    expect(not out["argus_thread"] and not out["core"],
           "OTEL_SDK_DISABLED=true still started Argus: %s" % out)
    expect(c.recorded() == {}, "OTEL_SDK_DISABLED=true still captured")
    out = node_fetch(c, node, c.preload_env(ARGUS_DISCORD_HOSTS=host), host)
    expect(out["argus_thread"], "a Discord fetch did not start Argus' thread: %s" % out)


def case_mprotect_denied(c):
    deny = ENV["ARGUS_DENY_EXEC"]
    exe = ENV["ARGUS_REFUSE_CONTROL"]
    plain = c.run([deny, exe], c.plain_env()).stdout
    p = c.run([deny, exe], c.preload_env(OTEL_LOG_LEVEL="debug"))
    expect(p.stdout == plain, "the program changed under a refused mprotect:\n%s\n%s"
           % (plain, p.stdout))
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    expect(len(lines) == 1 and "not patching" in lines[0] and "executable" in lines[0],
           "expected one debug line about mprotect, got:\n%s" % p.stderr)
    # Without the policy the same program is patched (the check above can fail).
    expect(c.run([exe], c.preload_env()).stdout != plain, "the control was not patched")
    # A whole TLS conversation under the policy: transparent, nothing captured.
    argv = [deny, ENV["ARGUS_BIO_PAIR_PATCHED"], c.cert, c.key, "discord.com", "1"]
    plain = c.run(argv, c.plain_env()).stdout
    hooked = c.run(argv, c.preload_env()).stdout
    expect(plain == hooked, "the TLS conversation changed under a refused mprotect")
    expect(c.recorded() == {}, "an unpatched executable was captured")


def case_fork(c):
    exe = ENV["ARGUS_FORK_PATCHED"]
    p = c.run([exe, c.cert, c.key], c.preload_env(OTEL_LOG_LEVEL="debug"))
    pids = [int(x) for x in p.stdout.split()]
    expect(len(pids) == 2, "fork_patched printed %r" % p.stdout)
    conns = c.recorded()
    seen = sorted(pid for pid, _ in conns)
    expect(seen == sorted(pids), "expected one connection per process %s, got %s" % (pids, seen))
    for key, conn in conns.items():
        expect(conn["open"] == "discord.com" and conn["close"] and len(conn["write"]) > 0 and
               len(conn["read"]) > 0, "process %d: incomplete capture: open %r close %r write %d "
               "read %d" % (key[0], conn["open"], conn["close"], len(conn["write"]),
                            len(conn["read"])))


def main():
    case = sys.argv[1]
    c = tc.Case()
    try:
        fn = globals()["case_" + case]
        fn(c, *sys.argv[2:])
    finally:
        c.close()
    print("ok: " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
