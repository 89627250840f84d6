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

/// Samples one module on its own thread, on absolute deadlines of CLOCK_MONOTONIC:
/// tick n is due at start + n × interval whatever the previous one cost. A tick whose whole
/// period has passed before it could be taken is recorded as missed, never bunched. One
/// thread per module, so a slow module never delays another's samples.
public final class ModuleSampler: @unchecked Sendable {
    public let name: String
    public let intervalNanoseconds: UInt64
    public let counters = SamplerCounters()
    public let lateness = LatenessHistogram()
    private let recorder: any Recorder
    private let log: RawLogWriter
    private let sleeper: OpaquePointer
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

    public init(name: String, interval: Double, recorder: any Recorder, log: RawLogWriter) {
        self.name = name
        intervalNanoseconds = max(1, UInt64((interval * 1e9).rounded()))
        self.recorder = recorder
        self.log = log
        sleeper = ls_sleeper_new()
    }

    deinit { ls_sleeper_free(sleeper) }

    /// Starts sampling; tick 0 is due at `start` (CLOCK_MONOTONIC ns, the program's start).
    public func start(at start: UInt64) {
        log.append(kind: .header, tick: 0, time: start,
                   text: "module \(name)\ninterval_ns \(intervalNanoseconds)\nstart_ns \(start)\n")
        started = true
        let thread = Thread { [self] in
            run(start: start)
            finished.signal()
        }
        thread.name = "lockstat-\(name)"
        thread.start()
    }

    /// Stops after one last sample and postsampling; returns when the thread has finished.
    /// A sampler that never started (the program could not be started) only runs postsampling.
    public func stopAndWait() {
        guard started else { return recorder.postsampling() }
        ls_sleeper_stop(sleeper)
        finished.wait()
    }

    private func run(start: UInt64) {
        var tick: UInt64 = 0
        while ls_sleeper_wait_until(sleeper, start &+ tick &* intervalNanoseconds) == 0 {
            let now = ls_monotonic_ns()
            // The latest tick whose deadline has passed; the ones before it were not taken on time.
            let latest = (now &- start) / intervalNanoseconds
            if latest > tick {
                log.appendMissed(firstTick: tick, count: latest - tick, time: now)
                counters.missed.add(Int(latest - tick), ordering: .relaxed)
                tick = latest
            }
            lateness.record(nanoseconds: now &- (start &+ tick &* intervalNanoseconds))
            take(tick: tick, time: now)
            tick += 1
        }
        // The program has exited: one last sample, then postsampling.
        take(tick: tick, time: ls_monotonic_ns())
        recorder.postsampling()
    }

    private func take(tick: UInt64, time: UInt64) {
        if recorder.sample(tick: tick, time: time) {
            counters.samples.add(1, ordering: .relaxed)
        } else {
            counters.failed.add(1, ordering: .relaxed)
        }
    }

    public var writeErrors: Int { log.writeErrors }
}
