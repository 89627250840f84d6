import CLockstat
import Foundation
import LockstatCore

/// What a futex wait was for, told from the waiter's frames in the C library.
enum FutexKind: String, CaseIterable {
    /// `gil`: CPython's global interpreter lock (a condition variable and a mutex it sleeps on:
    /// waiting to run Python code is contention, although the wait is a condvar's).
    case mutex, rwlock, condvar, semaphore, barrier, gil, other
    /// `idle`: a Go runtime thread (M) asleep with nothing to run (runtime.notesleep): no lock.
    case idle
    /// A Java monitor (`synchronized`): contention, although it sleeps on a condition variable.
    case monitor
    /// A Java LockSupport.park whose caller is not named: a ReentrantLock's wait, or an idle
    /// pool thread's or a Condition's (an event): not counted as contention.
    case park

    /// Waits of all kinds but these are lock contention: a condition variable's or a barrier's
    /// waiter waits for an event, an idle thread for work, a bare park for either.
    var isContention: Bool { ![.condvar, .barrier, .idle, .park].contains(self) }

    /// Whether the waiter is in glibc's pthread_mutex_lock (C++'s std::mutex calls it): only then is
    /// the word's offset 8 the owner's tid (pthread_mutex_t's __owner). A Rust Mutex keeps its data
    /// there, libc's own locks (`_IO_lock_t`, `__lll_lock_wait_private`) a pointer.
    static func isGlibcMutexWait(_ frames: [String]) -> Bool {
        frames.contains {
            $0.contains("pthread_mutex_lock") || $0.contains("pthread_mutex_timedlock")
                || $0.contains("pthread_mutex_clocklock")
        }
    }

    /// A runtime's lock named by its frames decides (FutexRuntimes.swift); else the innermost
    /// frame naming a glibc (or libstdc++) synchronisation function: a condition variable's
    /// wait that sleeps again on its mutex is a mutex wait.
    static func classify(_ frames: [String]) -> FutexKind {
        if let kind = runtimeKind(frames.map { $0.lowercased() }) { return kind }
        for name in frames {
            let n = name.lowercased()
            if n.contains("lll_lock_wait") || n.contains("pthread_mutex") || n.contains("mutex_lock") { return .mutex }
            if n.contains("cond_wait") || n.contains("cond_timedwait") || n.contains("cond_clockwait")
                || n.contains("condition_variable")
            {
                return .condvar
            }
            if n.contains("rwlock") { return .rwlock }
            if n.contains("sem_wait") || n.contains("sem_timedwait") || n.contains("sem_clockwait") {
                return .semaphore
            }
            if n.contains("barrier_wait") { return .barrier }
        }
        return .other
    }
}

/// One aggregation entry as decoded: the key's fields and the totals as last read.
struct FutexWait {
    var uaddr: UInt64
    var tgid: UInt32, tid: UInt32
    var userStack: Int32, kernelStack: Int32
    var wakerUserStack: Int32, wakerKernelStack: Int32
    var wakerTid: UInt32, wakerTgid: UInt32
    var outcome: UInt32, op: UInt32
    var scanned: [UInt64], wakerScanned: [UInt64]
    var count: UInt64, total: UInt64, max: UInt64, min: UInt64
    var ownerTid: UInt32

    init(_ e: ls_futex_entry) {
        let k = e.key
        uaddr = k.uaddr
        tgid = k.tgid
        tid = k.tid
        userStack = k.user_stack
        kernelStack = k.kernel_stack
        wakerUserStack = k.waker_user_stack
        wakerKernelStack = k.waker_kernel_stack
        wakerTid = k.waker_tid
        wakerTgid = k.waker_tgid
        outcome = k.outcome
        op = k.op
        scanned = withUnsafeBytes(of: k.scanned) { Array($0.bindMemory(to: UInt64.self)) }.filter { $0 != 0 }
        wakerScanned = withUnsafeBytes(of: k.waker_scanned) { Array($0.bindMemory(to: UInt64.self)) }.filter { $0 != 0 }
        count = e.value.count
        total = e.value.total_ns
        max = e.value.max_ns
        min = e.value.min_ns
        ownerTid = e.value.owner_tid
    }

