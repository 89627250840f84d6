/// The records of the profiler's rings, as lockstat stored them verbatim
/// (include/uapi/linux/perf_event.h; the events are opened by ls_perf_open_sampler).
enum ProfileRecord {
    case sample(ProfileSample)
    /// PERF_RECORD_MMAP2: an executable mapping of a file (or [vdso]) into process `pid`.
    case mmap(pid: UInt32, start: UInt64, length: UInt64, fileOffset: UInt64, path: String, time: UInt64)
    /// PERF_RECORD_COMM: a task's new name; `exec` when it came with an exec (the old maps go).
    case comm(pid: UInt32, tid: UInt32, name: String, exec: Bool, time: UInt64)
    /// PERF_RECORD_FORK: a new task; a new process when pid != ppid.
    case fork(pid: UInt32, ppid: UInt32, tid: UInt32, ptid: UInt32, time: UInt64)
    case exit(pid: UInt32, tid: UInt32, time: UInt64)
    /// PERF_RECORD_LOST: samples the kernel dropped because the ring was full.
    case lost(UInt64)

    var time: UInt64 {
        switch self {
        case .sample(let s): return s.time
        case .mmap(_, _, _, _, _, let t), .comm(_, _, _, _, let t), .fork(_, _, _, _, let t), .exit(_, _, let t):
            return t
        case .lost: return 0
        }
    }
}

struct ProfileSample {
    var pid: UInt32
    var tid: UInt32
    var time: UInt64
    var cpu: UInt32
    /// Nanoseconds for cpu-clock, cycles for the hardware counter.
    var period: UInt64
    /// Innermost first: kernel frames, then user frames; the first is the sampled IP. Under
    /// oprofile.callgraph dwarf, the kernel's frames only (the user ones are unwound from
    /// `userRegisters` and `userStack`), or the IP of a sample taken in user mode.
    var frames: [Frame]
    /// oprofile.callgraph dwarf: the registers and stack bytes, views into the raw log's bytes
    /// (valid while the log is); empty otherwise or when the task had no user context.
    var userRegisters = UserRegisters()
    var userStack = UnsafeRawBufferPointer(start: nil, count: 0)

    struct Frame {
        var address: UInt64
        var kernel: Bool
    }
}

enum ProfileRecordReader {
    static let format = PerfSample.Format.sampler

    /// Decodes the records in `bytes`; `body` gets nil for a record that does not decode.
    /// `format`/`userRegisterMask`: the samples' layout (ProfileSetup.format).
    static func forEach(
        _ bytes: UnsafeRawBufferPointer, format: PerfSample.Format = format, userRegisterMask: UInt64 = 0,
        _ body: (ProfileRecord?) -> Void
    ) {
        PerfRecordWalk.forEach(bytes, bad: { body(nil) }) { type, misc, r in
            switch type {
            case PerfABI.recordSample:
                body(decodeSample(r, format: format, userRegisterMask: userRegisterMask).map(ProfileRecord.sample))
            case PerfABI.recordLost where r.count >= 16:
                body(.lost(r.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            case PerfABI.recordMmap2, PerfABI.recordComm, PerfABI.recordFork, PerfABI.recordExit:
                body(decodeSide(type, misc: misc, r))
            default: break
            }
        }
    }

    /// One sample (PerfSample.Format.sampler); with no frame in its call chain, its IP.
    static func decodeSample(
        _ r: UnsafeRawBufferPointer, format: PerfSample.Format = format, userRegisterMask: UInt64 = 0
    ) -> ProfileSample? {
        guard let s = PerfSample(r, format: format, userRegisterMask: userRegisterMask) else { return nil }
        var frames = [ProfileSample.Frame]()
        frames.reserveCapacity(s.callchain.count)
        var kernel = true
        for ip in s.callchain {
            if ip >= PerfABI.contextMax {
                if ip == PerfABI.contextKernel { kernel = true } else if ip == PerfABI.contextUser { kernel = false }
                continue
            }
            frames.append(.init(address: ip, kernel: kernel))
        }
        if frames.isEmpty { frames.append(.init(address: s.ip, kernel: false)) }
        var sample = ProfileSample(pid: s.pid, tid: s.tid, time: s.time, cpu: s.cpu, period: s.period, frames: frames)
        if s.userRegistersABI != 0 && !s.userStack.isEmpty {
            sample.userRegisters = UserRegisters(perfMask: userRegisterMask, registers: s.userRegisters)
            sample.userStack = s.userStack
        }
        return sample
    }

    static func decodeSide(_ type: UInt32, misc: UInt16, _ r: UnsafeRawBufferPointer) -> ProfileRecord? {
        guard let trailer = PerfSample.trailer(r, format: format), trailer.body >= 8 else { return nil }
        let body = trailer.body
        let time = trailer.sample.time
        let pid = r.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let tid = r.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        func string(from start: Int) -> String {
            guard start < body else { return "" }
            var end = start
            while end < body && r[end] != 0 { end += 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: r[start..<end]), as: UTF8.self)
        }
        switch type {
        case PerfABI.recordMmap2:
            // pid tid addr len pgoff, 24 bytes of device/inode or build id, prot flags, filename.
            guard body >= 64 else { return nil }
            return .mmap(
                pid: pid, start: r.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                length: r.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                fileOffset: r.loadUnaligned(fromByteOffset: 24, as: UInt64.self), path: string(from: 64), time: time)
        case PerfABI.recordComm:
            return .comm(pid: pid, tid: tid, name: string(from: 8), exec: misc & PerfABI.miscCommExec != 0, time: time)
        default:
            // fork/exit: pid ppid tid ptid time.
            guard body >= 24 else { return nil }
            let ppid = r.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            let ctid = r.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
            let ptid = r.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
            return type == PerfABI.recordFork
                ? .fork(pid: pid, ppid: ppid, tid: ctid, ptid: ptid, time: time)
                : .exit(pid: pid, tid: ctid, time: time)
        }
    }
}
