// A C++ program whose lock waits are known: std::mutex in a namespace (its symbol is mangled),
// each worker measuring its own time inside std::mutex::lock.
// - app::heavy_mutex: locked in lock_heavy(), unlocked in unlock_heavy(), held about 30 us by
//   every worker in turn: heavily contended;
// - app::light_mutex: taken by two other threads, held (asleep) about 100 us: less contended.
// Usage: futex_cpp SECONDS [WORKERS]. Output lines: worker TID heavy_ns N light_ns M, then
// heavy_ops N (the times app::heavy_mutex was taken: the program's throughput).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>
#include <sys/syscall.h>
#include <unistd.h>

namespace app {
std::mutex heavy_mutex;
std::mutex light_mutex;
}  // namespace app

static std::atomic<bool> stop{false};
static volatile unsigned long sink;
static unsigned long heavy_ops;  // counted while app::heavy_mutex is held

static unsigned long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
}

static void spin_ns(unsigned long long ns) {
    unsigned long long end = now_ns() + ns;
    while (now_ns() < end) sink = sink + 1;
}

__attribute__((noinline)) unsigned long long lock_heavy() {
    unsigned long long t0 = now_ns();
    app::heavy_mutex.lock();
    return now_ns() - t0;
}

// The empty asm after the call keeps it a call (not a tail jump), so unlock_heavy is on the waker's stack.
__attribute__((noinline)) void unlock_heavy() {
    app::heavy_mutex.unlock();
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) unsigned long long lock_light() {
    unsigned long long t0 = now_ns();
    std::lock_guard<std::mutex> guard(app::light_mutex);
    unsigned long long waited = now_ns() - t0;
    usleep(100);
    return waited;
}

static void worker() {
    unsigned long long heavy = 0;
    while (!stop) {
        heavy += lock_heavy();
        heavy_ops++;
        spin_ns(30000);
        unlock_heavy();
        spin_ns(5000);
    }
    std::printf("worker %ld heavy_ns %llu light_ns 0\n", (long)syscall(SYS_gettid), heavy);
}

static void light_worker() {
    unsigned long long light = 0;
    while (!stop) {
        light += lock_light();
        usleep(100);
    }
    std::printf("worker %ld heavy_ns 0 light_ns %llu\n", (long)syscall(SYS_gettid), light);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 2;
    int workers = argc > 2 ? std::atoi(argv[2]) : 4;
    if (workers < 1 || workers > 64) return 2;
    setvbuf(stdout, nullptr, _IOLBF, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < workers; i++) threads.emplace_back(worker);
    for (int i = 0; i < 2; i++) threads.emplace_back(light_worker);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto &t : threads) t.join();
    std::printf("heavy_ops %lu\n", heavy_ops);
    return 0;
}
