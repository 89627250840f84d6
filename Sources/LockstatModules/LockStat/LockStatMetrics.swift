import CLockstat
import LockstatCore

/// /proc/lock_stat's classes since lockstat started (lockdep_proc.c; times are printed in µs):
/// contentions, wait, acquisitions and hold time per class, both sides (-W, -R) together.
struct LockStatTotals {
    private var first: LockStatSnapshot?
    private var last: LockStatSnapshot?

    mutating func add(_ snapshot: LockStatSnapshot) {
        if first == nil { first = snapshot }
        last = snapshot
    }

    static let counters: [(name: String, column: String, unit: String, scale: Double, help: String)] = [
        (
            "lockstat_lock_class_contentions", "contentions", "", 1,
            "Contentions per lock class (/proc/lock_stat contentions)"
        ),
        (
            "lockstat_lock_class_wait_seconds", "waittime-total", "seconds", 1e-6,
            "Time waited per lock class (/proc/lock_stat waittime-total)"
        ),
        (
            "lockstat_lock_class_acquisitions", "acquisitions", "", 1,
            "Acquisitions per lock class (/proc/lock_stat acquisitions)"
        ),
        (
            "lockstat_lock_class_hold_seconds", "holdtime-total", "seconds", 1e-6,
            "Time held per lock class (/proc/lock_stat holdtime-total)"
        ),
    ]

    var families: [MetricFamily] {
        guard let first, let last else { return [] }
        return Self.counters.map { counter in
            var family = MetricFamily(
                name: counter.name, kind: .counter, unit: counter.unit, help: counter.help + " since lockstat started",
                labels: ["class"])
            func total(_ s: LockStatSnapshot, _ name: String) -> Double {
                guard let i = s.columns.firstIndex(of: counter.column), let c = s.classes[name] else { return 0 }
                return [c.write, c.read].reduce(0) { sum, side in
                    sum + ((side.flatMap { i < $0.count ? $0[i] : nil }) ?? 0)
                }
            }
            for name in last.order {
                family.points.append(
                    MetricPoint(labels: [name], value: max(0, total(last, name) - total(first, name)) * counter.scale))
            }
            return family
        }
    }
}

/// serve's lock_stat: the switch on (and the statistics cleared, as in a run, unless
/// `lock_stat.clear no`) until serve stops; the file read at each scrape.
final class LockStatSource: MetricsSource {
    private let path: String
    private let on: LockStatSwitch
    private var totals = LockStatTotals()

    init(_ context: ServingContext) throws {
        path = context.system.path(LockStatModule.file)
        on = try LockStatSwitch.turnOn(context.system, clearing: LockStatSettings(context.config).clear)
        read()
    }

    private func read() {
        guard case .success(let text) = FileReader.readText(path) else { return }
        totals.add(LockStatSnapshot(text))
    }

    func families() -> [MetricFamily] {
        read()
        return totals.families
    }

    func stop() { on.restore() }
}

extension LockStatModule: ServedModule {
    public func serving(_ context: ServingContext) throws -> any MetricsSource {
        guard !context.system.isReplay else {
            throw LockstatError("serve reads the live kernel, not a --proc-root replay")
        }
        return try LockStatSource(context)
    }
}
