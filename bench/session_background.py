"""Query latency of a session while it builds the lists by itself behind its prompt (issue 28).

Drives `vecsh FILE` on a pseudo-terminal, as a user types, and times each answer from the
Enter key to the next prompt (after the answer's 10th neighbour):

1. idle: a session with --no-background, QUERIES queries one after another;
2. during the build: a session without it on the same index (no lists yet), which starts the
   build once its background verification found the index intact; one query every GAP seconds
   until "lists ready" appears;
3. the first statement after "lists ready", then one query every GAP seconds while the session
   builds the principal-component stage, until it is announced;
4. after: the first statement after that announcement, then QUERIES more;
5. with BUILT=1 in the environment: QUERIES queries on the index `vecsh build FILE` writes (in
   CACHE-built), the figure the session's own build is to reach.

Each phase prints its median / p90 / max and the load average (/proc/loadavg) beside it.

    python3 bench/session_background.py VECSH FILE CACHE [--words w1,w2,...] [--queries 30]
        [--trigger ':exact off']

bench/session-background.sh runs it on a fresh index.
"""

import argparse
import os
import pty
import re
import select
import statistics
import sys
import time

ANSWER_END = re.compile(rb"\r\n10 [^\r]*\r\n")
PROMPT = b"> "


class Session:
    def __init__(self, vecsh, path, cache, extra):
        env = dict(os.environ, VECSH_CACHE=cache, NO_COLOR="1", TERM="xterm",
                   VECSH_HISTORY=cache.rstrip("/") + "-history")
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(vecsh, [vecsh, path, "--color", "never", *extra], env)
        self.pid, self.fd, self.buf = pid, fd, b""
        self.seen = b""  # everything read, for "lists ready"

    def read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        self.buf += data
        self.seen += data
        return True

    def wait_for(self, pattern, timeout):
        end = time.time() + timeout
        while True:
            m = pattern.search(self.buf) if hasattr(pattern, "search") else None
            if m is None and not hasattr(pattern, "search") and pattern in self.buf:
                i = self.buf.index(pattern) + len(pattern)
                self.buf = self.buf[i:]
                return True
            if m is not None:
                self.buf = self.buf[m.end():]
                return True
            if time.time() > end:
                raise TimeoutError(f"waiting for {pattern!r}; got {self.buf[-400:]!r}")
            self.read(0.5)

    def ask(self, line):
        """Milliseconds from Enter to the prompt after the answer's 10th line."""
        self.buf = b""
        t = time.perf_counter()
        os.write(self.fd, line.encode() + b"\r")
        self.wait_for(ANSWER_END, 600)
        self.wait_for(PROMPT, 600)
        return (time.perf_counter() - t) * 1000

    def drain(self):
        while self.read(0.05):
            pass

    def quit(self):
        os.write(self.fd, b"\x04")
        end = time.time() + 30
        while time.time() < end:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                return
            self.read(0.2)


def load():
    return open("/proc/loadavg").read().split()[:3]


def summary(name, ms):
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    print(f"{name}: n {len(ms)}, median {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, "
          f"max {ms[-1]:.1f} ms (load {' '.join(load())})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vecsh")
    ap.add_argument("file")
    ap.add_argument("cache")
    ap.add_argument("--words", default="")
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--gap", type=float, default=1.0)
    ap.add_argument("--trigger", default="",
                    help="a statement that starts the build (':exact off' on a file where the "
                         "session builds nothing by itself, e.g. GloVe 6B 50d: the same build, "
                         "pause and priority; answers stay exact until ready)")
    a = ap.parse_args()
    words = a.words.split(",") if a.words else [f"w{(i * 7919) % a.rows}" for i in range(1, 400)]
    pick = lambda i: words[i % len(words)]

    s = Session(a.vecsh, a.file, a.cache, ["--no-background"])
    t = time.time()
    s.wait_for(PROMPT, 3600)
    print(f"first session ready after {time.time() - t:.1f} s", flush=True)
    s.ask(pick(0))  # warm
    idle = [s.ask(pick(i)) for i in range(1, a.queries + 1)]
    summary("idle (--no-background)", idle)
    s.quit()

    s = Session(a.vecsh, a.file, a.cache, [])
    s.wait_for(PROMPT, 3600)
    if a.trigger:
        s.buf = b""
        os.write(s.fd, a.trigger.encode() + b"\r")
        s.wait_for(PROMPT, 60)
    start = time.time()
    during, i = [], 1000
    while b"lists ready" not in s.seen:
        during.append(s.ask(pick(i)))
        i += 1
        end = time.time() + a.gap
        while time.time() < end and b"lists ready" not in s.seen:
            s.read(0.1)
        if time.time() - start > 3600:
            print("no lists after an hour", flush=True)
            break
    built = time.time() - start
    summary(f"during the build (lists ready after {built:.0f} s)", during)
    m = re.search(rb"lists ready[^\r\n]*", s.seen)
    print(m.group(0).decode(errors="replace") if m else "(no announcement)", flush=True)
    first = s.ask(pick(0))
    print(f"first statement after the announcement: {first:.0f} ms",
          flush=True)
    # Then the principal-component stage (the session's own build only): queries during it,
    # one every GAP seconds, until it is announced.
    if not a.trigger:
        stage_said = b"principal-component stage"
        start, during = time.time(), []
        while stage_said not in s.seen:
            during.append(s.ask(pick(i)))
            i += 1
            end = time.time() + a.gap
            while time.time() < end and stage_said not in s.seen:
                s.read(0.1)
            if time.time() - start > 3600:
                print("no stage after an hour", flush=True)
                break
        if during:
            summary(f"during the stage's build (said after {time.time() - start:.0f} s)", during)
        m = re.search(rb"principal-component stage[^\r\n]*", s.seen)
        print(m.group(0).decode(errors="replace") if m else "(no announcement)", flush=True)
        first = s.ask(pick(0))
        print(f"first statement after the stage: {first:.0f} ms", flush=True)
    after = [s.ask(pick(i)) for i in range(1, a.queries + 1)]
    summary("after the build", after)
    s.quit()
    # A new session on the index the first one completed (opened as `vecsh build`'s below).
    s = Session(a.vecsh, a.file, a.cache, ["--no-background"])
    s.wait_for(PROMPT, 3600)
    s.ask(pick(0))
    summary("a new session on that index", [s.ask(pick(i)) for i in range(1, a.queries + 1)])
    s.quit()
    if os.environ.get("BUILT"):
        # The same queries on the index `vecsh build` writes (stage and lists), in a cache of
        # its own, for the figure the session's own build is to reach.
        built_cache = a.cache.rstrip("/") + "-built"
        t = time.time()
        os.spawnvpe(os.P_WAIT, a.vecsh, [a.vecsh, "build", a.file],
                    dict(os.environ, VECSH_CACHE=built_cache))
        print(f"vecsh build took {time.time() - t:.0f} s", flush=True)
        s = Session(a.vecsh, a.file, built_cache, ["--no-background"])
        s.wait_for(PROMPT, 3600)
        s.ask(pick(0))
        summary("vecsh build's index", [s.ask(pick(i)) for i in range(1, a.queries + 1)])
        s.quit()


if __name__ == "__main__":
    sys.exit(main())
