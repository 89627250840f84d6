import CLockstat
import Foundation
import LockstatCore

/// Contentions as groups: in ring mode each is one contention paired from the events (per task,
/// a contention_begin and the next contention_end on the same lock, waiting end.time −
/// begin.time; an end whose begin came before the run is counted as unpaired; a begin whose end
/// came after it counts as contended without a wait time, as perf lock counts it). In bpf mode
/// each is what one aggregation entry (task, lock, call stack) gained in one drain interval.
struct ContentionAnalysis {
    struct Contention {
        var tid: UInt32
        var lock: UInt64
        var flags: UInt32
        /// When the group ended: the contention's end (ring), the drain that read it (bpf).
        var end: UInt64
        /// How many contentions it stands for.
        var count = 1
        /// Of them, waits that ended within the run, their sum, longest and shortest (ns).
        var waited: Int
        var total: UInt64
        var longest: UInt64
        var shortest: UInt64
        /// log2 buckets of the waits, when the kernel counted them (bpf); else from `total`.
        var buckets: [UInt32]? = nil
        var caller: String
        var stack: [UInt64]
        /// What the lock is, when the kernel could tell (bpf: the task's mmap_lock, siglock).
        var kind: UInt32 = 0
        /// The waiting task's cgroup v2 id (bpf mode; 0 where not recorded).
        var cgroup: UInt64 = 0

        /// One contention of ring mode; `wait` nil when it had not ended when the run did.
        init(tid: UInt32, lock: UInt64, flags: UInt32, end: UInt64, wait: UInt64?, caller: String, stack: [UInt64]) {
            self.tid = tid
            self.lock = lock
            self.flags = flags
            self.end = end
            waited = wait == nil ? 0 : 1
            total = wait ?? 0
            longest = wait ?? 0
            shortest = wait ?? .max
            self.caller = caller
            self.stack = stack
        }

        /// What an aggregation entry gained in one interval (bpf mode).
        init(
            tid: UInt32, lock: UInt64, flags: UInt32, end: UInt64, count: Int, total: UInt64, longest: UInt64,
            shortest: UInt64, buckets: [UInt32], caller: String, stack: [UInt64], kind: UInt32, cgroup: UInt64 = 0
        ) {
            self.tid = tid
            self.lock = lock
            self.flags = flags
            self.end = end
            self.count = count
            waited = count
            self.total = total
            self.longest = longest
            self.shortest = shortest
            self.buckets = buckets
            self.caller = caller
            self.stack = stack
            self.kind = kind
            self.cgroup = cgroup
        }
    }

    struct Row {
        var key: String
        var type: String
        var contended = 0
        var total: UInt64 = 0
        var max: UInt64 = 0
        var min = UInt64.max
        /// Contentions whose wait ended within the run.
        var waited = 0
        var avg: UInt64 { waited > 0 ? total / UInt64(waited) : 0 }

        mutating func add(_ c: Contention) {
            contended += c.count
            guard c.waited > 0 else { return }
            waited += c.waited
            total += c.total
            max = Swift.max(max, c.longest)
            min = Swift.min(min, c.shortest)
        }
    }

    struct PendingKey: Hashable {
        var tid: UInt32
        var lock: UInt64
    }

    var contentions: [Contention] = []
    /// contention_end events with no begin (the wait began before the run).
    var unpaired = 0
    /// Waits still going on when the run ended.
    var unfinished = 0
    let symbols: KernelSymbols
    /// bpf mode: the locks the BPF programs named (slab caches, runqueues).
    var lockNames = LockNames()

    /// perf lock contention's defaults: the caller is the first frame, after skipping 3 and
    /// within the first 8, that has a symbol and is not a lock function.
    static let stackSkip = 3, maxStack = 8

    /// bpf mode: the groups are already made.
    init(groups: [Contention], symbols: KernelSymbols) {
        self.symbols = symbols
        contentions = groups
    }

