#!/usr/bin/env python3
"""Times a session's reopen of an indexed file in a pseudo-terminal (a session is interactive
only on a terminal): the banner's `ready in`, the wall time to the prompt, and the time from the
first query to its answer; warm (page cache as it is) and cold (the index's files, and the
source, dropped from the page cache with posix_fadvise(DONTNEED) first). Standard library only.

    python3 bench/reopen.py VECSH FILE QUERY [RUNS [FLAGS...]]   (bench/reopen.sh runs it)

MODES (environment) picks the kinds of run, "warm cold" by default ("cold" alone: only cold runs);
the last lines give each kind's range and median of the first answer.

The index is looked up in $VECSH_CACHE (else ~/.cache/vecsh). A warm run follows a session that
warmed the cache; a cold run follows dropping the index's `*.mdb` and the source. The query is
typed the moment the prompt is drawn, so the answer's time includes any wait for the background
verification.
"""
import os, pty, re, select, sys, time, glob, json

def drop_cache(paths):
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

def read_until(fd, pattern, buf, timeout=120):
    end = time.time() + timeout
    while not re.search(pattern, buf[0]):
        left = end - time.time()
        if left <= 0:
            raise SystemExit(f"timeout waiting for {pattern!r}; got {buf[0][-400:]!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                raise SystemExit(f"session ended; got {buf[0][-400:]!r}")
            if not data:
                raise SystemExit(f"session ended; got {buf[0][-400:]!r}")
            buf[0] += data.decode("utf-8", "replace")
    return time.time()

def session(vecsh, path, query, extra):
    t0 = time.time()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["NO_COLOR"] = "1"
        os.environ["VECSH_HISTORY"] = "/dev/null"
        os.execv(vecsh, [vecsh, path] + extra)
    buf = [""]
    t_banner = read_until(fd, r"ready in [^(]*\(", buf)
    t_prompt = read_until(fd, r"> (\r|\x1b|$)", buf)
    ready = re.search(r"ready in ([0-9.]+ ?[mµ]?s)", buf[0]).group(1)
    buf[0] = ""
    t_q = time.time()
    os.write(fd, (query + "\r").encode())
    t_ans = read_until(fd, r"\n\s*1 \S", buf)
    read_until(fd, r"\n[^\n]*> (\r|\x1b|$)", buf)
    notes = [l for l in buf[0].splitlines() if "damaged" in l or "warning" in l]
    os.write(fd, b"\x04")
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)
    return ready, t_prompt - t0, t_ans - t_q, notes

def main():
    vecsh, path, query = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    extra = sys.argv[5:]
    cache = os.environ.get("VECSH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vecsh")
    index_files = glob.glob(os.path.join(glob.escape(cache), glob.escape(os.path.basename(path)) + "-*", "*.mdb"))
    if not index_files:
        raise SystemExit(f"no index of {path} under {cache}: open it once first")
    modes = os.environ.get("MODES", "warm cold").split()
    answers = {mode: [] for mode in modes}
    for mode in modes:
        for i in range(runs):
            if mode == "cold":
                drop_cache(index_files + [path])
            else:
                session(vecsh, path, query, extra)  # warms the cache
            ready, prompt, answer, notes = session(vecsh, path, query, extra)
            answers[mode].append(answer)
            print(f"{mode:4} run {i+1}: banner 'ready in {ready}', prompt after {prompt*1000:.0f} ms, "
                  f"first answer {answer*1000:.0f} ms after the query" + (f"  {notes}" if notes else ""))
            sys.stdout.flush()
    for mode, times in answers.items():
        if times:
            ms = sorted(t * 1000 for t in times)
            print(f"{mode}: first answer after the query over {len(ms)} runs: "
                  f"{ms[0]:.0f}–{ms[-1]:.0f} ms (median {ms[len(ms) // 2]:.0f} ms)")

main()
