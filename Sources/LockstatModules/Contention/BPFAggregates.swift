import CLockstat
import LockstatCore

/// bpf mode's raw log read back: each drain's changed aggregation entries (as they stood then)
/// become groups of what each entry gained since its previous reading, so the per-interval
/// series, tables, histogram and flame graph are made exactly as in ring mode.
struct BPFAggregates {
    var groups: [ContentionAnalysis.Contention] = []
    var comms: [UInt32: String] = [:]
    /// (lock, owner tid) → waits behind it and their total (ns), as last read.
    var owners: [(lock: UInt64, tid: UInt32, count: UInt64, total: UInt64)] = []
    /// The kernel's counters (LS_BPF_*) and the programs' run time (ns) at the last drain.
    var counters = [UInt64](repeating: 0, count: Int(LS_BPF_COUNTERS.rawValue))
    var programNanoseconds: UInt64 = 0
    /// lockstat's own CPU time (ns) over the run, and the wall time it is measured against.
    var lockstatNanoseconds: UInt64 = 0
    var wallNanoseconds: UInt64 = 0
    var damaged = 0
    /// contention.wakers: each (lock, waiter stack, last waker's stacks, wake class) entry as last
    /// read; nil when the run recorded no wakers.
    var wakers: [ls_bpf_waker_entry]?
    /// contention.wakers: each sleeping lock's handover totals and its holds under contention by
    /// the holder's wait stack, as last written (whole maps); nil without wakers.
    var handovers: [ls_bpf_handover_entry]?
    var holds: [ls_bpf_hold_entry]?
    /// contention.wakers: the owner's kernel stack at waiters' begins, counted (whole map, last copy).
    var ownerStacks: [ls_bpf_owner_stack_entry]?
    /// Kernel stacks (waiters' and wakers') and wakers' user stacks by id, innermost frame first.
    var kernelStacks = [Int32: [UInt64]]()
    var userStacks = [Int32: [UInt64]]()
    /// Whether the waits were keyed by cgroup (logs of older lockstats were not), and the paths
    /// of the cgroup ids the run resolved.
    var recordedCgroups = false
    var cgroupPaths = [UInt64: String]()
    /// The locks the BPF programs named (slab caches, runqueues).
    var lockNames = LockNames()
    /// The code mappings of the processes wakers' user stacks were kept from (their key's waker_tgid).
    var wakerSpaces = AddressSpaces()

    var begins: UInt64 { counters[Int(LS_BPF_BEGINS.rawValue)] }
    var recorded: UInt64 { counters[Int(LS_BPF_RECORDED.rawValue)] }
    /// Waits the kernel saw and could not keep.
    var lost: UInt64 { counters[Int(LS_BPF_MAP_FULL.rawValue)] + counters[Int(LS_BPF_TSTAMP_FAILED.rawValue)] }

