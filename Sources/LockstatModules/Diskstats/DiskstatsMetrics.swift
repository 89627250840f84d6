import LockstatCore

/// /proc/diskstats' counters per device since lockstat started, as metric families: the counters
/// iostat's columns are made of (kernel Documentation/admin-guide/iostats.rst), with sectors as
/// bytes (always 512-byte sectors) and milliseconds as seconds. A device removed and added again
/// (iostat.c write_stats' check) counts on from where it was; one that appears counts from zero.
struct DiskTotals: SnapshotTotals {
    struct Counter {
        let name: String, unit: String, help: String
        let value: (DiskCounters) -> Double
    }
    static let counters: [Counter] = [
        Counter(name: "lockstat_disk_reads_completed", unit: "", help: "Reads completed (iostat r/s)") {
            Double($0.rdIos)
        },
        Counter(name: "lockstat_disk_reads_merged", unit: "", help: "Reads merged (iostat rrqm/s)") {
            Double($0.rdMerges)
        },
        Counter(name: "lockstat_disk_read_bytes", unit: "bytes", help: "Bytes read (iostat rkB/s)") {
            Double($0.rdSectors) * 512
        },
        Counter(name: "lockstat_disk_read_time_seconds", unit: "seconds", help: "Time spent on reads (iostat r_await)")
        { Double($0.rdTicks) / 1000 },
        Counter(name: "lockstat_disk_writes_completed", unit: "", help: "Writes completed (iostat w/s)") {
            Double($0.wrIos)
        },
        Counter(name: "lockstat_disk_writes_merged", unit: "", help: "Writes merged (iostat wrqm/s)") {
            Double($0.wrMerges)
        },
        Counter(name: "lockstat_disk_written_bytes", unit: "bytes", help: "Bytes written (iostat wkB/s)") {
            Double($0.wrSectors) * 512
        },
        Counter(
            name: "lockstat_disk_write_time_seconds", unit: "seconds", help: "Time spent on writes (iostat w_await)"
        ) { Double($0.wrTicks) / 1000 },
        Counter(name: "lockstat_disk_discards_completed", unit: "", help: "Discards completed (iostat d/s)") {
            Double($0.dcIos)
        },
        Counter(name: "lockstat_disk_discarded_bytes", unit: "bytes", help: "Bytes discarded (iostat dkB/s)") {
            Double($0.dcSectors) * 512
        },
        Counter(name: "lockstat_disk_flushes_completed", unit: "", help: "Flushes completed (iostat f/s)") {
            Double($0.flIos)
        },
        Counter(
            name: "lockstat_disk_io_time_seconds", unit: "seconds",
            help: "Time the device had I/O in flight (iostat %util)"
        ) { Double($0.totTicks) / 1000 },
        Counter(
            name: "lockstat_disk_io_time_weighted_seconds", unit: "seconds",
            help: "I/O time weighted by requests in flight (iostat aqu-sz)"
        ) { Double($0.rqTicks) / 1000 },
    ]

    private struct Device {
        var base: [Double]
        var carried: [Double]
        var last: DiskCounters
    }
    private var devices: [String: Device] = [:]
    private var order: [String] = []
    private var first = true

    mutating func add(_ text: ProcText) {
        let startsAtZero = !first
        first = false
        Self.forEachDevice(text) { name, c in
            let now = Self.counters.map { $0.value(c) }
            guard var d = devices[name] else {
                order.append(name)
                devices[name] = Device(
                    base: startsAtZero ? Array(repeating: 0, count: now.count) : now,
                    carried: Array(repeating: 0, count: now.count), last: c)
                return
            }
            if c.restarted(since: d.last) {
                let then = Self.counters.map { $0.value(d.last) }
                for i in now.indices { d.carried[i] += max(0, then[i] - d.base[i]) }
                d.base = Array(repeating: 0, count: now.count)
            }
            d.last = c
            devices[name] = d
        }
    }

    var families: [MetricFamily] {
        Self.counters.enumerated().map { i, counter in
            MetricFamily(
                name: counter.name, kind: .counter, unit: counter.unit,
                help: counter.help + " since lockstat started (/proc/diskstats)",
                labels: ["device"],
                points: order.compactMap { name in
                    guard let d = devices[name] else { return nil }
                    return MetricPoint(labels: [name], value: d.carried[i] + max(0, counter.value(d.last) - d.base[i]))
                })
        }
    }

    /// Each well-formed line's device name and counters.
    static func forEachDevice(_ text: ProcText, _ body: (String, DiskCounters) -> Void) {
        DiskstatsLines.forEach(text) { line in
            if let (name, counters) = line { body(text.string(name), counters) }
        }
    }
}

extension DiskstatsModule: ServedModule {
    public func serving(_ context: ServingContext) throws -> any MetricsSource {
        // Every interval: a device removed and added again between scrapes is seen.
        try ProcFileSource(path: context.system.path(Self.file), totals: DiskTotals(), everyInterval: true)
    }
}
