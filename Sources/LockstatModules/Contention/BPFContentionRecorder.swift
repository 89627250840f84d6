import CLockstat
import Foundation
import LockstatCore

/// bpf mode's sampling: the kernel aggregates every wait (bpf/contention.bpf.c); each tick
/// reads the aggregation entries that changed and writes them, as they now stand, into the raw
/// log, with the call stacks and task names first seen, the kernel's counters and the
/// programs' run time. All buffers are allocated at presampling.
final class BPFContentionRecorder: Recorder {
    /// The changed waits entries (key with the cgroup); logs of older lockstats have them, without
    /// the cgroup, in the legacy stream.
    static let waitsStream = RawLogStream.named(20), legacyWaitsStream = RawLogStream.named(10)
    static let ownersStream = RawLogStream.named(11),
        stacksStream = RawLogStream.named(12)
    static let commsStream = RawLogStream.named(13), countersStream = RawLogStream.named(14)
    /// contention.wakers: the waker entries that changed (as waits), the wakers' user stacks.
    static let wakersStream = RawLogStream.named(15), userStacksStream = RawLogStream.named(16)
    /// contention.wakers: the whole handover (per lock) and hold maps, at each drain they changed.
    static let handoversStream = RawLogStream.named(17), holdsStream = RawLogStream.named(18)
    /// contention.wakers: the whole owner-stack map (owner's kernel stack at a waiter's begin).
    static let ownerStacksStream = RawLogStream.named(19)
    /// The lock names each drain found (ls_bpf_lock_name records).
    static let lockNamesStream = RawLogStream.named(29)
    /// contention.wakers: the maps of each process a waker user stack was kept from (`= PID COMM`,
    /// then /proc/PID/maps), once per process, so parse names the program's release sites.
    static let wakerMapsStream = RawLogStream.named(30)
    private let handle: OpaquePointer
    private let log: RawLogWriter
    private let capacity: Int
    private let changed: UnsafeMutablePointer<ls_bpf_entry>
    private let owners: UnsafeMutablePointer<ls_bpf_owner_entry>
    private let wakerEntries: UnsafeMutablePointer<ls_bpf_waker_entry>
    private let handovers: UnsafeMutablePointer<ls_bpf_handover_entry>
    private let holds: UnsafeMutablePointer<ls_bpf_hold_entry>
    private let ownerStacks: UnsafeMutablePointer<ls_bpf_owner_stack_entry>
    private var handoverFingerprint: UInt64 = 0
    /// Whether it records who woke each sleeping wait (contention.wakers), and whether it tells
    /// interrupt wakes apart (the kernel's BTF placed preempt_count).
    let wakers: Bool, classifiesInterrupts: Bool
    private static let ownerCapacity = 4096
    /// One stack or comm record at a time: id, frame count, frames; or tid, comm.
    private let scratch: UnsafeMutableRawPointer
    private var knownStacks: Set<Int32>
    private var knownUserStacks: Set<Int32>
    private var knownTasks: Set<UInt32>
    private var knownProcesses: Set<UInt32>
    private let system: SystemRoot
    /// Entries are mostly zero buckets: each drain's are stored as one zstd frame (1/8 the bytes).
    private let zstd = Zstd()
    private let frame: UnsafeMutableRawBufferPointer
    /// contention.bpf_time: the programs' run time counted, for the run.
    let runTime: BPFRunTimeStatistics
    /// lockstat's CPU time is measured from the first sample on (presampling's loading is not the run's cost).
    private var measuring = false
    /// contention.types, .locks, .stacks: entries it drops are never written. Each lock type, lock
    /// and stack is judged once (names from kallsyms, read only when locks or stacks are filtered).
    private let filter: ContentionFilter
    private var analysis: ContentionAnalysis?
    private let lockNames: LockNameDrain
    private var typeVerdicts = [UInt32: Bool](minimumCapacity: 64)
    private var lockVerdicts: [LockKey: Bool]
    private var stackVerdicts: [Int32: Bool]
    /// Cgroup ids to paths (nil: no v2 mount), each id's record written when first drained, and
    /// contention.cgroup's verdict per id.
    private let cgroups: CgroupResolver?
    private let cgroupFilter: CgroupFilter
    private var knownCgroups: [UInt64: Bool]
    private let cgroupScratch: UnsafeMutableRawPointer
    private struct LockKey: Hashable { let address: UInt64, kind: UInt32 }