    /// `wakerTgids`: the log's waker entries carry the waker's process (a log written before they
    /// did has the shorter key, read with waker_tgid 0).
    init(
        log: RawLog, analysis symbols: ContentionAnalysis, wakers recordedWakers: Bool = false,
        wakerTgids: Bool = true
    ) {
        var damagedStacks = 0
        func stackRecords(_ stream: UInt16) -> [Int32: [UInt64]] {
            var stacks = [Int32: [UInt64]]()
            for r in log.sideRecords(stream: stream) {
                let b = log.payloadBytes(r)
                guard b.count >= 8 else {
                    damagedStacks += 1
                    continue
                }
                let id = b.loadUnaligned(as: Int32.self)
                let n = Int(b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                guard n <= Int(LS_BPF_MAX_STACK), b.count >= 8 + n * 8 else {
                    damagedStacks += 1
                    continue
                }
                stacks[id] = (0..<n).map { b.loadUnaligned(fromByteOffset: 8 + $0 * 8, as: UInt64.self) }
            }
            return stacks
        }
        let stacks = stackRecords(BPFContentionRecorder.stacksStream)
        kernelStacks = stacks
        if recordedWakers {
            userStacks = stackRecords(BPFContentionRecorder.userStacksStream)
            for r in log.sideRecords(stream: BPFContentionRecorder.wakerMapsStream) {
                wakerSpaces.load(snapshot: log.text(r))
            }
        }
        damaged += damagedStacks
        for r in log.sideRecords(stream: BPFContentionRecorder.commsStream) {
            let b = log.payloadBytes(r)
            guard b.count >= 4 + Int(LS_BPF_COMM) else {
                damaged += 1
                continue
            }
            let name = b[4..<(4 + Int(LS_BPF_COMM))].prefix { $0 != 0 }
            comms[b.loadUnaligned(as: UInt32.self)] = String(decoding: name, as: UTF8.self)
        }
        // Callers and folded stacks are made per stack once.
        var resolved = [Int32: (caller: String, stack: [UInt64])]()
        func resolve(_ id: Int32) -> (caller: String, stack: [UInt64]) {
            if let known = resolved[id] { return known }
            let stack = symbols.withoutTracingFrames(stacks[id] ?? [])
            // A wait whose stack the kernel could not keep (LS_BPF_STACK_FAILED) is still counted.
            let r = (id < 0 ? "[no stack]" : symbols.caller(stack), stack)
            resolved[id] = r
            return r
        }
        lockNames = LockNames(log: log, stream: BPFContentionRecorder.lockNamesStream, damaged: &damaged)
        var last = [Key: ls_bpf_value]()
        // Entries of a log written before the key had the cgroup: the same fields without it.
        for (stream, stride) in [
            (BPFContentionRecorder.legacyWaitsStream, MemoryLayout<ls_bpf_entry>.stride - 8),
            (BPFContentionRecorder.waitsStream, MemoryLayout<ls_bpf_entry>.stride),
        ] {
            var frames = [(RawRecord, [UInt8])]()
            do {
                try log.snapshots(stream: stream).read { r, b in frames.append((r, Array(b))) }
            } catch { damaged += 1 }
            if stream == BPFContentionRecorder.waitsStream, !frames.isEmpty { recordedCgroups = true }
            for (r, bytes) in frames {
                guard bytes.count % stride == 0 else {
                    damaged += 1
                    continue
                }
                bytes.withUnsafeBytes { b in
                    for i in 0..<(b.count / stride) {
                        let e = Self.entry(b, at: i * stride, legacy: stride != MemoryLayout<ls_bpf_entry>.stride)
                        let key = Key(e.key)
                        let before = last[key]
                        last[key] = e.value
                        lockNames.note(e.key.lock, kind: e.value.kind)
                        guard let gained = Self.gain(e.value, since: before) else { continue }
                        let (caller, stack) = resolve(e.key.stack_id)
                        groups.append(
                            .init(
                                tid: e.key.tid, lock: e.key.lock, flags: e.value.flags, end: r.time,
                                count: Int(gained.count),
                                total: gained.total, longest: e.value.max_ns, shortest: e.value.min_ns,
                                buckets: gained.buckets,
                                caller: caller, stack: stack, kind: e.value.kind, cgroup: e.key.cgroup))
                    }
                }
            }
        }
        cgroupPaths = CgroupRecords.read(log, damaged: &damaged)
        let ownerStride = MemoryLayout<ls_bpf_owner_entry>.stride
        var lastOwners = [OwnerKey: ls_bpf_owner_value]()
        var ownerFrames = [[UInt8]]()
        do {
            try log.snapshots(stream: BPFContentionRecorder.ownersStream).read { _, b in ownerFrames.append(Array(b)) }
        } catch { damaged += 1 }
        for bytes in ownerFrames {
            guard bytes.count % ownerStride == 0 else {
                damaged += 1
                continue
            }
            bytes.withUnsafeBytes { b in
                for i in 0..<(b.count / ownerStride) {
                    let e = b.loadUnaligned(fromByteOffset: i * ownerStride, as: ls_bpf_owner_entry.self)
                    lastOwners[OwnerKey(lock: e.key.lock, tid: e.key.owner_tid)] = e.value
                }
            }
        }
        owners = lastOwners.map {
            (lock: $0.key.lock, tid: $0.key.tid, count: $0.value.count, total: $0.value.total_ns)
        }
        .sorted { ($0.total, $0.tid) > ($1.total, $1.tid) }
        if recordedWakers {
            wakers = Self.lastEntries(log, tgids: wakerTgids, damaged: &damaged)
            handovers = Self.lastMap(log, stream: BPFContentionRecorder.handoversStream, damaged: &damaged)
            holds = Self.lastMap(log, stream: BPFContentionRecorder.holdsStream, damaged: &damaged)
            ownerStacks = Self.lastMap(log, stream: BPFContentionRecorder.ownerStacksStream, damaged: &damaged)
        }
        // The counters, then the run time: as many counters as the lockstat that wrote the log had
        // (those it did not have read as 0).
        let counterCounts = [
            Int(LS_BPF_COUNTERS.rawValue), Int(LS_BPF_COUNTERS_BEFORE_PATHS), Int(LS_BPF_COUNTERS_BEFORE_RECURSION),
            Int(LS_BPF_COUNTERS_BEFORE_IN_FLIGHT),
            Int(LS_BPF_COUNTERS_BEFORE_WAKERS),
        ]
        if let r = log.records.last(where: { $0.stream == BPFContentionRecorder.countersStream && $0.kind == .snapshot }
        ),
            case let b = log.payloadBytes(r), b.count % 8 == 0, counterCounts.contains(b.count / 8 - 2)
        {
            let n = b.count / 8 - 2
            for i in 0..<n { counters[i] = b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
            programNanoseconds = b.loadUnaligned(fromByteOffset: n * 8, as: UInt64.self)
        }
        let cpu = log.sideRecords(stream: BPFContentionRecorder.countersStream).compactMap { r -> (UInt64, UInt64)? in
            guard let ns = KeyValueLines.fields(log.text(r))[LockstatCPU.key].flatMap({ UInt64($0) }) else {
                return nil
            }
            return (r.time, ns)
        }
        if let first = cpu.first, let final = cpu.last, cpu.count >= 2, final.0 > first.0, final.1 >= first.1 {
            lockstatNanoseconds = final.1 - first.1
            wallNanoseconds = final.0 - first.0
        }
    }

    /// What an entry gained since it was read `before` (nil: never), or nil when it gained
    /// nothing. Totals only grow; an entry that shrank was damaged (or a map that restarted).
    static func gain(
        _ value: ls_bpf_value, since before: ls_bpf_value?
    ) -> (count: UInt64, total: UInt64, buckets: [UInt32])? {
        let count = value.count &- (before?.count ?? 0)
        let total = value.total_ns &- (before?.total_ns ?? 0)
        guard count > 0, count <= value.count else { return nil }
        var buckets = Self.buckets(value)
        if let before { buckets = zip(buckets, Self.buckets(before)).map { $0 >= $1 ? $0 - $1 : 0 } }
        return (count, total, buckets)
    }

    static func buckets(_ v: ls_bpf_value) -> [UInt32] {
        withUnsafeBytes(of: v.buckets) { Array($0.bindMemory(to: UInt32.self)) }
    }

    /// One entry at `offset`: as the header lays it out, or (`legacy`) without the key's cgroup.
    static func entry(_ b: UnsafeRawBufferPointer, at offset: Int, legacy: Bool) -> ls_bpf_entry {
        guard legacy else { return b.loadUnaligned(fromByteOffset: offset, as: ls_bpf_entry.self) }
        let key = ls_bpf_key(
            lock: b.loadUnaligned(fromByteOffset: offset, as: UInt64.self),
            stack_id: b.loadUnaligned(fromByteOffset: offset + 8, as: Int32.self),
            tid: b.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self), cgroup: 0)
        return ls_bpf_entry(key: key, value: b.loadUnaligned(fromByteOffset: offset + 16, as: ls_bpf_value.self))
    }

    struct Key: Hashable {
        let lock: UInt64, stack: Int32, tid: UInt32, cgroup: UInt64
        init(_ k: ls_bpf_key) {
            lock = k.lock
            stack = k.stack_id
            tid = k.tid
            cgroup = k.cgroup
        }

        /// The map's key again (to delete the entry).
        var bpfKey: ls_bpf_key { ls_bpf_key(lock: lock, stack_id: stack, tid: tid, cgroup: cgroup) }
    }

    struct OwnerKey: Hashable { let lock: UInt64, tid: UInt32 }

    struct WakerKey: Hashable {
        let lock: UInt64, stack: Int32, wakerStack: Int32, wakerUserStack: Int32, wakeClass: UInt32, tgid: UInt32
        init(_ k: ls_bpf_waker_key) {
            tgid = k.waker_tgid
            lock = k.lock
            stack = k.stack_id
            wakerStack = k.waker_stack
            wakerUserStack = k.waker_ustack
            wakeClass = k.wake_class
        }
    }

    /// A map written whole at each drain it changed: its last copy.
    static func lastMap<Entry>(_ log: RawLog, stream: UInt16, damaged: inout Int) -> [Entry] {
        let stride = MemoryLayout<Entry>.stride
        var last = [UInt8]()
        do {
            try log.snapshots(stream: stream).read { _, b in last = Array(b) }
        } catch { damaged += 1 }
        guard last.count % stride == 0 else {
            damaged += 1
            return []
        }
        return last.withUnsafeBytes { b in
            (0..<(b.count / stride)).map { b.loadUnaligned(fromByteOffset: $0 * stride, as: Entry.self) }
        }
    }

    /// The waker entries of the run as each was last read (their totals only grow).
    static func lastEntries(_ log: RawLog, tgids: Bool, damaged: inout Int) -> [ls_bpf_waker_entry] {
        let stride = tgids ? MemoryLayout<ls_bpf_waker_entry>.stride : olderWakerEntryStride
        var frames = [[UInt8]]()
        do {
            try log.snapshots(stream: BPFContentionRecorder.wakersStream).read { _, b in frames.append(Array(b)) }
        } catch { damaged += 1 }
        var last = [WakerKey: ls_bpf_waker_entry]()
        for bytes in frames {
            guard bytes.count % stride == 0 else {
                damaged += 1
                continue
            }
            bytes.withUnsafeBytes { b in
                for i in 0..<(b.count / stride) {
                    let e =
                        tgids
                        ? b.loadUnaligned(fromByteOffset: i * stride, as: ls_bpf_waker_entry.self)
                        : Self.olderWakerEntry(UnsafeRawBufferPointer(rebasing: b[(i * stride)..<((i + 1) * stride)]))
                    last[WakerKey(e.key)] = e
                }
            }
        }
        return Array(last.values)
    }

    /// The key before it held waker_tgid: lock, four 32-bit fields, then the value.
    static let olderWakerKeySize = 24
    static let olderWakerEntryStride = olderWakerKeySize + MemoryLayout<ls_bpf_waker_value>.stride

    static func olderWakerEntry(_ b: UnsafeRawBufferPointer) -> ls_bpf_waker_entry {
        var e = ls_bpf_waker_entry()
        e.key.lock = b.loadUnaligned(as: UInt64.self)
        e.key.stack_id = b.loadUnaligned(fromByteOffset: 8, as: Int32.self)
        e.key.waker_stack = b.loadUnaligned(fromByteOffset: 12, as: Int32.self)
        e.key.waker_ustack = b.loadUnaligned(fromByteOffset: 16, as: Int32.self)
        e.key.wake_class = b.loadUnaligned(fromByteOffset: 20, as: UInt32.self)
        e.value = b.loadUnaligned(fromByteOffset: olderWakerKeySize, as: ls_bpf_waker_value.self)
        return e
    }
}
