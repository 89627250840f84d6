import CLockstat
import LockstatCore

/// contention.wakers read back: who woke each sleeping wait before it ended (the last wake: a
/// wake whose lock another task took first is followed by another), with the waiter's caller
/// and lock, so a row is a waiter → waker pair. Spinlock waits, which nobody wakes, come from the
/// waits' own groups.
struct ContentionWakers {
    /// ContentionModel.Waker rows, by total wait.
    let rows: [ContentionModel.Waker]

    init(aggregates: BPFAggregates, analysis: ContentionAnalysis) {
        let symbols = analysis.symbols
        var rows = [PairKey: ContentionModel.Waker]()
        func add(_ key: PairKey, _ wait: ContentionModel.Waker) {
            if rows[key] == nil { rows[key] = wait } else { rows[key]!.add(wait) }
        }
        var resolved = [Int32: (caller: String, stack: [UInt64])]()
        func waiter(_ id: Int32) -> (caller: String, stack: [UInt64]) {
            if let known = resolved[id] { return known }
            let stack = analysis.withoutTracingFrames(aggregates.kernelStacks[id] ?? [])
            let r = (id < 0 ? "[no stack]" : analysis.caller(stack), stack)
            resolved[id] = r
            return r
        }
        // A waker's user stack named from the maps of its process, kept when it was first seen.
        let symbolizer = Symbolizer(kernel: symbols)
        var named = [UserStackKey: (stack: String, site: String)]()
        func user(_ id: Int32, tgid: UInt32) -> (stack: String, site: String) {
            guard id >= 0, let ips = aggregates.userStacks[id], !ips.isEmpty else { return ("", "") }
            let key = UserStackKey(id: id, tgid: tgid)
            if let known = named[key] { return known }
            let frames = ips.enumerated().map { i, ip in
                symbolizer.userFrame(
                    ip, in: aggregates.wakerSpaces.mapping(pid: tgid, address: ip), returnAddress: i > 0)
            }
            let stack = zip(ips, frames).reversed().map { ip, f in
                f.symbol == Symbolizer.unknownSymbol ? "0x" + String(ip, radix: 16) : f.symbol
            }
            let anyNamed = frames.contains { $0.symbol != Symbolizer.unknownSymbol }
            let r = (stack.joined(separator: ";"), anyNamed ? FutexAnalysis.site(frames) : "")
            named[key] = r
            return r
        }
        // The lock's type and kind come from the waits of the same lock.
        var locks = [UInt64: (flags: UInt32, kind: UInt32)]()
        for c in analysis.contentions { locks[c.lock] = (c.flags, c.kind) }
        for e in aggregates.wakers ?? [] {
            let wakeClass = Self.className(e.key.wake_class)
            let lock = locks[e.key.lock]
            let wakerStack = analysis.withoutTracingFrames(aggregates.kernelStacks[e.key.waker_stack] ?? [])
            let site: String
            switch e.key.wake_class {
            case UInt32(LS_WAKE_TASK.rawValue), UInt32(LS_WAKE_KTHREAD.rawValue):
                site = e.key.waker_stack < 0 ? "[no stack]" : Self.site(wakerStack, symbols: symbols)
            case UInt32(LS_WAKE_NONE.rawValue): site = "no waker"
            default: site = "no waker (\(wakeClass))"
            }
            let userStack = user(e.key.waker_ustack, tgid: e.key.waker_tgid)
            let key = PairKey(
                lock: analysis.lockName(e.key.lock, kind: lock?.kind ?? 0), caller: waiter(e.key.stack_id).caller,
                wakeClass: wakeClass, waker: site,
                wakerStack: wakerStack.reversed().map { symbols.functionName($0) ?? "[unknown]" }
                    .joined(separator: ";"),
                wakerUserStack: userStack.stack, wakerUserSite: userStack.site)
            add(
                key,
                ContentionModel.Waker(
                    lock: key.lock, type: lock.map { ContentionAnalysis.type($0.flags) } ?? "unknown",
                    caller: key.caller,
                    wakeClass: wakeClass, waker: site, wakerStack: key.wakerStack, wakerUserStack: key.wakerUserStack,
                    wakerUserSite: key.wakerUserSite,
                    contended: Int(e.value.count), total: e.value.total_ns, slept: Int(e.value.slept),
                    sleptTotal: e.value.slept_ns, wakes: Int(e.value.wakes), failed: Int(e.value.failed)))
        }
        // Spinlocks and rwlocks (not a mutex's optimistic spin, which the waker entries class).
        let spin: UInt32 = 1, mutex: UInt32 = 32
        let spinning = Self.className(UInt32(LS_WAKE_SPINNING.rawValue))
        for c in analysis.contentions where c.flags & (spin | mutex) == spin && c.waited > 0 {
            let key = PairKey(
                lock: analysis.lockName(c.lock, kind: c.kind), caller: c.caller, wakeClass: spinning,
                waker: "no waker (\(spinning))", wakerStack: "", wakerUserStack: "", wakerUserSite: "")
            add(
                key,
                ContentionModel.Waker(
                    lock: key.lock, type: ContentionAnalysis.type(c.flags), caller: c.caller, wakeClass: spinning,
                    waker: key.waker, wakerStack: "", wakerUserStack: "", contended: c.count, total: c.total))
        }
        self.rows = rows.values.sorted { ($0.total, $1.waker, $1.caller) > ($1.total, $0.waker, $0.caller) }
    }

