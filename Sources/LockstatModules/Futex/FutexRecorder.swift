import CLockstat
import Foundation
import LockstatCore

/// The futex module's sampling: the kernel aggregates every wait (bpf/futex.bpf.c); each tick
/// writes the aggregation entries that changed, as they now stand, the stacks and task names
/// first seen, the memory map of each process first seen (to name lock words and frames at
/// parse) with the build IDs of its mapped code, the sampled stack copies and the kernel's
/// counters; and the kernel's MMAP2/COMM/FORK records of the scope's tasks (numbered streams, one
/// per CPU), which name the code of processes that exit, or libraries mapped, between two ticks.
/// Buffers are allocated at presampling.
final class FutexRecorder: Recorder {
    static let waitsStream = RawLogStream.named(10), stacksStream = RawLogStream.named(12),
        commsStream = RawLogStream.named(13), countersStream = RawLogStream.named(14),
        samplesStream = RawLogStream.named(15), mapsStream = RawLogStream.named(16),
        buildIDsStream = RawLogStream.named(17)
    /// The stacks and lock words named at the end of the run (FutexNames: names, no stack bytes).
    static let namesStream = RawLogStream.named(18)
    private let handle: OpaquePointer
    private let log: RawLogWriter
    private let system: SystemRoot
    /// The test directory its log is in: read back at the end of the run to name what it holds.
    private let directory: TestDirectory
    private let capacity: Int
    private let changed: UnsafeMutablePointer<ls_futex_entry>
    /// The processes of the waits in progress at a tick (the BPF table of waits in progress holds 16384).
    private let waiting: UnsafeMutablePointer<UInt32>
    private static let waitingCapacity = 16384
    /// One stack or comm record at a time: id, frame count, frames; or tid, comm.
    private let scratch: UnsafeMutableRawPointer
    private var knownStacks: Set<Int32>
    private var knownTasks: Set<UInt32>
    private var knownProcesses: Set<UInt32>
    private var knownFiles: Set<String>
    private let zstd = Zstd()
    private let frame: UnsafeMutableRawBufferPointer
    /// futex.bpf_time: the programs' run time counted, for the run.
    let runTime: BPFRunTimeStatistics
    private var measuring = false
    /// The dummy event's rings; nil where perf events cannot open (the map snapshots still name).
    private let mappingRings: PerfRings?
    /// 256 KiB per CPU: a tick's worth of a parallel build's process starts.
    static let mappingPages: Int32 = 64

    init(
        entries: Int, scopeProgram: Bool, bpfTime: Bool = false, system: SystemRoot, directory: TestDirectory,
        log: RawLogWriter
    ) throws {
        runTime = BPFRunTimeStatistics(on: bpfTime)
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = ls_bpf_futex_open(Int32(entries), scopeProgram ? 1 : 0, &error, error.count) else {
            throw LockstatError(String(cString: error))
        }
        self.handle = handle
        self.log = log
        self.system = system
        self.directory = directory
        capacity = entries
        changed = .allocate(capacity: entries)
        waiting = .allocate(capacity: Self.waitingCapacity)
        scratch = .allocate(
            byteCount: 8 + Int(LS_FUTEX_MAX_STACK) * 8 + 8 * Int(LS_FUTEX_COUNTERS.rawValue), alignment: 8)
        frame = .allocate(byteCount: Zstd.bound(entries * MemoryLayout<ls_futex_entry>.stride), alignment: 8)
        knownStacks = Set(minimumCapacity: entries)
        knownTasks = Set(minimumCapacity: entries)
        knownProcesses = Set(minimumCapacity: 1024)
        knownFiles = Set(minimumCapacity: 256)
        mappingRings = Self.openMappingRings(cpus: onlineCPUs(system), scopeProgram: scopeProgram)
    }