    init(events: [ContentionEvent], layout: TracepointLayout, symbols: KernelSymbols) {
        self.symbols = symbols
        // Keyed by task and lock, as perf lock keeps one state per (thread, lock): waiting for a
        // sleeping lock can itself contend on another (the rwsem's wait_lock) in between.
        var pending = [PendingKey: ContentionEvent]()
        for e in events {
            let key = PendingKey(tid: e.tid, lock: e.lockAddress)
            if e.type == layout.beginID {
                // A second begin on the lock the task already waits for is nested (optimistic
                // spinning, then sleeping): the wait runs from the first.
                if pending[key] == nil { pending[key] = e }
            } else if e.type == layout.endID {
                guard let begin = pending.removeValue(forKey: key), e.time >= begin.time else {
                    unpaired += 1
                    continue
                }
                contentions.append(
                    Contention(
                        tid: e.tid, lock: e.lockAddress, flags: begin.value, end: e.time,
                        wait: e.time - begin.time, caller: caller(begin.callchain), stack: begin.callchain))
            }
        }
        for begin in pending.values.sorted(by: { $0.time < $1.time }) {
            contentions.append(
                Contention(
                    tid: begin.tid, lock: begin.lockAddress, flags: begin.value, end: begin.time,
                    wait: nil, caller: caller(begin.callchain), stack: begin.callchain))
        }
        unfinished = pending.count
    }

    func caller(_ chain: [UInt64]) -> String {
        for ip in chain.prefix(Self.maxStack).dropFirst(Self.stackSkip) where !symbols.isLockFunction(ip) {
            if let name = symbols.function(ip) { return name }
        }
        return ""
    }

    /// bpf mode's stacks begin inside the BPF machinery (the program's JIT image, bpf_trace_run2):
    /// without those frames a stack starts where perf's call chain of the tracepoint starts (at
    /// __traceiter_contention_begin where the tracepoint is called through it, else at the lock's
    /// slow path), so `caller` picks the same frame in both modes, as perf does.
    static func isTracingFrame(_ name: String?) -> Bool {
        guard let name else { return true }
        return name.hasPrefix("bpf_") || name.hasPrefix("__bpf_")
    }

    /// A bpf stack without its leading tracing frames.
    func withoutTracingFrames(_ chain: [UInt64]) -> [UInt64] {
        Array(chain.drop { Self.isTracingFrame(symbols.functionName($0)) })
    }

    /// perf's names for the flags of contention_begin (include/trace/events/lock.h LCB_F_*).
    static func type(_ flags: UInt32) -> String {
        let spin: UInt32 = 1
        let read: UInt32 = 2
        let write: UInt32 = 4
        let rt: UInt32 = 8
        let percpu: UInt32 = 16
        let mutex: UInt32 = 32
        switch flags {
        case spin: return "spinlock"
        case spin | read: return "rwlock:R"
        case spin | write: return "rwlock:W"
        case read: return "rwsem:R"
        case write: return "rwsem:W"
        case rt: return "rtmutex"
        case rt | read: return "rwlock-rt:R"
        case rt | write: return "rwlock-rt:W"
        case percpu | read: return "percpu-rwsem:R"
        case percpu | write: return "percpu-rwsem:W"
        case mutex, mutex | spin: return "mutex"
        case 0: return "semaphore"
        default: return "unknown"
        }
    }

    /// A lock's name: its symbol (static locks), what the waiting task said it is, else the name
    /// the BPF programs found (slab cache, runqueue; bpf mode), else its address.
    func lockName(_ address: UInt64, kind: UInt32 = 0) -> String {
        let hex = String(address, radix: 16)
        return lockSymbol(address, kind: kind).map { "\($0) (\(hex))" } ?? hex
    }

