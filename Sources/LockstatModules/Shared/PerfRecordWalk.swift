/// The records in bytes drained from a perf ring, one after another: each starts with a
/// perf_event_header (u32 type, u16 misc, u16 size, include/uapi/linux/perf_event.h).
enum PerfRecordWalk {
    /// Calls `body` with each record's type, misc and the bytes after its header; `bad` once if
    /// a record does not fit (a header with size < 8 or past the end), and stops there.
    static func forEach(
        _ bytes: UnsafeRawBufferPointer, bad: () -> Void,
        _ body: (_ type: UInt32, _ misc: UInt16, _ record: UnsafeRawBufferPointer) -> Void
    ) {
        var offset = 0
        while offset + 8 <= bytes.count {
            let type = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            let misc = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
            let size = Int(bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
            guard size >= 8, offset + size <= bytes.count else {
                bad()
                return
            }
            body(type, misc, UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<(offset + size)]))
            offset += size
        }
    }
}
