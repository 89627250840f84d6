import LockstatCharts
import LockstatCore

/// Contention wait by lock word; flame graphs of the waits by the waiter's stack and by the
/// waker's stack, each weighted by wait time.
struct FutexPlots {
    let model: FutexModel

    func write(into directory: TestDirectory) throws -> [String] {
        var files = PlotFiles(into: directory)
        try files.save(
            "futex_locks.svg",
            BarChart(
                title: "Share of user-space lock contention wait by lock word (futex)",
                valueLabel: "share of the run's contention wait (%)",
                entries: Shares.topAndOthers(model.locks.map { ($0.key, Double($0.contention)) }), valueSuffix: " %"
            ).render())
        for (name, title, folded) in [
            (
                "futex_waiters_flame.svg", "User-space lock waits by the waiter's stack, by wait time",
                model.waiterFolded
            ),
            ("futex_wakers_flame.svg", "User-space lock waits by the waker's stack, by wait time", model.wakerFolded),
        ] {
            let stacks = folded.map {
                (frames: $0.stack.split(separator: ";").map(String.init), weight: Double($0.waited))
            }
            try files.save(name, FlameGraph(title: title, countName: "ns waited", stacks: stacks).render())
        }
        return files.names
    }
}
