/// /proc/kallsyms as a lookup table: address → `func+0xoff`, as perf prints kernel frames, and
/// the kernel's lock code, whose frames are never a lock's caller.
struct KernelSymbols {
    private var addresses: [UInt64] = []
    private var names: [String] = []
    private var isText: [Bool] = []
    /// Sections holding the lock functions: spinlocks (lock text) and the sleeping locks' slow
    /// paths (mutex, rwsem, semaphore, rtmutex, percpu-rwsem live in sched text) — the ranges
    /// perf's machine__is_lock_function uses.
    private var lockRanges: [Range<UInt64>] = []

    init(_ text: String) {
        var rows = [(UInt64, String, Bool)]()
        var marks = [String: UInt64]()
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 2)
            guard f.count == 3, let address = UInt64(f[0], radix: 16), address != 0 else { continue }
            let name = f[2].split(separator: "\t").first.map(String.init) ?? String(f[2])
            let type = f[1].lowercased()
            rows.append((address, name, type == "t" || type == "w"))
            if name.hasPrefix("__lock_text_") || name.hasPrefix("__sched_text_") { marks[name] = address }
        }
        rows.sort { $0.0 < $1.0 }
        addresses = rows.map(\.0)
        names = rows.map(\.1)
        isText = rows.map(\.2)
        for section in ["__lock_text", "__sched_text"] {
            if let start = marks[section + "_start"], let end = marks[section + "_end"], start < end { lockRanges.append(start..<end) }
        }
    }

    var isEmpty: Bool { addresses.isEmpty }

    func isLockFunction(_ address: UInt64) -> Bool { lockRanges.contains { $0.contains(address) } }

    /// The function containing `address`, as `name+0xoff`; nil when no symbol covers it.
    func function(_ address: UInt64) -> String? {
        guard let i = lastIndex(atOrBelow: address), isText[i] else { return nil }
        return names[i] + "+0x" + String(address - addresses[i], radix: 16)
    }

    /// Just the function name, for flame graph frames.
    func functionName(_ address: UInt64) -> String? {
        guard let i = lastIndex(atOrBelow: address), isText[i] else { return nil }
        return names[i]
    }

    /// A static lock's symbol (a data symbol at exactly that address).
    func object(_ address: UInt64) -> String? {
        guard let i = lastIndex(atOrBelow: address), addresses[i] == address, !isText[i] else { return nil }
        return names[i]
    }

    private func lastIndex(atOrBelow address: UInt64) -> Int? {
        var lo = 0, hi = addresses.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if addresses[mid] <= address { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? lo - 1 : nil
    }
}
