import CLockstat
import Foundation
import Synchronization

/// Counters a sampler publishes while it runs (read by the progress line and the summary).
public final class SamplerCounters: Sendable {
    public let samples = Atomic<Int>(0)
    public let missed = Atomic<Int>(0)
    public let failed = Atomic<Int>(0)
    public init() {}
}

/// Wake-up lateness of the taken ticks, 1 µs buckets up to 20 ms, preallocated: the sampling
/// thread only increments a counter.
public final class LatenessHistogram: @unchecked Sendable {
    static let buckets = 20_000
    private var counts: UnsafeMutablePointer<UInt32>
    private var overflow: UInt64 = 0

    init() {
        counts = .allocate(capacity: Self.buckets)
        counts.initialize(repeating: 0, count: Self.buckets)
    }

    deinit { counts.deallocate() }

    func record(nanoseconds: UInt64) {
        let us = Int(nanoseconds / 1000)
        if us < Self.buckets { counts[us] &+= 1 } else { overflow += 1 }
    }

    /// The q-quantile (0...1) in microseconds; nil without data. Beyond the range: the range's end.
    public func quantile(_ q: Double) -> Double? {
        var total = overflow
        for i in 0..<Self.buckets { total += UInt64(counts[i]) }
        guard total > 0 else { return nil }
        let rank = UInt64((q * Double(total)).rounded(.up))
        var seen: UInt64 = 0
        for i in 0..<Self.buckets {
            seen += UInt64(counts[i])
            if seen >= max(rank, 1) { return Double(i) }
        }
        return Double(Self.buckets)
    }
}

/// One module being sampled: its recorder, its raw log, its counters.
public final class SampledModule: @unchecked Sendable {
    public let name: String
    public let intervalNanoseconds: UInt64
    /// Whether it may share a sampling thread (see `LockstatModule.samplesCheaply`).
    public let sharesThread: Bool
    public let counters = SamplerCounters()
    let recorder: any Recorder
    let log: RawLogWriter

    public init(name: String, interval: Double, sharesThread: Bool, recorder: any Recorder, log: RawLogWriter) {
        self.name = name
        intervalNanoseconds = max(1, UInt64((interval * 1e9).rounded()))
        self.sharesThread = sharesThread
        self.recorder = recorder
        self.log = log
    }

    public var writeErrors: Int { log.writeErrors }

    func programStarted(pid: pid_t) { recorder.programStarted(pid: pid) }

    func take(tick: UInt64, time: UInt64) {
        if recorder.sample(tick: tick, time: time) {
            counters.samples.add(1, ordering: .relaxed)
        } else {
            counters.failed.add(1, ordering: .relaxed)
        }
    }

    func missed(firstTick: UInt64, count: UInt64, time: UInt64) {
        log.appendMissed(firstTick: firstTick, count: count, time: time)
        counters.missed.add(Int(count), ordering: .relaxed)
    }
}

/// A thread that samples on absolute deadlines of CLOCK_MONOTONIC: tick n is due at
/// start + n × interval whatever the previous one cost. A tick whose whole period has passed
/// before it could be taken is recorded as missed, never bunched.
///
/// Modules whose samples are a few preads of procfs (`samplesCheaply`) and that share an
/// interval share one thread: one wake-up per tick instead of one per module, which on these
/// machines is most of a sample's cost (BENCHMARKS.md). Every other module gets a thread of
/// its own, so a slow module never delays another module's samples.
public final class SamplingThread: @unchecked Sendable {
    public let members: [SampledModule]
    public let intervalNanoseconds: UInt64
    public let lateness = LatenessHistogram()
    /// CPU time the thread spent in its sampling loop (read after stopAndWait).
    public private(set) var cpuNanoseconds: UInt64 = 0
    private let sleeper: OpaquePointer
    private let finished = DispatchSemaphore(value: 0)
    private var started = false
    private var stopped = false

    init(members: [SampledModule]) {
        self.members = members
        intervalNanoseconds = members[0].intervalNanoseconds
        sleeper = ls_sleeper_new()
    }

    deinit { ls_sleeper_free(sleeper) }

    /// The threads for `modules`: the cheap ones grouped by interval, each other one alone.
    public static func threads(for modules: [SampledModule]) -> [SamplingThread] {
        var threads = [SamplingThread]()
        var shared = [UInt64: [SampledModule]]()
        var order = [UInt64]()
        for m in modules {
            if m.sharesThread {
                if shared[m.intervalNanoseconds] == nil { order.append(m.intervalNanoseconds) }
                shared[m.intervalNanoseconds, default: []].append(m)
            } else {
                threads.append(SamplingThread(members: [m]))
            }
        }
        return order.map { SamplingThread(members: shared[$0]!) } + threads
    }

    /// Starts sampling; tick 0 is due at `start` (CLOCK_MONOTONIC ns, the program's start).
    public func start(at start: UInt64) {
        // The same instant by the wall clock, which file modification times are in.
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        let realtime = UInt64(wall.tv_sec) &* 1_000_000_000 &+ UInt64(wall.tv_nsec) &- (ls_monotonic_ns() &- start)
        for m in members {
            m.log.append(
                kind: .header, tick: 0, time: start,
                text:
                    "module \(m.name)\nformat \(RawLogFormat.version)\ninterval_ns \(intervalNanoseconds)\nstart_ns \(start)\n"
                    + "start_realtime_ns \(realtime)\n")
        }
        started = true
        let thread = Thread { [self] in
            run(start: start)
            finished.signal()
        }
        thread.name = "lockstat-" + members.map(\.name).joined(separator: "+")
        thread.start()
    }

    /// Stops after one last sample and postsampling; returns when the thread has finished.
    /// A thread that never started (the program could not be started) only runs postsampling.
    public func stopAndWait() {
        guard !stopped else { return }
        stopped = true
        guard started else {
            return members.forEach {
                $0.recorder.postsampling()
                $0.log.finish()
            }
        }
        repeat { ls_sleeper_stop(sleeper) } while finished.wait(timeout: .now() + .milliseconds(5)) == .timedOut
    }

    private func run(start: UInt64) {
        let cpuAtStart = ls_thread_cpu_ns()
        var tick: UInt64 = 0
        while ls_sleeper_wait_until(sleeper, start &+ tick &* intervalNanoseconds) == 0 {
            let now = ls_monotonic_ns()
            // The latest tick whose deadline has passed; the ones before it were not taken on time.
            let latest = (now &- start) / intervalNanoseconds
            if latest > tick {
                for m in members { m.missed(firstTick: tick, count: latest - tick, time: now) }
                tick = latest
            }
            lateness.record(nanoseconds: now &- (start &+ tick &* intervalNanoseconds))
            for m in members { m.take(tick: tick, time: ls_monotonic_ns()) }
            tick += 1
        }
        cpuNanoseconds = ls_thread_cpu_ns() - cpuAtStart
        // The program has exited: one last sample, then postsampling.
        for m in members {
            m.take(tick: tick, time: ls_monotonic_ns())
            m.recorder.postsampling()
            // What a batched log staged is written now: the run's files are whole when parse starts.
            m.log.finish()
        }
    }
}