    /// Program scope follows lockstat's children, enabled at the program's exec, as the profile does.
    private static func openMappingRings(cpus: [Int32], scopeProgram: Bool) -> PerfRings? {
        let rings = PerfRings(pages: mappingPages)
        do {
            for cpu in cpus {
                try rings.add(cpu: cpu) {
                    let pid = scopeProgram ? getpid() : -1
                    let fd = ls_perf_open_mapping_tracker(pid, cpu, scopeProgram ? 1 : 0, 1)
                    // Before 5.12 MMAP2 carries no build ID: the map snapshots' build IDs still apply.
                    return fd == -EINVAL ? ls_perf_open_mapping_tracker(pid, cpu, scopeProgram ? 1 : 0, 0) : fd
                }
            }
        } catch {
            rings.close()
            return nil
        }
        if !scopeProgram { rings.enable() }
        return rings
    }

    deinit {
        changed.deallocate()
        waiting.deallocate()
        frame.deallocate()
        scratch.deallocate()
    }

    func programStarted(pid: pid_t) { _ = ls_bpf_futex_follow(handle, UInt32(pid)) }

    func sample(tick: UInt64, time: UInt64) -> Bool {
        if !measuring {
            measuring = true
            log.append(
                kind: .side, stream: Self.countersStream, tick: tick, time: ls_monotonic_ns(), text: LockstatCPU.record)
        }
        // A process is mapped while its first wait is still in progress: one killed or exiting
        // mid-wait is gone before the drain that sees its waits end.
        let inProgress = ls_bpf_futex_waiting(handle, waiting, Self.waitingCapacity)
        for i in 0..<max(inProgress, 0) { keepProcess(waiting[i], tick: tick) }
        let n = ls_bpf_futex_changed(handle, changed, capacity)
        guard n >= 0 else { return false }
        if n > 0 {
            let payload = UnsafeRawBufferPointer(start: changed, count: n * MemoryLayout<ls_futex_entry>.stride)
            let size = zstd.compress(payload, prefix: nil, into: frame, level: 1)
            if size > 0 {
                log.append(
                    kind: .compressedSnapshot, stream: Self.waitsStream, tick: tick, time: time,
                    payload: UnsafeRawBufferPointer(rebasing: frame[0..<size]))
            } else {
                log.append(kind: .snapshot, stream: Self.waitsStream, tick: tick, time: time, payload: payload)
            }
            for i in 0..<n {
                let key = changed[i].key
                for id in [key.user_stack, key.kernel_stack, key.waker_user_stack, key.waker_kernel_stack] {
                    keepStack(id, tick: tick)
                }
                keepTask(key.tid, tick: tick)
                keepProcess(key.tgid, tick: tick)
                if key.waker_tid != 0 {
                    keepTask(key.waker_tid, tick: tick)
                    keepProcess(key.waker_tgid, tick: tick)
                }
                if changed[i].value.owner_tid != 0 { keepTask(changed[i].value.owner_tid, tick: tick) }
            }
        }
        var bytes: UnsafePointer<UInt8>?
        let sampled = ls_bpf_futex_samples(handle, &bytes)
        if sampled > 0, let bytes {
            log.append(
                kind: .side, stream: Self.samplesStream, tick: tick, time: time,
                payload: UnsafeRawBufferPointer(start: bytes, count: sampled))
        }
        let counters = scratch.assumingMemoryBound(to: UInt64.self)
        let count = Int(LS_FUTEX_COUNTERS.rawValue)
        ls_bpf_futex_counters(handle, counters)
        ls_bpf_futex_run_time(handle, counters + count, counters + count + 1)
        log.append(
            kind: .snapshot, stream: Self.countersStream, tick: tick, time: time,
            payload: UnsafeRawBufferPointer(start: scratch, count: (count + 2) * 8))
        if let mappingRings {
            mappingRings.drain(into: log, tick: tick, time: time)
        } else {
            log.append(
                kind: .side, stream: PerfRings.drainedStream, tick: tick, time: ls_monotonic_ns(),
                payload: UnsafeRawBufferPointer(start: scratch, count: 0))
        }
        return true
    }

    private func keepStack(_ id: Int32, tick: UInt64) {
        guard id >= 0, knownStacks.insert(id).inserted else { return }
        let frames = (scratch + 8).assumingMemoryBound(to: UInt64.self)
        let n = ls_bpf_futex_stack(handle, id, frames, LS_FUTEX_MAX_STACK)
        scratch.storeBytes(of: id, as: Int32.self)
        scratch.storeBytes(of: UInt32(n), toByteOffset: 4, as: UInt32.self)
        log.append(
            kind: .side, stream: Self.stacksStream, tick: tick, time: 0,
            payload: UnsafeRawBufferPointer(start: scratch, count: 8 + Int(n) * 8))
    }