    init(
        entries: Int, scopeProgram: Bool, wakers: Bool, ownerStacksAtBegin: Bool = false, filter: ContentionFilter,
        cgroupFilter: CgroupFilter = CgroupFilter(), cgroups: CgroupResolver?, bpfTime: Bool = false, system: SystemRoot,
        log: RawLogWriter
    ) throws {
        runTime = BPFRunTimeStatistics(on: bpfTime)
        var error = [CChar](repeating: 0, count: 512)
        guard
            let handle = ls_bpf_contention_open(
                Int32(entries), scopeProgram ? 1 : 0, wakers ? 1 : 0, ownerStacksAtBegin ? 1 : 0, &error, error.count)
        else {
            throw LockstatError(String(cString: error))
        }
        self.handle = handle
        lockNames = LockNameDrain(handle)
        self.filter = filter
        self.cgroupFilter = cgroupFilter
        self.cgroups = cgroups
        knownCgroups = Dictionary(minimumCapacity: 1024)
        cgroupScratch = .allocate(byteCount: 8 + CgroupResolver.maxPath, alignment: 8)
        lockVerdicts = Dictionary(minimumCapacity: filter.locks.isEmpty ? 0 : entries)
        stackVerdicts = Dictionary(minimumCapacity: filter.stacks.isEmpty ? 0 : entries * 2)
        if filter.locks.isEmpty && filter.stacks.isEmpty {
            analysis = nil
        } else {
            // After loading, so the BPF programs' own frames have names (and are dropped).
            guard case .success(let kallsyms) = FileReader.readText(system.path("/proc/kallsyms")) else {
                ls_bpf_contention_close(handle)
                throw LockstatError("/proc/kallsyms: cannot be read (contention.locks and .stacks need it)")
            }
            analysis = ContentionAnalysis(groups: [], symbols: KernelSymbols(kallsyms))
        }
        self.log = log
        // Waker user stacks land in files the invoking user reads: only their own processes'.
        let invoker = InvokingUser.current
        _ = ls_bpf_contention_keep_user_stacks_of(handle, invoker.uid == 0 ? -1 : Int64(invoker.uid))
        capacity = entries
        changed = .allocate(capacity: entries)
        owners = .allocate(capacity: Self.ownerCapacity)
        self.wakers = wakers
        wakerEntries = .allocate(capacity: wakers ? entries : 1)
        let handoverCapacity = wakers ? Int(LS_BPF_HANDOVER_ENTRIES) : 1
        handovers = .allocate(capacity: handoverCapacity)
        holds = .allocate(capacity: handoverCapacity)
        ownerStacks = .allocate(capacity: handoverCapacity)
        classifiesInterrupts = ls_bpf_contention_classifies_interrupts(handle) != 0
        scratch = .allocate(byteCount: 8 + Int(LS_BPF_MAX_STACK) * 8, alignment: 8)
        frame = .allocate(
            byteCount: Zstd.bound(
                max(
                    entries * MemoryLayout<ls_bpf_entry>.stride,
                    handoverCapacity * MemoryLayout<ls_bpf_hold_entry>.stride)),
            alignment: 8)
        knownStacks = Set(minimumCapacity: entries)
        knownUserStacks = Set(minimumCapacity: wakers ? entries : 0)
        knownTasks = Set(minimumCapacity: entries)
        knownProcesses = Set(minimumCapacity: wakers ? 256 : 0)
        self.system = system
    }

    deinit {
        changed.deallocate()
        owners.deallocate()
        wakerEntries.deallocate()
        handovers.deallocate()
        holds.deallocate()
        ownerStacks.deallocate()
        frame.deallocate()
        scratch.deallocate()
        cgroupScratch.deallocate()
    }

