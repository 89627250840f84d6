import CLockstat
import Glibc
import Synchronization

/// Where full column chunks go beyond the memory budget: one file with no name in $TMPDIR (else
/// /var/tmp, which is on disk where /tmp may be memory), made on the first spill and gone with
/// the process. It has no name, so nobody can link, swap or read it; it only grows, as columns
/// are made once per parse.
public final class ColumnSpill: Sendable {
    public static let shared = ColumnSpill()

    /// Bytes of full chunks the process keeps in memory before it spills: 64 MiB, or
    /// LOCKSTAT_COLUMN_BUDGET_MB (a smaller machine, or a test that wants every run to spill).
    public static let defaultBudget: Int = {
        guard let text = getenv("LOCKSTAT_COLUMN_BUDGET_MB"), let mb = Int(String(cString: text)), mb >= 0 else {
            return 64 << 20
        }
        return mb << 20
    }()

    private struct State {
        var budget = ColumnSpill.defaultBudget
        var inMemory = 0
        var fd: Int32 = -2  // -2: not opened yet; -1: could not be
        var end: Int64 = 0
        var spilledChunks = 0
        /// The last chunks read by index, so element-wise reads of a few columns read each chunk once.
        var cache: [(offset: Int64, values: [Double])] = []
        var nextSlot = 0
    }
    private let state = Mutex(State())
    private static let cacheSlots = 16

    /// Sets the budget (tests spill at a few chunks); returns the one before.
    @discardableResult
    public func setBudget(bytes: Int) -> Int {
        state.withLock { s in
            defer { s.budget = bytes }
            return s.budget
        }
    }

    /// Chunks written to the file so far.
    public var spilledChunks: Int { state.withLock { $0.spilledChunks } }

    func reserve(bytes: Int) -> Bool {
        state.withLock { s in
            guard s.inMemory + bytes <= s.budget else { return false }
            s.inMemory += bytes
            return true
        }
    }

    func release(bytes: Int) { state.withLock { $0.inMemory -= bytes } }

    /// Where the chunk went; nil when there is no file to spill to.
    func write(_ values: [Double]) -> Int64? {
        state.withLock { s in
            if s.fd == -2 { s.fd = Self.open() }
            guard s.fd >= 0 else { return nil }
            let offset = s.end
            let bytes = values.count * 8
            let written = values.withUnsafeBytes { Self.writeAll(s.fd, $0, at: offset) }
            guard written else { return nil }
            s.end += Int64(bytes)
            s.spilledChunks += 1
            return offset
        }
    }

    func read(offset: Int64, into buffer: inout [Double]) {
        let fd = state.withLock { $0.fd }
        buffer = [Double](unsafeUninitializedCapacity: Column.chunkLength) { out, n in
            let got = Self.readAll(fd, UnsafeMutableRawBufferPointer(out), at: offset)
            // A chunk the file no longer gives back (an I/O error) reads as no values.
            if !got { for i in 0..<Column.chunkLength { out[i] = .nan } }
            n = Column.chunkLength
        }
    }

    func value(offset: Int64, index: Int) -> Double {
        if let v = state.withLock({ s in s.cache.first { $0.offset == offset }?.values[index] }) { return v }
        var values = [Double]()
        read(offset: offset, into: &values)
        state.withLock { s in
            if s.cache.count < Self.cacheSlots {
                s.cache.append((offset, values))
            } else {
                s.cache[s.nextSlot] = (offset, values)
            }
            s.nextSlot = (s.nextSlot + 1) % Self.cacheSlots
        }
        return values[index]
    }

    private static func open() -> Int32 {
        let env = getenv("TMPDIR").map { String(cString: $0) }
        let dir = env.flatMap { $0.isEmpty ? nil : $0 } ?? "/var/tmp"
        return ls_open_unlinked(dir)
    }

    /// All `count` bytes through pread or pwrite (`call` moves what follows its first `done`),
    /// retried when interrupted or short; false on an error or the file's end.
    private static func transfer(_ count: Int, _ call: (_ done: Int) -> Int) -> Bool {
        var done = 0
        while done < count {
            let n = call(done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Bool {
        transfer(bytes.count) { done in pwrite(fd, bytes.baseAddress! + done, bytes.count - done, Int(offset) + done) }
    }

    private static func readAll(_ fd: Int32, _ bytes: UnsafeMutableRawBufferPointer, at offset: Int64) -> Bool {
        transfer(bytes.count) { done in pread(fd, bytes.baseAddress! + done, bytes.count - done, Int(offset) + done) }
    }
}
