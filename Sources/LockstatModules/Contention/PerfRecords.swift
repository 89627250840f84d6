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

    /// Decodes the records in `bytes` (sample_type TID | TIME | CPU | [CALLCHAIN] | RAW, in
    /// the kernel's order). Returns nil for a record that does not fit (counted by the caller).
    static func forEach(_ bytes: UnsafeRawBufferPointer, layout: TracepointLayout, hasCallchain: Bool,
                        _ body: (PerfRecord?) -> Void) {
        PerfRecordWalk.forEach(bytes, bad: { body(nil) }) { type, _, record in
            switch type {
            case PerfABI.recordSample: body(sample(record, layout: layout, hasCallchain: hasCallchain).map(PerfRecord.sample))
            case PerfABI.recordLost where record.count >= 16: body(.lost(record.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            default: break
            }
        }
    }

    /// One sample: pid, tid (u32 each); time (u64); cpu, res (u32 each); callchain (u64 nr,
    /// nr × u64) when the event was opened with one; raw (u32 size, then the tracepoint's data).
    static func sample(_ r: UnsafeRawBufferPointer, layout: TracepointLayout, hasCallchain: Bool) -> ContentionEvent? {
        guard r.count >= 24 else { return nil }
        var at = 24
        var frames = [UInt64]()
        if hasCallchain {
            guard r.count >= at + 8 else { return nil }
            // Read as stored, so a damaged count cannot trap the conversion to Int.
            let stored = r.loadUnaligned(fromByteOffset: at, as: UInt64.self)
            guard stored < 1024 else { return nil }
            let nr = Int(stored)
            guard r.count >= at + 8 + nr * 8 else { return nil }
            for i in 0..<nr {
                let ip = r.loadUnaligned(fromByteOffset: at + 8 + i * 8, as: UInt64.self)
                if ip < PerfABI.contextMax { frames.append(ip) }
            }
            at += 8 + nr * 8
        }
        guard at + 4 <= r.count else { return nil }
        let rawSize = Int(r.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        let raw = at + 4
        guard raw + rawSize <= r.count, rawSize >= max(layout.lockAddressOffset + 8, layout.valueOffset + 4) else { return nil }
        return ContentionEvent(tid: r.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
                               time: r.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                               cpu: r.loadUnaligned(fromByteOffset: 16, as: UInt32.self),
                               type: r.loadUnaligned(fromByteOffset: raw, as: UInt16.self),
                               lockAddress: r.loadUnaligned(fromByteOffset: raw + layout.lockAddressOffset, as: UInt64.self),
                               value: r.loadUnaligned(fromByteOffset: raw + layout.valueOffset, as: UInt32.self), callchain: frames)
    }
}