    struct PairKey: Hashable {
        var lock: String, caller: String, wakeClass: String, waker: String, wakerStack: String, wakerUserStack: String
        var wakerUserSite: String
    }

    /// A stack id names the same frames in every process; their functions differ by process.
    struct UserStackKey: Hashable { let id: Int32, tgid: UInt32 }

    /// enum ls_bpf_wake_class's names.
    static func className(_ wakeClass: UInt32) -> String {
        switch wakeClass {
        case UInt32(LS_WAKE_TASK.rawValue): return "task"
        case UInt32(LS_WAKE_KTHREAD.rawValue): return "kthread"
        case UInt32(LS_WAKE_HARDIRQ.rawValue): return "hardirq"
        case UInt32(LS_WAKE_SOFTIRQ.rawValue): return "softirq"
        case UInt32(LS_WAKE_NMI.rawValue): return "nmi"
        case UInt32(LS_WAKE_SIGNAL.rawValue): return "signal"
        case UInt32(LS_WAKE_SPINNING.rawValue): return "spinning"
        default: return "none"
        }
    }

    /// The functions a release passes through between the releasing code and the wake (unlock,
    /// wake queue, scheduler): a waker's site is the first frame past them.
    static let wakeMachinery: Set<String> = ["up", "downgrade_write", "default_wake_function"]
    static let wakeMachineryPrefixes = [
        "__traceiter_", "try_to_wake_up", "wake_up_", "__wake_up", "wake_q", "ttwu", "rwsem_", "__rwsem", "up_write",
        "up_read", "__up_", "percpu_up", "mutex_unlock", "__mutex_unlock", "rt_mutex", "__rt_mutex", "inode_unlock",
        "autoremove_wake", "signal_wake_up", "complete_signal", "__send_signal", "send_signal",
    ]

    /// The releasing call site in a waker's stack (innermost first, tracing frames dropped).
    static func site(_ stack: [UInt64], symbols: KernelSymbols) -> String {
        for ip in stack where !symbols.isLockFunction(ip) {
            guard let name = symbols.functionName(ip) else { continue }
            if wakeMachinery.contains(name) || wakeMachineryPrefixes.contains(where: name.hasPrefix) { continue }
            return symbols.function(ip) ?? name
        }
        return stack.first.flatMap { symbols.function($0) } ?? "[no stack]"
    }
}
