import java.util.concurrent.locks.ReentrantLock;

/// THREADS threads contend on a `synchronized` block for SECONDS (phase 1), then on a
/// ReentrantLock for as long (phase 2), each held in a method of a known name (monitorLocked,
/// reentrantLocked). The same threads run both phases, so each thread's park event (a monitor's
/// wait) and parker (a ReentrantLock's) stay distinct words for the whole run.
/// Usage: JavaLocks SECONDS THREADS
public final class JavaLocks {
    static final Object MONITOR = new Object();
    static final ReentrantLock LOCK = new ReentrantLock();
    static volatile long sink;

    /// Work done holding a lock: long enough (tens of microseconds) that the other threads park.
    static long work(long seed) {
        long x = seed;
        for (int i = 0; i < 20_000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
        return x;
    }

    static void monitorLocked(long seed) {
        synchronized (MONITOR) {
            sink += work(seed);
        }
    }

    static void reentrantLocked(long seed) {
        LOCK.lock();
        try {
            sink += work(seed);
        } finally {
            LOCK.unlock();
        }
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 1;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        // Uncontended first: the JIT compiles both methods before the threads contend, so the
        // first waits (whose stacks the futex module copies) are in compiled, perf-map-named code.
        for (int i = 0; i < 3000; i++) {
            monitorLocked(i);
            reentrantLocked(i);
        }
        long start = System.nanoTime();
        long monitorEnd = start + (long) (seconds * 1e9), reentrantEnd = start + (long) (2 * seconds * 1e9);
        long[] monitorOps = new long[threads], reentrantOps = new long[threads];
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int id = t;
            ts[t] = new Thread(() -> {
                long n = 0;
                while (System.nanoTime() < monitorEnd) monitorLocked(n++);
                monitorOps[id] = n;
                while (System.nanoTime() < reentrantEnd) reentrantLocked(n++);
                reentrantOps[id] = n - monitorOps[id];
            }, "locker-" + t);
        }
        for (Thread t : ts) t.start();
        for (Thread t : ts) t.join();
        long m = 0, r = 0;
        for (int t = 0; t < threads; t++) {
            m += monitorOps[t];
            r += reentrantOps[t];
        }
        System.out.println("pid " + ProcessHandle.current().pid());
        System.out.println("monitor_ops " + m);
        System.out.println("reentrant_ops " + r);
    }
}
