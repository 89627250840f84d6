import CLockstat
import LockstatCore

/// contention.wakers read back, the holder's side: how long a task that took a sleeping lock
/// after waiting held it until it woke the next waiter (hold under contention: uncontended holds
/// are invisible to tracepoints), per lock and the holder's caller; and per lock, its contended
/// time split into those holds, handover gaps and holds of tasks not tracked.
struct ContentionHolds {
    let holds: [ContentionModel.Hold]
    let handovers: [ContentionModel.Handover]
    let ownerStacks: [ContentionModel.OwnerStack]

    init(aggregates: BPFAggregates, analysis: ContentionAnalysis) {
        var locks = [UInt64: (flags: UInt32, kind: UInt32)]()
        for c in analysis.contentions { locks[c.lock] = (c.flags, c.kind) }
        func name(_ lock: UInt64) -> String { analysis.lockName(lock, kind: locks[lock]?.kind ?? 0) }
        var rows = [String: ContentionModel.Hold]()
        for e in aggregates.holds ?? [] where e.value.count > 0 {
            let stack = analysis.withoutTracingFrames(aggregates.kernelStacks[e.key.stack_id] ?? [])
            let caller = e.key.stack_id < 0 ? "[no stack]" : analysis.caller(stack)
            let buckets = withUnsafeBytes(of: e.value.buckets) { Array($0.bindMemory(to: UInt32.self)) }
            let hold = ContentionModel.Hold(
                lock: name(e.key.lock), type: locks[e.key.lock].map { ContentionAnalysis.type($0.flags) } ?? "unknown",
                caller: caller, count: Int(e.value.count), total: e.value.total_ns, max: e.value.max_ns,
                histogram: buckets.enumerated().filter { $0.element > 0 }.map {
                    (UInt64(1) << $0.offset, Int($0.element))
                })
            let key = hold.lock + "\u{0}" + caller
            if var known = rows[key] {
                known.add(hold)
                rows[key] = known
            } else {
                rows[key] = hold
            }
        }
        holds = rows.values.sorted { ($0.total, $1.lock, $1.caller) > ($1.total, $0.lock, $0.caller) }
        handovers = (aggregates.handovers ?? []).filter { $0.value.episodes > 0 }.map { e in
            ContentionModel.Handover(
                lock: name(e.lock), contended: e.value.contended_ns, episodes: Int(e.value.episodes),
                holds: Int(e.value.holds), held: e.value.hold_ns, gaps: e.value.gap_ns, untracked: e.value.untracked_ns,
                untrackedReleases: Int(e.value.untracked_releases))
        }
        .sorted { ($0.contended, $1.lock) > ($1.contended, $0.lock) }
        var owners = [String: ContentionModel.OwnerStack]()
        for e in aggregates.ownerStacks ?? [] where e.count > 0 {
            let ips = withUnsafeBytes(of: e.key.ips) { Array($0.bindMemory(to: UInt64.self)) }.prefix { $0 != 0 }
            let stack = ips.reversed().map { analysis.symbols.functionName($0) ?? "[unknown]" }.joined(separator: ";")
            let key = name(e.key.lock) + "\u{0}" + stack
            let empty = ContentionModel.OwnerStack(lock: name(e.key.lock), ownerStack: stack, contended: 0)
            owners[key, default: empty].contended += Int(e.count)
        }
        ownerStacks = owners.values.sorted { ($0.contended, $1.ownerStack) > ($1.contended, $0.ownerStack) }
    }
}
