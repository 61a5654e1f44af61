#!/usr/bin/env python3
"""Damage campaign of a session's reads before its verification has ended (issue 25): damage
below the file system (one random bit of `data.mdb` flipped, the stat proof rewritten to match,
as a bad sector leaves it), a session opened on it with its background verification held back
(`VECSH_VERIFY_PAUSE_MS`, a hook of debug builds), and four statements typed at once, each
verified only by its own reads (`src/index/on_read.rs`). A trial is *same answer*, *damage said*
(the session said "is damaged" and answered from the rebuilt index), *WRONG* (an answer line no
intact index gives), *crash/exit* (a signal or an exit status but 0), *no answer* (the session
ended or stalled for 60 s) or *missing* (an answer never came). Exits 1 on any but the first two.

    python3 bench/session-damage.py DEBUG_VECSH [TRIALS [SEED]]   # e.g. target/debug/vecsh 1000 23

Standard library only; works in a temporary directory of its own (a generated 3,000 x 8 GloVe
file, its index built with its lists by `vecsh build`).
"""
import json, os, pty, random, re, select, shutil, subprocess, sys, tempfile, time

QUERIES = ["w7", "sim(w7, w8)", "w3 - w4 + w5", "w2999"]


def stat(path):
    s = os.stat(path)
    return {"size": s.st_size, "mtime_ns": s.st_mtime_ns, "ctime_ns": s.st_ctime_ns,
            "ino": s.st_ino, "dev": s.st_dev}


def session(vecsh, src, cache):
    """Runs QUERIES in a session in a pseudo-terminal: (every answer came, status, output)."""
    env = dict(os.environ, VECSH_CACHE=cache, NO_COLOR="1", VECSH_HISTORY="/dev/null",
               VECSH_VERIFY_PAUSE_MS="600000", TERM="dumb")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(vecsh, [vecsh, src], env)
    buf = [b""]
    end = time.time() + 60

    def prompts(n):
        """Reads until the output holds n prompts; False if the session ended or stalled."""
        while buf[0].count(b"> ") < n:
            ready, _, _ = select.select([fd], [], [], max(0, end - time.time()))
            if not ready:
                return False
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            buf[0] += data
        return True

    ok = prompts(1)
    for i, query in enumerate(QUERIES):
        if not ok:
            break
        os.write(fd, (query + "\r").encode())
        ok = prompts(i + 2)
    try:
        os.write(fd, b"\x04")
    except OSError:
        pass
    status, stop = None, time.time() + 20
    while time.time() < stop:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        try:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                buf[0] += os.read(fd, 65536)
        except OSError:
            pass
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    os.close(fd)
    return ok, status, buf[0].decode("utf-8", "replace")


def main():
    vecsh = os.path.realpath(sys.argv[1])
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    work = tempfile.mkdtemp(prefix="vecsh-session-damage-")
    try:
        src = os.path.join(work, "v.txt")
        rows = random.Random(7)
        with open(src, "w") as f:
            for i in range(3000):
                f.write("w%d %s\n" % (i, " ".join("%.4f" % rows.uniform(-1, 1) for _ in range(8))))
        base = os.path.join(work, "base")
        env = dict(os.environ, VECSH_CACHE=base, NO_COLOR="1")
        subprocess.run([vecsh, "build", src, "--quiet"], env=env, check=True)
        good = [subprocess.run([vecsh, src, "-e", q], env=env, capture_output=True, text=True,
                               check=True).stdout.strip() for q in QUERIES]
        good_lines = {line.strip() for answer in good for line in answer.splitlines()}
        (index,) = [d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))]
        counts = {}
        for t in range(trials):
            cache = os.path.join(work, "trial")
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(base, cache)
            data = os.path.join(cache, index, "data.mdb")
            at = rng.randrange(2 * 4096, os.path.getsize(data))
            bit = 1 << rng.randrange(8)
            with open(data, "r+b") as f:
                f.seek(at)
                byte = f.read(1)[0]
                f.seek(at)
                f.write(bytes([byte ^ bit]))
            proof_path = os.path.join(cache, index, "verified.json")
            with open(proof_path) as f:
                proof = json.load(f)
            proof["data"] = stat(data)
            with open(proof_path, "w") as f:
                json.dump(proof, f)
            ok, status, out = session(vecsh, src, cache)
            lines = [line.strip() for line in out.replace("\r", "").splitlines()]
            answers = [l for l in lines
                       if re.match(r"^\d+ \S+\s+-?\d\.\d{3}", l) or re.match(r"^-?\d\.\d{4}$", l)]
            wrong = [l for l in answers if l not in good_lines]
            missing = [g for g in good if g.splitlines()[0].strip() not in lines]
            if wrong:
                kind = "WRONG"
            elif status is not None and (os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0):
                kind = "crash/exit"
            elif not ok or status is None:
                kind = "no answer"
            elif missing:
                kind = "missing"
            elif "is damaged" in out:
                kind = "damage said"
            else:
                kind = "same answer"
            counts[kind] = counts.get(kind, 0) + 1
            if kind not in ("same answer", "damage said"):
                print(f"trial {t}: bit {bit:#04x} at byte {at}: {kind} {wrong[:2]}\n"
                      f"  {out[-500:]!r}")
            sys.stdout.flush()
        print(f"{trials} trials (seed {sys.argv[3] if len(sys.argv) > 3 else 1}): {counts}")
        sys.exit(0 if set(counts) <= {"same answer", "damage said"} else 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


main()