    func programStarted(pid: pid_t) { _ = ls_bpf_contention_follow(handle, UInt32(pid)) }

    func sample(tick: UInt64, time: UInt64) -> Bool {
        if !measuring {
            measuring = true
            log.append(
                kind: .side, stream: Self.countersStream, tick: tick, time: ls_monotonic_ns(), text: LockstatCPU.record)
        }
        let read = ls_bpf_contention_changed(handle, changed, capacity)
        guard read >= 0 else { return false }
        // After the entries: a new entry's lock was named before the entry was made.
        let names = lockNames.read()
        if !names.isEmpty {
            appendCompressed(
                stream: Self.lockNamesStream, tick: tick, time: time,
                UnsafeRawBufferPointer(start: names.baseAddress, count: names.count * MemoryLayout<ls_bpf_lock_name>.stride))
            analysis?.lockNames.add(names)
        }
        let n = filter.isEmpty && cgroupFilter.isEmpty ? read : keepFiltered(read, tick: tick)
        if n > 0 {
            appendCompressed(
                stream: Self.waitsStream, tick: tick, time: time,
                UnsafeRawBufferPointer(start: changed, count: n * MemoryLayout<ls_bpf_entry>.stride))
            for i in 0..<n {
                keepStack(changed[i].key.stack_id, tick: tick)
                keepTask(changed[i].key.tid, tick: tick)
                _ = keepCgroup(changed[i].key.cgroup, tick: tick)
            }
        }
        let o = ls_bpf_contention_owners_changed(handle, owners, Self.ownerCapacity)
        if o > 0 {
            appendCompressed(
                stream: Self.ownersStream, tick: tick, time: time,
                UnsafeRawBufferPointer(start: owners, count: o * MemoryLayout<ls_bpf_owner_entry>.stride))
            for i in 0..<o { keepTask(owners[i].key.owner_tid, tick: tick) }
        }
        // As many as the waits map holds fit (the waker map is sized alike): never -1.
        let w = ls_bpf_contention_wakers_changed(handle, wakerEntries, capacity)
        if w > 0 {
            appendCompressed(
                stream: Self.wakersStream, tick: tick, time: time,
                UnsafeRawBufferPointer(start: wakerEntries, count: w * MemoryLayout<ls_bpf_waker_entry>.stride))
            for i in 0..<w {
                keepStack(wakerEntries[i].key.stack_id, tick: tick)
                keepStack(wakerEntries[i].key.waker_stack, tick: tick)
                keepStack(wakerEntries[i].key.waker_ustack, user: true, tick: tick)
                if wakerEntries[i].key.waker_ustack >= 0 { keepProcess(wakerEntries[i].key.waker_tgid, tick: tick) }
            }
        }
        if wakers { appendHandovers(tick: tick, time: time) }
        // Counters, then the programs' run time and run count.
        let counters = scratch.assumingMemoryBound(to: UInt64.self)
        ls_bpf_contention_counters(handle, counters)
        ls_bpf_contention_run_time(
            handle, counters + Int(LS_BPF_COUNTERS.rawValue), counters + Int(LS_BPF_COUNTERS.rawValue) + 1)
        log.append(
            kind: .snapshot, stream: Self.countersStream, tick: tick, time: time,
            payload: UnsafeRawBufferPointer(start: scratch, count: (Int(LS_BPF_COUNTERS.rawValue) + 2) * 8))
        log.append(
            kind: .side, stream: PerfRings.drainedStream, tick: tick, time: ls_monotonic_ns(),
            payload: UnsafeRawBufferPointer(start: scratch, count: 0))
        return true
    }

    /// Moves the entries the filter keeps to the front of `changed`; returns how many.
    private func keepFiltered(_ n: Int, tick: UInt64) -> Int {
        var kept = 0
        for i in 0..<n where keeps(changed[i], tick: tick) {
            changed[kept] = changed[i]
            kept += 1
        }
        return kept
    }

