import Foundation
import Glibc

/// What serve keeps: each module's source, read at its interval by the sampling thread and at
/// every scrape by the server's; one lock, so a source is never called from two threads at once.
final class Scraper: @unchecked Sendable {
    struct Served {
        let module: String
        let source: any MetricsSource
        let intervalNanoseconds: UInt64
        var due: UInt64
    }
    private let lock = NSLock()
    private var served: [Served] = []
    private let exposed: ExposedSeries
    private var scrapes = 0
    private var scrapeCPUNanoseconds: UInt64 = 0

    init(maxSeries: Int) { exposed = ExposedSeries(maxSeries: maxSeries) }

    /// The sources, once presampling made them (a scrape before that has lockstat's own families only).
    func serve(_ sources: [Served]) { lock.withLock { served = sources } }

    /// Samples the sources whose interval has come; returns when the next one is due.
    func sampleDue(now: UInt64) -> UInt64 {
        lock.withLock {
            for i in served.indices where served[i].due <= now {
                served[i].source.sample()
                served[i].due = max(served[i].due + served[i].intervalNanoseconds, now + 1)
            }
            return served.map(\.due).min() ?? now + 1_000_000_000
        }
    }

    func scrape(_ format: Exposition.Format) -> String {
        lock.withLock {
            let start = Self.threadCPUNanoseconds()
            let families = exposed.bounded(served.flatMap { $0.source.families() })
            scrapes += 1
            let text = Exposition.render(families + ownFamilies(), format: format)
            scrapeCPUNanoseconds += Self.threadCPUNanoseconds() - start
            return text
        }
    }

    /// The profiles the sources make, by name (listed on `/`).
    var profileNames: [String] { lock.withLock { served.flatMap { $0.source.profileNames } } }

    /// The profile `name` as it stands now (its source sampled first), nil when no source makes it.
    func profile(_ name: String) -> StackProfile? {
        lock.withLock {
            for s in served where s.source.profileNames.contains(name) {
                s.source.sample()
                return s.source.profiles().first { $0.name == name }?.profile
            }
            return nil
        }
    }

    /// postsampling of every source, once.
    func stop() {
        lock.withLock {
            served.forEach { $0.source.stop() }
            served = []
        }
    }

    /// lockstat's own cost: CPU (all threads), memory, scrapes and what they took.
    private func ownFamilies() -> [MetricFamily] {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu =
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
                usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        var rss = 0.0
        if case .success(let statm) = FileReader.readText("/proc/self/statm"),
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        {
            rss = pages * Double(sysconf(Int32(_SC_PAGESIZE)))
        }
        return [
            MetricFamily(
                name: "lockstat_process_cpu_seconds", kind: .counter, unit: "seconds",
                help: "CPU time lockstat serve used, all threads (getrusage)",
                labels: [], points: [MetricPoint(labels: [], value: cpu)]),
            MetricFamily(
                name: "lockstat_process_resident_memory_bytes", kind: .gauge, unit: "bytes",
                help: "lockstat serve's resident memory (/proc/self/statm)",
                labels: [], points: [MetricPoint(labels: [], value: rss)]),
            MetricFamily(
                name: "lockstat_scrapes", kind: .counter, help: "Scrapes answered, this one included", labels: [],
                points: [MetricPoint(labels: [], value: Double(scrapes))]),
            MetricFamily(
                name: "lockstat_scrape_cpu_seconds", kind: .counter, unit: "seconds",
                help: "CPU time the scrapes before this one took",
                labels: [], points: [MetricPoint(labels: [], value: Double(scrapeCPUNanoseconds) / 1e9)]),
            MetricFamily(
                name: "lockstat_rows_beyond_cap", kind: .gauge,
                help: "Rows counted in other series because their family reached serve.max_series",
                labels: [], points: [MetricPoint(labels: [], value: Double(exposed.rowsBeyondCap))]),
        ]
    }

    private static func threadCPUNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }
}
