import Glibc
import Synchronization
import SystemPackage

/// The bytes of a raw log read back: the file mapped read-only (no copy of a long run into
/// memory), or bytes already in memory.
public final class RawLogBytes: @unchecked Sendable {
    public let buffer: UnsafeRawBufferPointer
    private let mapped: Bool

    init(mapping fd: Int32, size: Int) throws {
        guard size > 0 else {
            mapped = false
            buffer = UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 8))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw LockstatError(SystemPackage.Errno(rawValue: errno).description)
        }
        mapped = true
        buffer = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// How far readers have gone since the mapping's pages were last let go.
    private let readSinceDrop = Atomic<Int>(0)
    static let dropEvery = 8 << 20

    /// Called as a log is read in order with the bytes just read: every 8 MB, lets the kernel
    /// take back the mapping's pages (they read in again if used), so the process never holds
    /// more of a long log than it is reading. Bytes in memory are never touched.
    func read(_ bytes: Int) {
        guard mapped, readSinceDrop.add(bytes, ordering: .relaxed).newValue >= Self.dropEvery else { return }
        readSinceDrop.store(0, ordering: .relaxed)
        madvise(UnsafeMutableRawPointer(mutating: buffer.baseAddress), buffer.count, MADV_DONTNEED)
    }

    init(_ bytes: [UInt8]) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        copy.copyBytes(from: bytes)
        mapped = false
        buffer = UnsafeRawBufferPointer(copy)
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: buffer.baseAddress), buffer.count)
        } else {
            UnsafeMutableRawBufferPointer(mutating: buffer).deallocate()
        }
    }
}
