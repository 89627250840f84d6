#!/usr/bin/env python3
"""The README's first run: four threads that contend on a user-space lock and a kernel lock.

Each thread takes one threading.Lock (a futex-based semaphore in CPython) around creating and
removing a directory of its own, so the others queue on that lock while its holder is in the
kernel; then it creates and removes one of eight names in a directory all four share, so they
also queue on that directory's inode lock (i_rwsem). It takes a few seconds and leaves nothing
behind.
"""
import os
import shutil
import tempfile
import threading

ROUNDS = 1000
shared = tempfile.mkdtemp(prefix="lockstat-first-run-")
lock = threading.Lock()


def work(worker: int) -> None:
    own = os.path.join(shared, f"worker{worker}")
    for i in range(ROUNDS):
        with lock:
            os.mkdir(own)
            os.rmdir(own)
        name = os.path.join(shared, str(i % 8))
        try:
            os.mkdir(name)
            os.rmdir(name)
        except OSError:
            pass  # another worker has the name now: the wait for its lock is what we measure


try:
    threads = [threading.Thread(target=work, args=(w,)) for w in range(1, 4)]
    for t in threads:
        t.start()
    work(0)
    for t in threads:
        t.join()
finally:
    shutil.rmtree(shared, ignore_errors=True)