    private func keepTask(_ tid: UInt32, tick: UInt64) {
        guard knownTasks.insert(tid).inserted else { return }
        scratch.storeBytes(of: tid, as: UInt32.self)
        let comm = (scratch + 4).assumingMemoryBound(to: CChar.self)
        guard ls_bpf_futex_comm(handle, tid, comm) == 0 else { return }
        log.append(
            kind: .side, stream: Self.commsStream, tick: tick, time: 0,
            payload: UnsafeRawBufferPointer(start: scratch, count: 4 + Int(LS_FUTEX_COMM)))
    }

    /// A process's whole memory map the first time one of its tasks waits or wakes (lock words
    /// live in data, heap and stack mappings, not only in code): once per process, not per tick.
    private func keepProcess(_ tgid: UInt32, tick: UInt64) {
        guard knownProcesses.insert(tgid).inserted else { return }
        let proc = system.path("/proc/\(tgid)")
        guard case .success(let maps) = FileReader.readText(proc + "/maps") else { return }
        let comm = (try? FileReader.readText(proc + "/comm").get())?.trimmingCharacters(in: .whitespacesAndNewlines)
        log.append(
            kind: .side, stream: Self.mapsStream, tick: tick, time: 0, text: "= \(tgid) \(comm ?? "")\n" + maps)
        keepBuildIDs(proc: proc, maps: maps, tick: tick)
    }

    /// The GNU build ID of each code file first seen mapped, as `HEX PATH` lines (PATH as the maps
    /// line has it): parse unwinds with a file's call-frame information only if it is still that
    /// build. Read through /proc/PID/map_files: the file mapped, even if deleted or replaced since.
    private func keepBuildIDs(proc: String, maps: String, tick: UInt64) {
        var lines = ""
        for line in maps.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[1].contains("x"), f[5].hasPrefix("/") else { continue }
            let path = String(line[f[5].startIndex...])
            guard knownFiles.insert(path).inserted else { continue }
            let id = UserMapping.buildID(ofFile: proc + "/map_files/" + f[0])
            if !id.isEmpty { lines += id + " " + path + "\n" }
        }
        if !lines.isEmpty {
            log.append(kind: .side, stream: Self.buildIDsStream, tick: tick, time: 0, text: lines)
        }
    }

    func postsampling() {
        mappingRings?.disable()
        _ = sample(tick: UInt64.max, time: ls_monotonic_ns())
        mappingRings?.close()
        log.append(
            kind: .side, stream: Self.countersStream, tick: UInt64.max, time: ls_monotonic_ns(),
            text: LockstatCPU.record)
        ls_bpf_futex_close(handle)
        runTime.stop()
        recordNames()
    }

    /// Unwinds and names the log's stack copies, call paths and lock words now, while the mapped
    /// files are the run's (a file replaced during the run is still refused by its build ID), and
    /// appends the names: parse prefers them to the files as they are then. A log that cannot be
    /// read back gets none, and parse names from the files as an older run's.
    private func recordNames() {
        guard let written = try? RawLog.read(directory, module: FutexModule.moduleName),
            let analysis = try? FutexAnalysis(log: written, kernelNames: false)
        else { return }
        var text = analysis.names.text
        text.withUTF8 { plain in
            let payload = UnsafeRawBufferPointer(plain)
            let compressed = UnsafeMutableRawBufferPointer.allocate(byteCount: Zstd.bound(payload.count), alignment: 8)
            defer { compressed.deallocate() }
            let size = zstd.compress(payload, prefix: nil, into: compressed, level: 3)
            if size > 0 && size < payload.count {
                log.append(
                    kind: .compressedSnapshot, stream: Self.namesStream, tick: UInt64.max, time: ls_monotonic_ns(),
                    payload: UnsafeRawBufferPointer(rebasing: compressed[0..<size]))
            } else {
                log.append(
                    kind: .snapshot, stream: Self.namesStream, tick: UInt64.max, time: ls_monotonic_ns(),
                    payload: payload)
            }
        }
    }
}
