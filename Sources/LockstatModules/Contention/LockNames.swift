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
