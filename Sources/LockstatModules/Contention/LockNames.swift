import CLockstat
import LockstatCore

/// Kernel locks the BPF programs named at run time, by address: a lock inside a slab object as
/// `&CACHE` (the kmem_cache it lies in, bpf_get_kmem_cache), a CPU's runqueue lock as `rq_lock`.
/// The raw log keeps each drain's new names, so `lockstat parse` names locks as the run did.
struct LockNames {
    private(set) var byAddress: [UInt64: String] = [:]

    static let runqueue = "rq_lock"

    init() {}

    /// The name a record of the BPF programs gives; nil for a source this lockstat does not know.
    static func name(_ e: ls_bpf_lock_name) -> String? {
        switch e.source {
        case UInt32(LS_LOCK_NAME_SLAB.rawValue):
            let cache = withUnsafeBytes(of: e.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return cache.isEmpty ? nil : "&" + cache
        case UInt32(LS_LOCK_NAME_RUNQUEUE.rawValue): return runqueue
        default: return nil
        }
    }

    /// What the waiting tasks said of an address (mmap_lock, siglock), else its slab or runqueue name.
    func name(_ address: UInt64) -> String? { kinds[address].flatMap(ContentionAnalysis.kindName) ?? byAddress[address] }

    /// LS_LOCK_KIND_* by address: a lock one waiter named is that lock for every waiter (another
    /// task's wait on an mm's mmap_lock, /proc/PID/maps read by a monitor, has kind 0).
    private(set) var kinds: [UInt64: UInt32] = [:]

    mutating func note(_ address: UInt64, kind: UInt32) {
        if kind != 0 { kinds[address] = kind }
    }

    /// A later name for an address wins: a freed object's address can come back in another cache.
    mutating func add(_ entries: UnsafeBufferPointer<ls_bpf_lock_name>) {
        for e in entries {
            if let name = Self.name(e) { byAddress[e.lock] = name }
        }
    }

    /// Forgets the names of locks `live` no longer holds, once they outnumber the live ones twice
    /// (serve and top delete idle entries, so their names go too); runqueue locks are kept, as the
    /// programs report each CPU's once.
    mutating func prune(live: Set<UInt64>) {
        guard byAddress.count + kinds.count > 2 * live.count + 64 else { return }
        byAddress = byAddress.filter { live.contains($0.key) || $0.value == Self.runqueue }
        kinds = kinds.filter { live.contains($0.key) }
    }

    /// The names a raw log kept (`stream`); a record that is not whole entries counts as damaged.
    init(log: RawLog, stream: UInt16, damaged: inout Int) {
        let stride = MemoryLayout<ls_bpf_lock_name>.stride
        var frames = [[UInt8]]()
        do {
            try log.snapshots(stream: stream).read { _, b in frames.append(Array(b)) }
        } catch { damaged += 1 }
        for bytes in frames {
            guard bytes.count % stride == 0 else {
                damaged += 1
                continue
            }
            bytes.withUnsafeBytes { b in
                let entries = (0..<(b.count / stride)).map {
                    b.loadUnaligned(fromByteOffset: $0 * stride, as: ls_bpf_lock_name.self)
                }
                entries.withUnsafeBufferPointer { add($0) }
            }
        }
    }
}

/// Reads the names the BPF programs found since the last read into a buffer allocated once.
final class LockNameDrain {
    static let capacity = 1024
    private let handle: OpaquePointer
    private let buffer = UnsafeMutablePointer<ls_bpf_lock_name>.allocate(capacity: LockNameDrain.capacity)

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { buffer.deallocate() }

