import Foundation
import LockstatCore

/// `samples/oprofile`: the report the original stored, in `opreport -l --separate=cpu` layout
/// (oprofile's opreport(1)): a header naming the event and its sampling period, then one line per
/// symbol with a `samples %` pair per CPU and one for all CPUs, the image and the symbol name.
/// % is of its column's time: the samples' periods summed, as perf report's Overhead; with a
/// fixed period that is opreport's share of the column's samples. The image column is as wide as the
/// longest image name, so the symbol name starts where the header's `symbol name` starts: names
/// with spaces (C++ signatures, `foo (deleted)`) survive a reader that splits at that column.
struct ProfileReport {
    let model: ProfileModel

    var text: String {
        let m = model
        var out =
            "CPU: \(m.cpuModel), \(m.cpus.count) CPUs profiled (\(m.scope == "program" ? "the program's processes" : "system-wide"))\n"
        if m.event == "cycles" {
            out +=
                "Counted cycles events (PERF_COUNT_HW_CPU_CYCLES, hardware counter) at \(m.frequency) Hz on average (sampling period adjusted by the kernel)\n"
        } else {
            let random = m.randomPeriod ? ", each drain interval's period 2-10 % above or below P at random" : ""
            out +=
                "Counted cpu-clock events (PERF_COUNT_SW_CPU_CLOCK, the kernel's timer: no hardware PMU) at \(m.frequency) Hz: sampling period P = \(1_000_000_000 / max(m.frequency, 1)) ns\(random)\n"
        }
        for cpu in m.cpus { out += "Samples on CPU \(cpu)\n" }
        out += "Samples on all CPUs (aggregate, last column pair)\n"
        let imageWidth = max(24, (m.rows.map(\.image.count).max() ?? 0) + 2)
        out +=
            String(repeating: "samples  %        ", count: m.cpus.count + 1) + Self.pad("image name", imageWidth)
            + "symbol name\n"
        for row in m.rows {
            for (n, percent) in zip(row.samplesPerCPU + [row.samples], row.percentPerCPU + [row.percent]) {
                out += Self.pad(String(n), 9) + Self.pad(String(format: "%.4f", percent), 9)
            }
            out += Self.pad(row.image, imageWidth) + row.symbol + "\n"
        }
        return out
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
