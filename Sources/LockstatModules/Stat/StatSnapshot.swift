/// One /proc/stat snapshot (the kernel's fs/proc/stat.c show_stat, Documentation/filesystems/proc.rst).
struct StatSnapshot {
    /// cpu lines by name ("cpu", "cpu0", ...), each 4 to 10 counters in USER_HZ ticks.
    var cpus: [String: CPUTicks] = [:]
    var ctxt: UInt64?
    var intr: UInt64?
    var softirq: UInt64?
    var processes: UInt64?
    var procsRunning: UInt64?
    var procsBlocked: UInt64?
    /// Lines that fit no known shape (truncated, garbled).
    var badLines = 0

    /// Column counts the kernel has printed on cpu lines: 2.4 (4), 2.6.0 (7), 2.6.11 (8), 2.6.24 (9), 2.6.33 (10).
    static let cpuColumnCounts: Set<Int> = [4, 7, 8, 9, 10]

    init(_ text: ProcText) {
        text.forEachLine { line in
            let t = line.tokens
            guard line.complete else {
                badLines += 1
                return
            }
            let key = t[0]
            if text.hasPrefix(key, "cpu") {
                guard Self.cpuColumnCounts.contains(t.count - 1) else {
                    badLines += 1
                    return
                }
                var ticks = CPUTicks()
                for (k, r) in t.dropFirst().enumerated() {
                    guard let v = text.unsigned(r) else {
                        badLines += 1
                        return
                    }
                    ticks.set(column: k, v)
                }
                let name = text.equals(key, "cpu") ? "all" : text.string(key)
                guard name == "all" || Int(name.dropFirst(3)) != nil else {
                    badLines += 1
                    return
                }
                cpus[name] = ticks
                return
            }
            // Lines whose first number is what we keep; intr and softirq carry a total first.
            guard t.count >= 2, let first = text.unsigned(t[1]) else {
                badLines += 1
                return
            }
            if text.equals(key, "ctxt") {
                ctxt = first
            } else if text.equals(key, "intr") {
                intr = first
            } else if text.equals(key, "softirq") {
                softirq = first
            } else if text.equals(key, "processes") {
                processes = first
            } else if text.equals(key, "procs_running") {
                procsRunning = first
            } else if text.equals(key, "procs_blocked") {
                procsBlocked = first
            }
            // btime, and 2.4's page/swap/disk_io: well-formed, not used.
        }
    }
}

/// The ten cpu-line counters; columns a kernel does not print are 0.
struct CPUTicks {
    var user: UInt64 = 0, nice: UInt64 = 0, system: UInt64 = 0, idle: UInt64 = 0, iowait: UInt64 = 0
    var irq: UInt64 = 0, softirq: UInt64 = 0, steal: UInt64 = 0, guest: UInt64 = 0, guestNice: UInt64 = 0

    /// Sets the counter of the line's column (0 = user ... 9 = guest_nice).
    mutating func set(column: Int, _ v: UInt64) {
        switch column {
        case 0: user = v
        case 1: nice = v
        case 2: system = v
        case 3: idle = v
        case 4: iowait = v
        case 5: irq = v
        case 6: softirq = v
        case 7: steal = v
        case 8: guest = v
        default: guestNice = v
        }
    }
}