    /// A lock's name without its address; nil when it has none. What a waiting task said of the
    /// lock (`kind`, or any wait's on that address) wins over its slab cache: an mm's mmap_lock is
    /// inside an mm_struct object.
    func lockSymbol(_ address: UInt64, kind: UInt32) -> String? {
        symbols.object(address) ?? Self.kindName(kind) ?? lockNames.name(address)
    }

    static func kindName(_ kind: UInt32) -> String? {
        switch kind {
        case UInt32(LS_LOCK_KIND_MMAP): return "&mm->mmap_lock"
        case UInt32(LS_LOCK_KIND_SIGHAND): return "&sighand->siglock"
        default: return nil
        }
    }

    /// Only the contentions `filter` keeps (each stack's functions named once).
    mutating func keep(_ filter: ContentionFilter) {
        guard !filter.isEmpty else { return }
        var stacks = [[UInt64]: Bool]()
        contentions = contentions.filter { c in
            guard filter.keeps(type: Self.type(c.flags)),
                filter.keeps(lock: c.lock, name: lockSymbol(c.lock, kind: c.kind))
            else { return false }
            if filter.stacks.isEmpty { return true }
            if let known = stacks[c.stack] { return known }
            let keeps = filter.keeps(functions: c.stack.compactMap { symbols.functionName($0) })
            stacks[c.stack] = keeps
            return keeps
        }
    }

    /// Rows by caller, lock or task, sorted by total wait.
    func rows(by key: (Contention) -> String) -> [Row] {
        var rows = [String: Row]()
        for c in contentions {
            let k = key(c)
            rows[k, default: Row(key: k, type: Self.type(c.flags))].add(c)
        }
        return rows.values.sorted { ($0.total, $1.key) > ($1.total, $0.key) }
    }

    var byCaller: [Row] { rows { $0.caller } }
    var byLock: [Row] { rows { lockName($0.lock, kind: $0.kind) } }
    func byTask(_ comms: [UInt32: String]) -> [Row] {
        rows { c in comms[c.tid].map { "\(c.tid) \($0)" } ?? String(c.tid) }
    }

    /// log2 buckets of wait time: bucket lower bound (ns) → count.
    static func histogram(_ groups: [Contention]) -> [(UInt64, Int)] {
        var counts = [Int](repeating: 0, count: 64)
        for g in groups where g.waited > 0 {
            if let buckets = g.buckets {
                for (i, n) in buckets.enumerated() { counts[i] += Int(n) }
            } else {
                counts[g.total == 0 ? 0 : 63 - g.total.leadingZeroBitCount] += 1
            }
        }
        guard let last = counts.lastIndex(where: { $0 > 0 }), let first = counts.firstIndex(where: { $0 > 0 }) else {
            return []
        }
        return (first...last).map { (UInt64(1) << UInt64($0), counts[$0]) }
    }

    /// FlameGraph's folded format: frames root→leaf by function name, weighted by wait (ns).
    var folded: [(String, UInt64)] {
        var stacks = [String: UInt64]()
        for c in contentions where c.waited > 0 {
            let frames = c.stack.reversed().map { symbols.functionName($0) ?? "[unknown]" }
            stacks[(frames + [Self.type(c.flags)]).joined(separator: ";"), default: 0] += c.total
        }
        return stacks.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// perf lock contention's table: contended, total wait, max wait, avg wait, type, caller.
    static func table(_ rows: [Row], keyTitle: String) -> String {
        func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        func line(_ cells: [String]) -> String {
            zip(cells.prefix(5), [10, 12, 12, 12, 15]).map { pad($0, $1) }.joined(separator: " ") + "   " + cells[5]
        }
        var lines = [line(["contended", "total wait", "max wait", "avg wait", "type", keyTitle]), ""]
        for r in rows {
            lines.append(
                line([
                    String(r.contended), Durations.text(seconds: Double(r.total) / 1e9),
                    Durations.text(seconds: Double(r.max) / 1e9), Durations.text(seconds: Double(r.avg) / 1e9), r.type,
                    r.key,
                ]))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
