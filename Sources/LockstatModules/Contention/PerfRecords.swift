/// The records the kernel wrote into the ring buffers, as lockstat stored them verbatim
/// (include/uapi/linux/perf_event.h).
enum PerfRecord {
    /// PERF_RECORD_SAMPLE of a lock:contention_begin/end tracepoint.
    case sample(ContentionEvent)
    /// PERF_RECORD_LOST: events the kernel dropped because the ring was full.
    case lost(UInt64)
}

struct ContentionEvent {
    var tid: UInt32
    var time: UInt64
    var cpu: UInt32
    /// The tracepoint's id (common_type in the raw data).
    var type: UInt16
    var lockAddress: UInt64
    /// contention_begin's flags, contention_end's ret.
    var value: UInt32
    /// Kernel frames, innermost first, without PERF_CONTEXT_* markers.
    var callchain: [UInt64]
}

/// Field offsets of the raw tracepoint data, from tracefs' format files.
struct TracepointLayout {
    var beginID: UInt16
    var endID: UInt16
    var lockAddressOffset = 8
    var valueOffset = 16

    /// A field offset as the raw log states it; nil past any tracepoint's size (a damaged log).
    static func offset(_ text: String) -> Int? {
        guard let v = Int(text), (0...4096).contains(v) else { return nil }
        return v
    }
}

enum PerfRecordReader {

    /// Decodes the records in `bytes` (PerfSample.Format.tracepoint). Returns nil for a record
    /// that does not fit (counted by the caller).
    static func forEach(
        _ bytes: UnsafeRawBufferPointer, layout: TracepointLayout, hasCallchain: Bool,
        _ body: (PerfRecord?) -> Void
    ) {
        PerfRecordWalk.forEach(bytes, bad: { body(nil) }) { type, _, record in
            switch type {
            case PerfABI.recordSample:
                body(sample(record, layout: layout, hasCallchain: hasCallchain).map(PerfRecord.sample))
            case PerfABI.recordLost where record.count >= 16:
                body(.lost(record.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            default: break
            }
        }
    }

    /// One sample; its raw data is the tracepoint's, which must hold the fields `layout` names.
    static func sample(_ r: UnsafeRawBufferPointer, layout: TracepointLayout, hasCallchain: Bool) -> ContentionEvent? {
        guard let s = PerfSample(r, format: .tracepoint(callchain: hasCallchain)),
            s.raw.count >= max(layout.lockAddressOffset + 8, layout.valueOffset + 4)
        else { return nil }
        return ContentionEvent(
            tid: s.tid, time: s.time, cpu: s.cpu,
            type: s.raw.loadUnaligned(fromByteOffset: 0, as: UInt16.self),
            lockAddress: s.raw.loadUnaligned(
                fromByteOffset: layout.lockAddressOffset,
                as: UInt64.self),
            value: s.raw.loadUnaligned(fromByteOffset: layout.valueOffset, as: UInt32.self),
            callchain: s.callchain.filter { $0 < PerfABI.contextMax })
    }
}