    /// A wait that slept (woken, timed out, interrupted); one that found the word changed did not.
    var slept: Bool { outcome != LS_FUTEX_NO_SLEEP.rawValue && outcome != LS_FUTEX_OTHER_ERROR.rawValue }
}

/// The futex module's raw log read back: the last reading of each aggregation entry, named
/// (lock word by data symbol or mapping, frames by the mapped files' symbols, kind, waker).
struct FutexAnalysis {
    /// A wait named: what the tables group by.
    struct Named {
        var wait: FutexWait
        var lock: String
        var kind: FutexKind
        var waiter: String, waker: String
        var task: String, owner: String?
        /// Root first: the waiter's and the waker's frames (user, then kernel).
        var waiterStack: [String], wakerStack: [String]
        /// How the waiter's and the waker's user frames were found.
        var waiterSource = StackSource.none, wakerSource = StackSource.none
    }

    /// How a user stack's frames were found: unwound by the DWARF call-frame information from
    /// the key's stack copy, else the frame-pointer walk with the scanned return addresses.
    enum StackSource: String {
        case dwarf, scanned, none
    }

    /// A call path as the BPF programs key their stack copies (`struct site`): the process, the
    /// frame-pointer walk's stack id and the scanned words.
    struct Site: Hashable {
        var tgid: UInt32, userStack: Int32, scanned: [UInt64]
    }

    /// A stack copy: the registers at the futex call (or the wake) and the bytes from sp up.
    struct StackCopy {
        var registers: UserRegisters
        var bytes: [UInt8]
    }

    var waits: [Named] = []
    var counters = [UInt64](repeating: 0, count: Int(LS_FUTEX_COUNTERS.rawValue))
    var programNanoseconds: UInt64 = 0
    var lockstatNanoseconds: UInt64 = 0, wallNanoseconds: UInt64 = 0
    /// Stack copies in the raw log, and their bytes; the copies whose DWARF unwinding reached a
    /// caller outside the C library (their frames are the key's stack).
    var sampleCount = 0, sampleBytes = 0, dwarfUnwound = 0
    /// Mapped files the unwinder left out (their frames get no CFI), and why.
    var leftOutFiles: [String: UserUnwinder.LeftOut] = [:]
    /// Files replaced since the run (another build ID): their frames and lock words are unknown.
    var replacedFiles = Set<String>()
    var damaged = 0
    var scope = "program"
    /// Files the frames or lock words are in that could not be read at parse (their names: [unknown]).
    var unreadableFiles: [String] = []
    /// Perf maps (JIT code's names) found and not read, and why: their frames are [unknown].
    var refusedPerfMaps: [String: String] = [:]
    /// Files the frames are in that name no function (stripped): their frames are [unknown].
    var filesWithoutSymbols: [String] = []
    /// Each process's name (its /proc comm when its map was read), by process id.
    var processNames: [UInt32: String] = [:]
    /// What this analysis named from the files mapped now: all of it for a log without recorded
    /// names (the recorder writes these at the run's end), nothing new for one with them.
    var names = FutexNames()

    static let noWaker = "[no waker]"

    /// The build ID an MMAP2 record carries in place of device and inode (the corresponding C
    /// constant is `PERF_RECORD_MISC_MMAP_BUILD_ID`; perf_event.h: size at byte 32, the ID from 36), by path.
    static func mmapBuildIDs(_ bytes: UnsafeRawBufferPointer, _ body: (String, String) -> Void) {
        PerfRecordWalk.forEach(bytes, bad: {}) { type, misc, r in
            guard type == PerfABI.recordMmap2, misc & UInt16(PERF_RECORD_MISC_MMAP_BUILD_ID) != 0, r.count > 64 else {
                return
            }
            let size = min(Int(r[32]), 20)
            guard size > 0 else { return }
            let id = r[36..<(36 + size)].map { String(format: "%02x", $0) }.joined()
            let path = String(decoding: r[64...].prefix { $0 != 0 }, as: UTF8.self)
            if path.hasPrefix("/") { body(path, id) }
        }
    }

