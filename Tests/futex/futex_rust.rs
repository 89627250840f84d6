// std::sync::Mutex (a futex word of its own, no glibc mutex) heavily contended by WORKERS threads:
// HEAVY is locked in lock_heavy() and its guard dropped in unlock_heavy(), held about 30 us by
// every worker in turn.
// Usage: futex_rust SECONDS [WORKERS]. Output: `heavy_ops N` (the times HEAVY was taken).
use std::sync::atomic::{compiler_fence, AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static HEAVY: Mutex<u64> = Mutex::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

#[inline(never)]
fn lock_heavy() -> MutexGuard<'static, u64> {
    let guard = HEAVY.lock().unwrap();
    compiler_fence(Ordering::SeqCst);
    guard
}

#[inline(never)]
fn unlock_heavy(guard: MutexGuard<'static, u64>) {
    drop(guard);
    // A fence after the drop keeps the unlock a call made from here (not a tail jump).
    compiler_fence(Ordering::SeqCst);
}

fn spin(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let workers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            std::thread::spawn(|| {
                while !STOP.load(Ordering::Relaxed) {
                    let mut guard = lock_heavy();
                    *guard += 1;
                    spin(Duration::from_micros(30));
                    unlock_heavy(guard);
                    spin(Duration::from_micros(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    STOP.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    println!("heavy_ops {}", *HEAVY.lock().unwrap());
}