    private func keeps(_ e: ls_bpf_entry, tick: UInt64) -> Bool {
        if !cgroupFilter.isEmpty, !keepCgroup(e.key.cgroup, tick: tick) { return false }
        if !filter.types.isEmpty {
            let verdict = typeVerdicts[e.value.flags] ?? filter.keeps(type: ContentionAnalysis.type(e.value.flags))
            typeVerdicts[e.value.flags] = verdict
            guard verdict else { return false }
        }
        if !filter.locks.isEmpty, let analysis {
            let key = LockKey(address: e.key.lock, kind: e.value.kind)
            let verdict =
                lockVerdicts[key]
                ?? filter.keeps(lock: key.address, name: analysis.lockSymbol(key.address, kind: key.kind))
            lockVerdicts[key] = verdict
            guard verdict else { return false }
        }
        if !filter.stacks.isEmpty, let analysis {
            if let known = stackVerdicts[e.key.stack_id] { return known }
            var frames = [UInt64](repeating: 0, count: Int(LS_BPF_MAX_STACK))
            let count = Int(ls_bpf_contention_stack(handle, e.key.stack_id, &frames, LS_BPF_MAX_STACK))
            let stack = analysis.withoutTracingFrames(Array(frames.prefix(count)))
            let verdict = filter.keeps(functions: stack.compactMap { analysis.symbols.functionName($0) })
            stackVerdicts[e.key.stack_id] = verdict
            return verdict
        }
        return true
    }

    /// One standalone zstd frame (kind 4); the entries as they are when zstd fails.
    /// Both maps whole, when the locks' totals moved since the last drain (a sum, no copy kept).
    private func appendHandovers(tick: UInt64, time: UInt64) {
        let capacity = Int(LS_BPF_HANDOVER_ENTRIES)
        let n = ls_bpf_contention_handovers(handle, handovers, capacity)
        guard n > 0 else { return }
        var fingerprint: UInt64 = 0
        for i in 0..<n {
            let v = handovers[i].value
            fingerprint &+= v.episodes &+ v.holds &+ v.untracked_releases &+ v.hold_ns &+ v.gap_ns &+ v.untracked_ns
        }
        let o = ls_bpf_contention_owner_stacks(handle, ownerStacks, capacity)
        for i in 0..<max(0, o) { fingerprint &+= ownerStacks[i].count }
        guard fingerprint != handoverFingerprint else { return }
        if o > 0 {
            appendCompressed(
                stream: Self.ownerStacksStream, tick: tick, time: time,
                UnsafeRawBufferPointer(start: ownerStacks, count: o * MemoryLayout<ls_bpf_owner_stack_entry>.stride))
        }
        handoverFingerprint = fingerprint
        appendCompressed(
            stream: Self.handoversStream, tick: tick, time: time,
            UnsafeRawBufferPointer(start: handovers, count: n * MemoryLayout<ls_bpf_handover_entry>.stride))
        let h = ls_bpf_contention_holds(handle, holds, capacity)
        if h > 0 {
            appendCompressed(
                stream: Self.holdsStream, tick: tick, time: time,
                UnsafeRawBufferPointer(start: holds, count: h * MemoryLayout<ls_bpf_hold_entry>.stride))
            for i in 0..<h { keepStack(holds[i].key.stack_id, tick: tick) }
        }
    }

    private func appendCompressed(stream: UInt16, tick: UInt64, time: UInt64, _ payload: UnsafeRawBufferPointer) {
        let size = zstd.compress(payload, prefix: nil, into: frame, level: 1)
        if size > 0 {
            log.append(
                kind: .compressedSnapshot, stream: stream, tick: tick, time: time,
                payload: UnsafeRawBufferPointer(rebasing: frame[0..<size]))
        } else {
            log.append(kind: .snapshot, stream: stream, tick: tick, time: time, payload: payload)
        }
    }

