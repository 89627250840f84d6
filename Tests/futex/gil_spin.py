# CPU-bound Python threads: each holds the GIL while it counts, and the interpreter hands the
# GIL over every switch interval (5 ms): the other threads wait for it in a futex wait.
# Usage: python3 gil_spin.py SECONDS [THREADS]. Output: `loops N` (the counting loops done).
import sys
import threading
import time


def count(deadline, done):
    n = 0
    while time.monotonic() < deadline:
        for _ in range(10000):
            n += 1
    done.append(n)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    deadline = time.monotonic() + seconds
    done = []
    workers = [threading.Thread(target=count, args=(deadline, done)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print("loops", sum(done) // 10000)


main()