    /// `kernelNames` false: kernel frames stay unnamed (the names recorded at the end of the run
    /// are user frames and lock words: kallsyms is not parsed for them).
    init(log: RawLog, kernelNames: Bool = true) throws {
        let layout = KeyValueLines.fields(
            log.sideRecords(stream: FutexModule.layoutStream).map { log.text($0) + "\n" }.joined())
        scope = layout["scope"] ?? scope
        let kernel = KernelSymbols(
            kernelNames ? try KallsymsRecord.read(log, stream: FutexModule.kallsymsStream) : "")
        var stacks = [Int32: [UInt64]]()
        for r in log.sideRecords(stream: FutexRecorder.stacksStream) {
            let b = log.payloadBytes(r)
            guard b.count >= 8 else {
                damaged += 1
                continue
            }
            let n = Int(b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            guard n <= Int(LS_FUTEX_MAX_STACK), b.count >= 8 + n * 8 else {
                damaged += 1
                continue
            }
            stacks[b.loadUnaligned(as: Int32.self)] = (0..<n).map {
                b.loadUnaligned(fromByteOffset: 8 + $0 * 8, as: UInt64.self)
            }
        }
        var comms = [UInt32: String]()
        for r in log.sideRecords(stream: FutexRecorder.commsStream) {
            let b = log.payloadBytes(r)
            guard b.count >= 4 + Int(LS_FUTEX_COMM) else {
                damaged += 1
                continue
            }
            comms[b.loadUnaligned(as: UInt32.self)] = String(
                decoding: b[4..<(4 + Int(LS_FUTEX_COMM))].prefix { $0 != 0 }, as: UTF8.self)
        }
        var spaces = AddressSpaces()
        var maps = [UInt32: [AddressSpaces.Mapping]]()
        for r in log.sideRecords(stream: FutexRecorder.mapsStream) {
            let text = log.text(r)
            spaces.load(snapshot: text)
            var one = AddressSpaces()
            one.load(snapshot: text)
            let header = text.dropFirst(2).prefix { $0 != "\n" }.split(separator: " ", maxSplits: 1)
            if let pid = header.first.flatMap({ UInt32($0) }) {
                maps[pid] = one.mappings(pid: pid)
                processNames[pid] = header.count > 1 ? String(header[1]) : ""
            }
        }
        var buildIDs = [String: String]()
        for r in log.sideRecords(stream: FutexRecorder.buildIDsStream) {
            for line in log.text(r).split(separator: "\n") {
                guard let space = line.firstIndex(of: " ") else { continue }
                buildIDs[String(line[line.index(after: space)...])] = String(line[..<space])
            }
        }
        // The kernel's records of mappings as they appeared, per CPU, replayed in time order: the
        // code of processes no tick read the maps of (gone before it), and their build IDs.
        var records = [ProfileRecord]()
        for r in log.records where r.kind == .snapshot && r.stream < RawLogStream.firstNamed {
            let bytes = log.payloadBytes(r)
            ProfileRecordReader.forEach(bytes) { record in
                if let record { records.append(record) } else { damaged += 1 }
            }
            Self.mmapBuildIDs(bytes) { path, id in if buildIDs[path] == nil { buildIDs[path] = id } }
        }
        var tracked = AddressSpaces()
        for record in records.enumerated().sorted(by: { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }) {
            tracked.apply(record.element)
        }
        spaces.adopt(tracked)
        // Names recorded at the run's end are the run's files' own: preferred to the files as they are now.
        let recorded = FutexNames(log: log, damaged: &damaged)
        var copies = [Site: StackCopy]()
        for r in log.sideRecords(stream: FutexRecorder.samplesStream) {
            let b = log.payloadBytes(r)
            sampleBytes += b.count
            let stride = MemoryLayout<ls_futex_sample>.stride
            guard b.count % stride == 0 else {
                damaged += 1
                continue
            }
            sampleCount += b.count / stride
            for i in 0..<(b.count / stride) {
                let one = UnsafeRawBufferPointer(rebasing: b[(i * stride)..<((i + 1) * stride)])
                let (site, copy) = Self.stackCopy(one)
                copies[site] = copies[site] ?? copy
            }
        }
        // The last reading of each entry holds its totals.
        var last = [Data: ls_futex_entry]()
        let stride = MemoryLayout<ls_futex_entry>.stride
        do {
            try log.snapshots(stream: FutexRecorder.waitsStream).read { _, b in
                guard b.count % stride == 0 else {
                    damaged += 1
                    return
                }
                for i in 0..<(b.count / stride) {
                    let e = b.loadUnaligned(fromByteOffset: i * stride, as: ls_futex_entry.self)
                    last[Data(b[(i * stride)..<(i * stride + MemoryLayout<ls_futex_key>.size)])] = e
                }
            }
        } catch { damaged += 1 }
        let counterBytes = (Int(LS_FUTEX_COUNTERS.rawValue) + 2) * 8
        if let r = log.records.last(where: { $0.stream == FutexRecorder.countersStream && $0.kind == .snapshot }),
            log.payloadBytes(r).count == counterBytes
        {
            let b = log.payloadBytes(r)
            counters = (0..<Int(LS_FUTEX_COUNTERS.rawValue)).map {
                b.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)
            }
            programNanoseconds = b.loadUnaligned(fromByteOffset: Int(LS_FUTEX_COUNTERS.rawValue) * 8, as: UInt64.self)
        }
        let cpu = log.sideRecords(stream: FutexRecorder.countersStream).compactMap { r -> (UInt64, UInt64)? in
            KeyValueLines.fields(log.text(r))[LockstatCPU.key].flatMap { UInt64($0) }.map { (r.time, $0) }
        }
        if let first = cpu.first, let final = cpu.last, cpu.count >= 2, final.0 > first.0, final.1 >= first.1 {
            lockstatNanoseconds = final.1 - first.1
            wallNanoseconds = final.0 - first.0
        }

        // A file whose build ID is not the run's (replaced since) names nothing: its symbols are
        // another build's. Its mappings count as unknown, for frames and lock words alike.
        var buildAtParse = [String: Bool]()
        func isRunsBuild(_ path: String) -> Bool {
            guard let recorded = buildIDs[path] else { return true }
            if let known = buildAtParse[path] { return known }
            let now = UserMapping.buildID(ofFile: path.hasSuffix(" (deleted)") ? String(path.dropLast(10)) : path)
            let same = now.isEmpty || now == recorded
            buildAtParse[path] = same
            if !same { replacedFiles.insert(path) }
            return same
        }
        func mapping(_ pid: UInt32, _ address: UInt64) -> AddressSpaces.Mapping? {
            spaces.mapping(pid: pid, address: address).flatMap { isRunsBuild($0.path) ? $0 : nil }
        }
        let symbols = Symbolizer(kernel: kernel)
        var lockNames = LockWordNames()
        func task(_ tid: UInt32) -> String { "\(comms[tid] ?? "")[\(tid)]" }
        var jit = JitPerfMaps()
        // Code in no file (a JIT's) is named by the process's perf map, if it wrote one.
        func userFrame(_ pid: UInt32, _ pc: UInt64, returnAddress: Bool) -> Symbolizer.Frame {
            let m = mapping(pid, pc)
            let frame = symbols.userFrame(pc, in: m, returnAddress: returnAddress)
            guard frame.symbol == Symbolizer.unknownSymbol, !(m?.path.hasPrefix("/") ?? false),
                let name = jit.name(pid: pid, address: pc &- (returnAddress ? 1 : 0))
            else { return frame }
            return Symbolizer.Frame(symbol: name, image: "perf-\(pid).map", kind: .program)
        }
        func userFrames(_ pid: UInt32, _ ips: [UInt64], scanned: [UInt64]) -> [Symbolizer.Frame] {
            let fp = ips.enumerated().map { i, ip in userFrame(pid, ip, returnAddress: i > 0) }
            // A scanned word in no function (a data pointer near the code) names nothing.
            let found = scanned.map { userFrame(pid, $0, returnAddress: true) }.filter {
                $0.symbol != Symbolizer.unknownSymbol
            }
            return Self.merged(fp: fp, scanned: found)
        }
        func kernelFrames(_ id: Int32) -> [String] {
            (stacks[id] ?? []).map { kernel.functionName($0) ?? Symbolizer.unknownSymbol }.drop(
                while: Self.isTracingFrame
            )
            .map { $0 }
        }
        // The unwinder gets each process's code mappings with the build IDs recorded for them.
        let unwinder = UserUnwinder()
        var codeMappings = [UInt32: [UserMapping]]()
        func userMappings(_ pid: UInt32) -> [UserMapping] {
            if let known = codeMappings[pid] { return known }
            let code = spaces.mappings(pid: pid).filter {
                $0.executable && $0.path.hasPrefix("/") && $0.sharedMemory == nil
            }.map {
                UserMapping(
                    path: $0.path, start: $0.start, end: $0.end, fileOffset: $0.fileOffset,
                    buildID: buildIDs[$0.path] ?? "")
            }
            codeMappings[pid] = code
            return code
        }
        // The site's stack copy unwound, if it reaches a named caller outside the C library.
        func dwarfFrames(_ site: Site) -> [Symbolizer.Frame]? {
            guard let copy = copies[site] else { return nil }
            let stack = copy.bytes.withUnsafeBytes {
                unwinder.unwind(mappings: userMappings(site.tgid), registers: copy.registers, stack: $0)
            }
            let named = zip(stack.pcs, stack.returnAddress).map { pc, returnAddress in
                userFrame(site.tgid, pc, returnAddress: returnAddress)
            }
            return Self.reachesCaller(named) ? named : nil
        }
        var used = [Site: FutexNames.Stack]()
        // The recorded frames of the call path, else the DWARF frames of its copy, else the walk
        // with the scanned words.
        func userStack(_ pid: UInt32, _ id: Int32, scanned: [UInt64]) -> ([Symbolizer.Frame], StackSource) {
            let site = Site(tgid: pid, userStack: id, scanned: scanned)
            if let known = used[site] ?? recorded?.stacks[site] {
                used[site] = known
                return (known.frames, known.source)
            }
            var stack = FutexNames.Stack(frames: [], source: .dwarf)
            if let frames = dwarfFrames(site) {
                stack.frames = frames
            } else {
                stack.frames = userFrames(pid, stacks[id] ?? [], scanned: scanned)
                stack.source = stack.frames.isEmpty ? .none : .scanned
            }
            used[site] = stack
            names.stacks[site] = stack
            return (stack.frames, stack.source)
        }
        func lockName(_ w: FutexWait) -> String {
            let word = FutexNames.LockWord(tgid: w.tgid, address: w.uaddr)
            if let known = recorded?.locks[word] ?? names.locks[word] { return known }
            let name = lockNames.name(w.uaddr, pid: w.tgid, maps: (maps[w.tgid] ?? []).filter { isRunsBuild($0.path) })
            names.locks[word] = name
            return name
        }
        for e in last.values {
            let w = FutexWait(e)
            let (waiter, waiterSource) = userStack(w.tgid, w.userStack, scanned: w.scanned)
            let kind = FutexKind.classify(waiter.map(\.symbol))
            let lock = lockName(w)
            var named = Named(
                wait: w, lock: lock, kind: kind, waiter: Self.site(waiter), waker: Self.noWaker, task: task(w.tid),
                owner: nil,
                waiterStack: waiter.reversed().map(\.symbol) + kernelFrames(w.kernelStack).reversed(),
                wakerStack: [], waiterSource: waiterSource)
            if w.wakerTid != 0 {
                let (waker, wakerSource) = userStack(w.wakerTgid, w.wakerUserStack, scanned: w.wakerScanned)
                named.waker = Self.site(waker)
                named.wakerStack = waker.reversed().map(\.symbol) + kernelFrames(w.wakerKernelStack).reversed()
                named.wakerSource = wakerSource
            }
            let pi = w.op == LS_FUTEX_OP_LOCK_PI.rawValue || w.op == LS_FUTEX_OP_LOCK_PI2.rawValue
            if w.ownerTid != 0, pi || FutexKind.isGlibcMutexWait(waiter.map(\.symbol)) { named.owner = task(w.ownerTid) }
            waits.append(named)
        }
        waits.sort { ($0.wait.total, $0.wait.tid, $0.lock) > ($1.wait.total, $1.wait.tid, $1.lock) }
        names.unreadableFiles = Set(symbols.unreadableFiles + lockNames.unreadable)
        names.filesWithoutSymbols = Set(symbols.filesWithoutSymbols)
        names.leftOutFiles = unwinder.leftOut
        names.replacedFiles = replacedFiles
        names.refusedPerfMaps = jit.refused
        unreadableFiles = names.unreadableFiles.union(recorded?.unreadableFiles ?? []).sorted()
        filesWithoutSymbols = names.filesWithoutSymbols.union(recorded?.filesWithoutSymbols ?? []).sorted()
        leftOutFiles = names.leftOutFiles.merging(recorded?.leftOutFiles ?? [:]) { now, _ in now }
        replacedFiles.formUnion(recorded?.replacedFiles ?? [])
        refusedPerfMaps = names.refusedPerfMaps.merging(recorded?.refusedPerfMaps ?? [:]) { now, _ in now }
        dwarfUnwound = used.values.filter { $0.source == .dwarf }.count
    }

