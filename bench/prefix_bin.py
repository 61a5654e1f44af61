#!/usr/bin/env python3
"""Write the first ROWS rows of a word2vec C binary as a .bin of its own, so that vecsh indexes
exactly the rows a peer measured with `peers.py ann --rows ROWS` (both read the file's first rows
in order, and both draw their query rows from the same seeded LCG over ROWS).

    python3 bench/prefix_bin.py IN.bin ROWS OUT.bin

Copies bytes (no float round trip): the header says "ROWS DIM", then each record as it was
(word, one space, DIM little-endian f32, and the newline if the record had one).
"""

import mmap
import sys


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit("usage: prefix_bin.py IN.bin ROWS OUT.bin")
    src, rows, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(src, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        eol = m.find(b"\n")
        n, d = (int(x) for x in m[:eol].split())
        if rows > n:
            raise SystemExit(f"{src}: has {n} rows, fewer than {rows}")
        at = eol + 1
        for i in range(rows):
            while m[at] == 0x0A:
                at += 1
            sp = m.find(b" ", at)
            if sp < 0 or sp + 1 + 4 * d > len(m):
                raise SystemExit(f"{src}: ends in row {i} of {rows}")
            at = sp + 1 + 4 * d
        if at < len(m) and m[at] == 0x0A:
            at += 1
        with open(dst, "wb") as out:
            out.write(f"{rows} {d}\n".encode())
            start = eol + 1
            step = 64 << 20
            for lo in range(start, at, step):
                out.write(m[lo:min(at, lo + step)])
    print(f"{dst}: {rows} x {d} ({at - eol - 1} bytes of rows)", file=sys.stderr)


if __name__ == "__main__":
    main()
