import CLockstat

/// A PERF_RECORD_SAMPLE's fields, laid out by the `sample_type` bits its event was opened with
/// (include/uapi/linux/perf_event.h, "struct { ... } PERF_RECORD_SAMPLE"; perf's own
/// evsel__parse_sample in tools/perf/util/evsel.c walks them the same way). Fields whose bit is
/// not set stay 0. The call chain and raw data are views into the record, valid while its bytes
/// are: decoding allocates nothing.
struct PerfSample {
    var identifier: UInt64 = 0
    var ip: UInt64 = 0
    var pid: UInt32 = 0
    var tid: UInt32 = 0
    var time: UInt64 = 0
    var addr: UInt64 = 0
    var id: UInt64 = 0
    var streamID: UInt64 = 0
    var cpu: UInt32 = 0
    var period: UInt64 = 0
    /// PERF_SAMPLE_CALLCHAIN's entries, PERF_CONTEXT_* markers included; empty without the bit.
    var callchain = PerfCallchain(UnsafeRawBufferPointer(start: nil, count: 0))
    /// PERF_SAMPLE_RAW's data (a tracepoint's fields); empty without the bit.
    var raw = UnsafeRawBufferPointer(start: nil, count: 0)
    /// PERF_SAMPLE_REGS_USER's ABI (PERF_SAMPLE_REGS_ABI_*; 0: the task had no user context) and
    /// the values of the registers in the event's sample_regs_user mask, lowest bit first.
    var userRegistersABI: UInt64 = 0
    var userRegisters = UnsafeRawBufferPointer(start: nil, count: 0)
    /// PERF_SAMPLE_STACK_USER's bytes copied from the user stack pointer upward (its dyn_size:
    /// what the kernel could copy of the size asked for).
    var userStack = UnsafeRawBufferPointer(start: nil, count: 0)

    /// The sample_type bits (PERF_SAMPLE_*), as perf_event_attr.sample_type holds them.
    struct Format: OptionSet {
        let rawValue: UInt64
        static let ip = Format(PERF_SAMPLE_IP)
        static let tid = Format(PERF_SAMPLE_TID)
        static let time = Format(PERF_SAMPLE_TIME)
        static let addr = Format(PERF_SAMPLE_ADDR)
        static let read = Format(PERF_SAMPLE_READ)
        static let callchain = Format(PERF_SAMPLE_CALLCHAIN)
        static let id = Format(PERF_SAMPLE_ID)
        static let cpu = Format(PERF_SAMPLE_CPU)
        static let period = Format(PERF_SAMPLE_PERIOD)
        static let streamID = Format(PERF_SAMPLE_STREAM_ID)
        static let raw = Format(PERF_SAMPLE_RAW)
        static let branchStack = Format(PERF_SAMPLE_BRANCH_STACK)
        static let userRegisters = Format(PERF_SAMPLE_REGS_USER)
        static let userStack = Format(PERF_SAMPLE_STACK_USER)
        static let identifier = Format(PERF_SAMPLE_IDENTIFIER)

        init(rawValue: UInt64) { self.rawValue = rawValue }
        private init(_ bit: perf_event_sample_format) { rawValue = UInt64(bit.rawValue) }

        /// The contention module's tracepoints (ls_perf_open_tracepoint), with or without a call chain.
        static func tracepoint(callchain: Bool) -> Format {
            Format(rawValue: ls_perf_tracepoint_sample_type(callchain ? 1 : 0))
        }
        /// The profiler's sampling events (ls_perf_open_sampler).
        static let sampler = Format(rawValue: ls_perf_sampler_sample_type())

        /// The bytes of the sample_id_all trailer of non-sample records ("struct sample_id").
        var sampleIDSize: Int {
            [Format.tid, .time, .id, .streamID, .cpu, .identifier].filter { contains($0) }.count * 8
        }
    }

    /// The most call-chain entries a record can hold: its size is a u16 (perf_event_header).
    static let maxCallchain = (Int(UInt16.max) - 8) / 8