    /// Only the waits `filter` keeps: by kind, by the lock word's name (whole, or its symbol
    /// without the file: `heavy_lock`) or address, by a frame of the waiter's stack (user and kernel).
    mutating func keep(_ filter: ContentionFilter) {
        guard !filter.isEmpty else { return }
        waits = waits.filter { n in
            let symbol = n.lock.range(of: " (").map { String(n.lock[..<$0.lowerBound]) }
            return filter.keeps(type: n.kind.rawValue)
                && (filter.keeps(lock: n.wait.uaddr, name: n.lock)
                    || symbol.map { filter.keeps(lock: n.wait.uaddr, name: $0) } == true)
                && filter.keeps(functions: n.waiterStack)
        }
    }

    /// One `struct ls_futex_sample`: its call path and its copy (the bytes the BPF program read).
    static func stackCopy(_ b: UnsafeRawBufferPointer) -> (Site, StackCopy) {
        typealias S = ls_futex_sample
        func u64(_ field: KeyPath<S, UInt64>) -> UInt64 {
            b.loadUnaligned(fromByteOffset: MemoryLayout<S>.offset(of: field)!, as: UInt64.self)
        }
        let scannedAt = MemoryLayout<S>.offset(of: \S.scanned)!
        let site = Site(
            tgid: b.loadUnaligned(fromByteOffset: MemoryLayout<S>.offset(of: \S.tgid)!, as: UInt32.self),
            userStack: b.loadUnaligned(fromByteOffset: MemoryLayout<S>.offset(of: \S.user_stack)!, as: Int32.self),
            scanned: (0..<Int(LS_FUTEX_SCANNED)).map {
                b.loadUnaligned(fromByteOffset: scannedAt + $0 * 8, as: UInt64.self)
            }.filter { $0 != 0 })
        let size = Int(b.loadUnaligned(fromByteOffset: MemoryLayout<S>.offset(of: \S.size)!, as: UInt32.self))
        let stackAt = MemoryLayout<S>.offset(of: \S.stack)!
        let bytes = Array(b[stackAt..<(stackAt + min(size, Int(LS_FUTEX_COPY_BYTES)))])
        return (site, StackCopy(registers: UserRegisters(pc: u64(\S.ip), sp: u64(\S.sp), bp: u64(\S.bp)), bytes: bytes))
    }