    /// The new names (valid until the next read).
    func read() -> UnsafeBufferPointer<ls_bpf_lock_name> {
        let n = ls_bpf_contention_lock_names(handle, buffer, Self.capacity)
        return UnsafeBufferPointer(start: buffer, count: max(0, n))
    }
}

extension LockNames {
    /// What `lockstat doctor` says of each way bpf mode names a lock: whether this kernel has what
    /// it needs (its BTF, /proc/kallsyms) and what would give it. A ✗ here is a lock left as its
    /// address, never a reason the module cannot run.
    static func checks(_ system: SystemRoot) -> [ProbeCheck] {
        let btf = system.path("/sys/kernel/btf/vmlinux")
        let hasBTF = FileReader.check(btf) == nil
        func member(_ type: String, _ name: String) -> Bool { hasBTF && ls_bpf_kernel_has_member(btf, type, name) == 1 }
        let noBTF = "no kernel BTF (\(btf))"
        let fields = member("mm_struct", "mmap_lock") && member("sighand_struct", "siglock")
        let kmemCache = hasBTF && ls_bpf_kernel_has_kfunc(btf, "bpf_get_kmem_cache") == 1
        let runqueue = (member("rq", "__lock") || member("rq", "lock")) && member("sched_entity", "cfs_rq")
        var kallsyms = ""
        if case .success(let text) = FileReader.readText(system.path("/proc/kallsyms")) { kallsyms = text }
        let data = dataSymbols(kallsyms)
        let staticLocks = data.count >= 1000
        let zone = data.contains("contig_page_data") ? "contig_page_data" : data.contains("node_data") ? "node_data" : nil
        return [
            ProbeCheck(
                name: "names: mmap_lock, siglock", ok: fields,
                detail: fields
                    ? "&mm->mmap_lock, &sighand->siglock: fields of the waiting task, read with CO-RE"
                    : hasBTF ? "the kernel's BTF has no mm_struct.mmap_lock (before 5.8)" : noBTF,
                fix: "a 5.8+ kernel with CONFIG_DEBUG_INFO_BTF=y"),
            ProbeCheck(
                name: "names: slab caches", ok: kmemCache,
                detail: kmemCache
                    ? "&CACHE (a lock inside a slab object): the bpf_get_kmem_cache kfunc is in the kernel's BTF"
                    : hasBTF ? "no bpf_get_kmem_cache kfunc in the kernel's BTF: slab objects' locks stay addresses"
                    : noBTF,
                fix: "a 6.13 or later kernel (bpf_get_kmem_cache)"),
            ProbeCheck(
                name: "names: rq_lock", ok: runqueue,
                detail: runqueue
                    ? "each CPU's &rq->__lock, reached from the running task's se.cfs_rq->rq"
                    : hasBTF ? "no sched_entity.cfs_rq in the kernel's BTF: runqueue locks stay addresses" : noBTF,
                fix: "a kernel with CONFIG_FAIR_GROUP_SCHED=y (runqueues is no ksym without CONFIG_KALLSYMS_ALL)"),
            ProbeCheck(
                name: "names: static locks", ok: staticLocks,
                detail: staticLocks
                    ? "by symbol (+offset): /proc/kallsyms has \(data.count) data symbols"
                    : "/proc/kallsyms has \(data.count) data symbols besides section markers (no CONFIG_KALLSYMS_ALL): static locks stay addresses",
                fix: "a kernel built with CONFIG_KALLSYMS_ALL=y"),
            ProbeCheck(
                name: "names: zone_lock", ok: zone == "contig_page_data",
                detail: zone == "contig_page_data"
                    ? "a zone's lock is named by its place in contig_page_data (contig_page_data+0xOFF)"
                    : zone == "node_data"
                        ? "node_data is in /proc/kallsyms, but lockstat does not follow it: NUMA nodes' zone locks stay addresses"
                        : "neither node_data nor contig_page_data is in /proc/kallsyms: zone locks stay addresses",
                fix: "a kernel built with CONFIG_KALLSYMS_ALL=y (non-NUMA kernels: contig_page_data+0xOFF)"),
        ]
    }

    /// The data symbols of a kallsyms text (types d, D, b, B) that are not section markers; read by
    /// type, so a user who sees zero addresses counts them too.
    static func dataSymbols(_ kallsyms: String) -> Set<Substring> {
        var found = Set<Substring>()
        for line in kallsyms.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count == 3, let type = fields[1].first, "dDbB".contains(type) else { continue }
            let name = fields[2].prefix { $0 != "\t" }
            if !KernelSymbols.isDataMarker(String(name)) { found.insert(name) }
        }
        return found
    }
}
