import Foundation

/// `samples/oprofile`: the report the original stored, in `opreport -l --separate=cpu` layout
/// (PEERS.md section 9): a header naming the event and its sampling period, then one line per
/// symbol with a `samples %` pair per CPU and one for all CPUs, the image and the symbol name.
/// % is relative to its column's total, as in opreport. The image column is as wide as the
/// longest image name, so the symbol name starts where the header's `symbol name` starts: names
/// with spaces (C++ signatures, `foo (deleted)`) survive a reader that splits at that column.
enum ProfileReport {
    static func render(_ data: ProfileData, model: String) -> String {
        let a = data.analysis, setup = data.setup
        var out = "CPU: \(model), \(setup.cpus.count) CPUs profiled (\(setup.scope == "program" ? "the program's processes" : "system-wide"))\n"
        if setup.event == "cycles" {
            out += "Counted cycles events (PERF_COUNT_HW_CPU_CYCLES, hardware counter) at \(setup.frequency) Hz on average (sampling period adjusted by the kernel)\n"
        } else {
            let period = 1_000_000_000 / max(setup.frequency, 1)
            out += "Counted cpu-clock events (PERF_COUNT_SW_CPU_CLOCK, the kernel's timer: no hardware PMU) at \(setup.frequency) Hz: sampling period \(period) ns\n"
        }
        for cpu in setup.cpus { out += "Samples on CPU \(cpu)\n" }
        out += "Samples on all CPUs (aggregate, last column pair)\n"
        let imageWidth = max(24, (a.rows.map(\.image.count).max() ?? 0) + 2)
        let pairs = setup.cpus.count + 1
        out += String(repeating: "samples  %        ", count: pairs) + pad("image name", imageWidth) + "symbol name\n"
        let totals = a.cpuTotals + [a.total]
        for row in a.rows {
            let counts = row.perCPU + [row.total]
            for (n, total) in zip(counts, totals) {
                out += pad(String(n), 9) + pad(String(format: "%.4f", total > 0 ? Double(n) / Double(total) * 100 : 0), 9)
            }
            out += pad(row.image, imageWidth) + row.symbol + "\n"
        }
        return out
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