    /// Whether unwound frames reach a caller: a named frame after the first, outside the C
    /// library and the loader (a copy cut short, or code without CFI, may stop before it).
    static func reachesCaller(_ frames: [Symbolizer.Frame]) -> Bool {
        frames.dropFirst().contains { f in f.symbol != Symbolizer.unknownSymbol && !isSystemLibrary(f.image) }
    }

    static func isSystemLibrary(_ image: String) -> Bool {
        ["libc.so", "libpthread", "ld-linux", "libstdc++"].contains { image.hasPrefix($0) }
    }

    /// The frame-pointer walk's frames with the scanned return addresses put after its first
    /// (the call into the kernel): the walk skips the callers whose return addresses only the
    /// scan found, since the C library keeps no frame pointers. A name already walked is not repeated.
    static func merged(fp: [Symbolizer.Frame], scanned: [Symbolizer.Frame]) -> [Symbolizer.Frame] {
        guard let leaf = fp.first else { return scanned }
        var out = [leaf]
        for f in scanned + fp.dropFirst() where !out.contains(f) {
            out.append(f)
        }
        return out
    }

    /// The call site: the first frame with a name outside the C library, the dynamic loader and
    /// the Go runtime's futex functions.
    static func site(_ frames: [Symbolizer.Frame]) -> String {
        let outside = frames.first { f in
            f.symbol != Symbolizer.unknownSymbol && !isSystemLibrary(f.image) && !isGoRuntimeFutexFrame(f.symbol)
        }
        return (outside ?? frames.first).map(\.symbol) ?? "[no stack]"
    }