    /// Decodes the record after its header; nil when it is shorter than its fields claim (or
    /// claims a call chain longer than any record holds). Fields after STACK_USER may follow,
    /// unread; READ and BRANCH_STACK, laid out by a read_format and a branch_sample_type
    /// lockstat never sets, are not decoded. `userRegisterMask` is the event's
    /// sample_regs_user: it says how many registers REGS_USER holds.
    init?(_ r: UnsafeRawBufferPointer, format: Format, userRegisterMask: UInt64 = 0) {
        precondition(!format.contains(.read), "PerfSample: PERF_SAMPLE_READ is laid out by an unknown read_format")
        precondition(
            !format.contains(.branchStack),
            "PerfSample: PERF_SAMPLE_BRANCH_STACK is laid out by an unknown branch_sample_type")
        var at = 0
        func u64() -> UInt64? {
            guard at + 8 <= r.count else { return nil }
            defer { at += 8 }
            return r.loadUnaligned(fromByteOffset: at, as: UInt64.self)
        }
        func u32Pair() -> (UInt32, UInt32)? {
            guard at + 8 <= r.count else { return nil }
            defer { at += 8 }
            return (
                r.loadUnaligned(fromByteOffset: at, as: UInt32.self),
                r.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
            )
        }
        if format.contains(.identifier) {
            guard let v = u64() else { return nil }
            identifier = v
        }
        if format.contains(.ip) {
            guard let v = u64() else { return nil }
            ip = v
        }
        if format.contains(.tid) {
            guard let v = u32Pair() else { return nil }
            (pid, tid) = v
        }
        if format.contains(.time) {
            guard let v = u64() else { return nil }
            time = v
        }
        if format.contains(.addr) {
            guard let v = u64() else { return nil }
            addr = v
        }
        if format.contains(.id) {
            guard let v = u64() else { return nil }
            id = v
        }
        if format.contains(.streamID) {
            guard let v = u64() else { return nil }
            streamID = v
        }
        if format.contains(.cpu) {
            guard let v = u32Pair() else { return nil }
            cpu = v.0
        }
        if format.contains(.period) {
            guard let v = u64() else { return nil }
            period = v
        }
        if format.contains(.callchain) {
            // Compared as stored, so a damaged count cannot trap the conversion to Int.
            guard let stored = u64(), stored <= UInt64(Self.maxCallchain) else { return nil }
            let bytes = Int(stored) * 8
            guard at + bytes <= r.count else { return nil }
            callchain = PerfCallchain(UnsafeRawBufferPointer(rebasing: r[at..<(at + bytes)]))
            at += bytes
        }
        if format.contains(.raw) {
            guard at + 4 <= r.count else { return nil }
            let size = Int(r.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            at += 4
            guard at + size <= r.count else { return nil }
            raw = UnsafeRawBufferPointer(rebasing: r[at..<(at + size)])
            at += size
        }
        if format.contains(.userRegisters) {
            guard let abi = u64() else { return nil }
            userRegistersABI = abi
            if abi != 0 {
                let bytes = userRegisterMask.nonzeroBitCount * 8
                guard at + bytes <= r.count else { return nil }
                userRegisters = UnsafeRawBufferPointer(rebasing: r[at..<(at + bytes)])
                at += bytes
            }
        }
        if format.contains(.userStack) {
            // { u64 size; char data[size]; u64 dyn_size; }, the last two only when size is not 0.
            guard let size = u64() else { return nil }
            if size != 0 {
                guard size <= UInt64(r.count - at), at + Int(size) + 8 <= r.count else { return nil }
                let data = at
                at += Int(size)
                guard let dynamic = u64(), dynamic <= size else { return nil }
                userStack = UnsafeRawBufferPointer(rebasing: r[data..<(data + Int(dynamic))])
            }
        }
    }

    /// Decodes the sample_id_all trailer at the end of a non-sample record (MMAP2, COMM, FORK,
    /// EXIT, ...): the same fields as a sample's, in "struct sample_id" order. Returns them and
    /// the bytes of the record's own body before the trailer; nil when the record is shorter.
    static func trailer(_ r: UnsafeRawBufferPointer, format: Format) -> (sample: PerfSample, body: Int)? {
        let body = r.count - format.sampleIDSize
        guard body >= 0 else { return nil }
        var s = PerfSample()
        var at = body
        func next() -> Int {
            defer { at += 8 }
            return at
        }
        if format.contains(.tid) {
            let o = next()
            s.pid = r.loadUnaligned(fromByteOffset: o, as: UInt32.self)
            s.tid = r.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self)
        }
        if format.contains(.time) { s.time = r.loadUnaligned(fromByteOffset: next(), as: UInt64.self) }
        if format.contains(.id) { s.id = r.loadUnaligned(fromByteOffset: next(), as: UInt64.self) }
        if format.contains(.streamID) { s.streamID = r.loadUnaligned(fromByteOffset: next(), as: UInt64.self) }
        if format.contains(.cpu) { s.cpu = r.loadUnaligned(fromByteOffset: next(), as: UInt32.self) }
        if format.contains(.identifier) { s.identifier = r.loadUnaligned(fromByteOffset: next(), as: UInt64.self) }
        return (s, body)
    }

    private init() {}
}

/// A sample's call chain: u64 entries read in place, innermost first, with the
/// PERF_CONTEXT_KERNEL/USER markers (at or above PerfABI.contextMax) where the kernel put them.
struct PerfCallchain: RandomAccessCollection {
    private let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var startIndex: Int { 0 }
    var endIndex: Int { bytes.count / 8 }
    subscript(i: Int) -> UInt64 { bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
}
