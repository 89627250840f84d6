import Foundation
import LockstatCore

/// `samples/oprofile`: the report the original stored, in `opreport -l --separate=cpu` layout
/// (PEERS.md section 9): a header naming the event and its sampling period, then one line per
/// symbol with a `samples %` pair per CPU and one for all CPUs, the image and the symbol name.
/// % is of its column's time: the samples' periods summed, as perf report's Overhead; with a
/// fixed period that is opreport's share of the column's samples. The image column is as wide as the
/// longest image name, so the symbol name starts where the header's `symbol name` starts: names
/// with spaces (C++ signatures, `foo (deleted)`) survive a reader that splits at that column.
/// Made from the samples.pickle entry, so `lockstat report` prints the same table.
public enum ProfileReport {
    public static func render(_ d: PyValue, top: Int? = nil) -> String {
        let cpus = (d["cpus"]?.listItems ?? []).compactMap { $0.number.map { Int($0) } }
        let hz = Int(d["frequency"]?.number ?? 0)
        let program = d["scope"]?.string == "program"
        var out = "CPU: \(d["cpu_model"]?.string ?? "unknown"), \(cpus.count) CPUs profiled (\(program ? "the program's processes" : "system-wide"))\n"
        if d["event"]?.string == "cycles" {
            out += "Counted cycles events (PERF_COUNT_HW_CPU_CYCLES, hardware counter) at \(hz) Hz on average (sampling period adjusted by the kernel)\n"
        } else {
            let random = d["random_period"] == .bool(true) ? ", each drain interval's period 2-10 % above or below P at random" : ""
            out += "Counted cpu-clock events (PERF_COUNT_SW_CPU_CLOCK, the kernel's timer: no hardware PMU) at \(hz) Hz: sampling period P = \(1_000_000_000 / max(hz, 1)) ns\(random)\n"
        }
        for cpu in cpus { out += "Samples on CPU \(cpu)\n" }
        out += "Samples on all CPUs (aggregate, last column pair)\n"
        let rows = d["rows"]?.listItems ?? []
        let shown = top.map { Array(rows.prefix($0)) } ?? rows
        let imageWidth = max(24, (shown.map { ($0["image"]?.string ?? "").count }.max() ?? 0) + 2)
        out += String(repeating: "samples  %        ", count: cpus.count + 1) + pad("image name", imageWidth) + "symbol name\n"
        for row in shown {
            let counts = ((row["samples_cpu"]?.listItems ?? []) + [row["samples"] ?? .int(0)]).map { $0.number ?? 0 }
            let percents = ((row["percent_cpu"]?.listItems ?? []) + [row["percent"] ?? .int(0)]).map { $0.number ?? 0 }
            for (n, percent) in zip(counts, percents) {
                out += pad(String(Int(n)), 9) + pad(String(format: "%.4f", percent), 9)
            }
            out += pad(row["image"]?.string ?? "?", imageWidth) + (row["symbol"]?.string ?? "?") + "\n"
        }
        return out
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