    /// The tracing machinery at the top of a kernel stack taken in a BPF program on a syscall
    /// tracepoint (the program, perf_syscall_enter, syscall_trace_enter): not the call's own frames.
    static func isTracingFrame(_ name: String) -> Bool {
        ContentionAnalysis.isTracingFrame(name) || name.hasPrefix("perf_syscall_") || name.hasPrefix("perf_trace_")
            || name.hasPrefix("syscall_trace_") || name == "trace_call_bpf"
    }

    static func outcomeName(_ outcome: UInt32) -> String {
        switch outcome {
        case LS_FUTEX_WOKEN.rawValue: return "woken"
        case LS_FUTEX_TIMED_OUT.rawValue: return "timed out"
        case LS_FUTEX_INTERRUPTED.rawValue: return "interrupted"
        case LS_FUTEX_NO_SLEEP.rawValue: return "did not sleep"
        default: return "error"
        }
    }
}

/// A lock word's name: the data symbol holding it in the file mapped there (or in the file whose
/// mapping its .bss follows), else the kind of mapping and the offset in it.
struct LockWordNames {
    private var images: [String: ElfImage?] = [:]
    private(set) var unreadable: [String] = []

    mutating func name(_ address: UInt64, pid: UInt32, maps: [AddressSpaces.Mapping]) -> String {
        guard let i = maps.lastIndex(where: { address >= $0.start && address < $0.end }) else {
            return String(format: "0x%llx", address)
        }
        var m = maps[i]
        // A .bss beyond the file's last page is an anonymous mapping right after the file's; only
        // the file's segments' extent is its .bss (a C heap arena may be mapped right after a library).
        let bss = m.path.isEmpty && i > 0 && maps[i - 1].end == m.start && maps[i - 1].path.hasPrefix("/")
            && maps[i - 1].sharedMemory == nil
        if bss { m = maps[i - 1] }
        // Shared memory is named as anonymous memory is: by the mapping, with the offset in it.
        if let shared = m.sharedMemory { return "\(shared)+0x\(String(address - m.start, radix: 16))" }
        if m.path.hasPrefix("/") {
            let file = m.path.hasSuffix(" (deleted)") ? String(m.path.dropLast(10)) : m.path
            let base = String(file.split(separator: "/").last ?? "")
            if let elf = image(file),
                let first = maps.first(where: { $0.path == m.path }),
                let linkedStart = elf.address(ofFileOffset: first.fileOffset)
            {
                let linked = address &- first.start &+ linkedStart
                if bss, !elf.isLoaded(linked) { return "[anon]+0x\(String(address - maps[i].start, radix: 16))" }
                if let s = elf.symbol(at: linked) {
                    let offset = linked - s.address
                    let symbol = Demangler.demangle(s.name)
                    return (offset == 0 ? symbol : "\(symbol)+0x\(String(offset, radix: 16))") + " (\(base))"
                }
            }
            return "\(base)+0x\(String(address - m.start + m.fileOffset, radix: 16))"
        }
        let region = m.path.isEmpty ? "[anon]" : m.path
        return "\(region)+0x\(String(address - m.start, radix: 16))"
    }

    private mutating func image(_ path: String) -> ElfImage? {
        if let known = images[path] { return known }
        var elf = ElfImage(path: path, dataSymbols: true)
        elf?.addDebugSymbols()
        if elf == nil { unreadable.append(path) }
        images[path] = elf
        return elf
    }
}