    /// A kernel stack (or a waker's user stack) the first time an entry names it.
    private func keepStack(_ id: Int32, user: Bool = false, tick: UInt64) {
        guard id >= 0 else { return }
        if user {
            guard knownUserStacks.insert(id).inserted else { return }
        } else {
            guard knownStacks.insert(id).inserted else { return }
        }
        let frames = (scratch + 8).assumingMemoryBound(to: UInt64.self)
        let n =
            user
            ? ls_bpf_contention_user_stack(handle, id, frames, LS_BPF_MAX_STACK)
            : ls_bpf_contention_stack(handle, id, frames, LS_BPF_MAX_STACK)
        scratch.storeBytes(of: id, as: Int32.self)
        scratch.storeBytes(of: UInt32(n), toByteOffset: 4, as: UInt32.self)
        log.append(
            kind: .side, stream: user ? Self.userStacksStream : Self.stacksStream, tick: tick, time: 0,
            payload: UnsafeRawBufferPointer(start: scratch, count: 8 + Int(n) * 8))
    }

    /// A cgroup's path record the first time an entry names it (resolved now: it may be gone by the
    /// run's end); returns whether contention.cgroup keeps its waits.
    private func keepCgroup(_ id: UInt64, tick: UInt64) -> Bool {
        if let verdict = knownCgroups[id] { return verdict }
        let path = (cgroupScratch + 8).assumingMemoryBound(to: CChar.self)
        let n = cgroups?.path(id, into: path, capacity: CgroupResolver.maxPath) ?? 0
        cgroupScratch.storeBytes(of: id, as: UInt64.self)
        log.append(
            kind: .side, stream: CgroupRecords.stream, tick: tick, time: 0,
            payload: UnsafeRawBufferPointer(start: cgroupScratch, count: 8 + n))
        let verdict =
            cgroupFilter.isEmpty
            || cgroupFilter.keeps(id: id, path: n > 0 ? String(cString: path) : nil)
        knownCgroups[id] = verdict
        return verdict
    }

    /// A waker process's maps the first time one of its user stacks is kept (once per process:
    /// a process gone before the drain has none, and its frames stay addresses).
    private func keepProcess(_ tgid: UInt32, tick: UInt64) {
        guard tgid != 0, knownProcesses.insert(tgid).inserted else { return }
        let proc = system.path("/proc/\(tgid)")
        guard case .success(let maps) = FileReader.readText(proc + "/maps") else { return }
        let comm = (try? FileReader.readText(proc + "/comm").get())?.trimmingCharacters(in: .whitespacesAndNewlines)
        log.append(
            kind: .side, stream: Self.wakerMapsStream, tick: tick, time: 0, text: "= \(tgid) \(comm ?? "")\n" + maps)
    }

    private func keepTask(_ tid: UInt32, tick: UInt64) {
        guard knownTasks.insert(tid).inserted else { return }
        scratch.storeBytes(of: tid, as: UInt32.self)
        let comm = (scratch + 4).assumingMemoryBound(to: CChar.self)
        guard ls_bpf_contention_comm(handle, tid, comm) == 0 else { return }
        log.append(
            kind: .side, stream: Self.commsStream, tick: tick, time: 0,
            payload: UnsafeRawBufferPointer(start: scratch, count: 4 + Int(LS_BPF_COMM)))
    }

    func postsampling() {
        _ = ls_bpf_contention_settle(handle)
        _ = sample(tick: UInt64.max, time: ls_monotonic_ns())
        log.append(
            kind: .side, stream: Self.countersStream, tick: UInt64.max, time: ls_monotonic_ns(),
            text: LockstatCPU.record)
        ls_bpf_contention_close(handle)
        runTime.stop()
    }
}

/// CPU time of all of lockstat's threads (their run time in /proc/self/task/*/schedstat), ns.
enum LockstatCPU {
    static let key = "lockstat_cpu_ns"
    /// The side record of the time so far.
    static var record: String { KeyValueLines.text([(key, String(nanoseconds()))]) }

    static func nanoseconds() -> UInt64 {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.reduce(0) { sum, tid in
            guard case .success(let text) = FileReader.readText("/proc/self/task/\(tid)/schedstat"),
                let first = text.split(separator: " ").first, let ns = UInt64(first)
            else { return sum }
            return sum + ns
        }
    }
}
