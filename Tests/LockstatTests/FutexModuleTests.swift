import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module on this machine's kernel (root, BTF), against a program whose waits are known
/// (Tests/futex/futex_truth.c measures its own time inside pthread_mutex_lock) and against perf
/// recording the futex system calls on the same run.
final class FutexModuleTests: XCTestCase {
    /// Built -O2 with frame pointers (the program's; glibc has none), or without (`frames`
    /// -fomit-frame-pointer).
    func compile(_ name: String = "futex_truth", frames: String = "-fno-omit-frame-pointer") throws -> String {
        let exe = temporaryDirectory() + "/" + name
        let cc = try shell([
            "cc", "-O2", frames, "-pthread", "-o", exe,
            Fixtures.repository.path + "/Tests/futex/futex_truth.c",
        ])
        XCTAssertEqual(cc.status, 0, cc.err)
        return exe
    }

    func run(_ dir: String, _ settings: String, _ command: [String]) throws -> PyValue {
        try "modules futex\n\(settings)".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/f.config", dir + "/run"] + command, quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("  futex: "), "the summary's line: \(r.err)")
        return try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
    }

    /// The program's own lines: tid → ns it spent inside pthread_mutex_lock (both locks).
    func programWaits(_ output: String) -> [String: Double] {
        var waits = [String: Double]()
        for line in output.split(separator: "\n") where line.hasPrefix("worker ") {
            let f = line.split(separator: " ")
            if f.count == 6, let heavy = Double(f[3]), let light = Double(f[5]) { waits[String(f[1])] = heavy + light }
        }
        return waits
    }

    /// perf's view of the same run: the program's futex wait calls that slept (returned 0,
    /// -ETIMEDOUT or a signal's error), those that returned -EAGAIN at once, and per thread the
    /// time the calls that slept took, entry to exit (ns).
    static func perfWaits(_ data: String, comm: String) throws -> (
        slept: Int, noSleep: Int, sleptNanoseconds: [String: Double]
    ) {
        let r = try shell(["perf", "script", "--ns", "-i", data, "-F", "comm,tid,time,event,trace"])
        XCTAssertEqual(r.status, 0, r.err)
        var pending = [Substring: Double]()
        var slept = 0
        var noSleep = 0
        var sleptNanoseconds = [String: Double]()
        // "futex_truth 1234 5678.123456789: syscalls:sys_enter_futex: uaddr: 0x..., op: 0x00000080, ..."
        for line in r.out.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 5, f[0] == comm, let seconds = Double(f[2].dropLast()) else { continue }
            if f[3].hasPrefix("syscalls:sys_enter_futex:"), let i = f.firstIndex(of: "op:"), i + 1 < f.count,
                let op = UInt32(f[i + 1].trimmingCharacters(in: [","]).dropFirst(2), radix: 16)
            {
                if [0, 6, 9, 11, 13].contains(op & ~UInt32(384)) { pending[f[1]] = seconds }
            } else if f[3].hasPrefix("syscalls:sys_exit_futex:"), let entered = pending.removeValue(forKey: f[1]),
                let raw = UInt64(f[f.count - 1].dropFirst(2), radix: 16)
            {
                let ret = Int64(bitPattern: raw)
                if [0, -110, -4, -512, -514, -516].contains(ret) {
                    slept += 1
                    sleptNanoseconds[String(f[1]), default: 0] += (seconds - entered) * 1e9
                } else if ret == -11 {
                    noSleep += 1
                }
            }
        }
        return (slept, noSleep, sleptNanoseconds)
    }

    /// The heavy lock is named by its symbol and ranked first, the light one second, the
    /// condition variable classed as one; each worker's wait agrees with perf's time of the same
    /// thread's sleeps on the same run within 1 %; ≥ 95 % of the heavy lock's wait has lock_heavy on
    /// the waiter's stack and unlock_heavy on the waker's; the waits that slept are perf's count of
    /// them on the same run.
    func testHeavyLockAgainstTheProgramsOwnMeasureAndPerf() throws {
        try heavyLockAgainstTheProgramsOwnMeasureAndPerf(frames: "-fno-omit-frame-pointer")
    }

    /// Each thread's wait against its own clock_gettime around pthread_mutex_lock, within
    /// max(5 %, 2 ms): 1.6–3.8 % below it on a quiet machine; under load the light lock's threads
    /// were 4–9 % below, and bpftrace's time of their sleeps on the same run as far: the program's clock
    /// also counts the time between the sleeps (calls that did not sleep, system call entry and
    /// exit, preemption in user space), which no tracer of the futex calls sees.
    func testEachThreadsWaitAgainstItsOwnClock() throws {
        guard ProcessInfo.processInfo.environment["LOCKSTAT_FUTEX_PER_THREAD"] == "1" else {
            throw XCTSkip(
                "SKIPPED: each thread's futex wait against the program's own clock holds on a quiet machine only "
                    + "(under load the clock counts preemption outside the futex calls); LOCKSTAT_FUTEX_PER_THREAD=1 runs it")
        }
        try heavyLockAgainstTheProgramsOwnMeasureAndPerf(frames: "-fno-omit-frame-pointer", againstItsOwnClock: true)
    }

    /// The same with the program built without frame pointers: its callers of glibc are found
    /// only by unwinding the stack copies with their DWARF call-frame information.
    func testNoFramePointerBuildAgainstTheProgramsOwnMeasureAndPerf() throws {
        try heavyLockAgainstTheProgramsOwnMeasureAndPerf(frames: "-fomit-frame-pointer")
    }

    func heavyLockAgainstTheProgramsOwnMeasureAndPerf(frames: String, againstItsOwnClock: Bool = false) throws {
        try requireFutexModule()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            throw XCTSkip("SKIPPED: perf (linux-perf) is not installed")
        }
        let dir = temporaryDirectory()
        let exe = try compile(frames: frames)
        let d = try run(
            dir, "",
            [
                "perf", "record", "-q", "-e", "syscalls:sys_enter_futex", "-e", "syscalls:sys_exit_futex", "-o",
                dir + "/perf.data", "--", exe, "2", "4",
            ])
        let locks = try XCTUnwrap(d["locks"]?.listItems)
        func text(_ row: PyValue, _ key: String) -> String { row[key]?.string ?? "" }
        func number(_ row: PyValue, _ key: String) -> Double { row[key]?.number ?? 0 }
        // The program's own locks (perf, the program's parent here, waits on its own futexes).
        let ranked = locks.filter { text($0, "key").contains("(futex_truth)") && text($0, "kind") != "condvar" }
            .sorted { number($0, "contention_wait_ns") > number($1, "contention_wait_ns") }
        XCTAssertEqual(ranked.first.map { text($0, "key") }, "heavy_lock (futex_truth)", "\(locks)")
        XCTAssertEqual(ranked.dropFirst().first.map { text($0, "key") }, "light_lock (futex_truth)", "\(locks)")
        XCTAssertEqual(text(ranked[0], "kind"), "mutex")
        let condvar = locks.filter { text($0, "key").hasPrefix("cond_ready") }
        XCTAssertFalse(condvar.isEmpty, "\(locks)")
        XCTAssertTrue(condvar.allSatisfy { text($0, "kind") == "condvar" && number($0, "contention_wait_ns") == 0 })

        let output = try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        let measured = programWaits(output)
        XCTAssertEqual(measured.count, 6, output)
        let tasks = try XCTUnwrap(d["tasks"]?.listItems)
        let perf = try Self.perfWaits(dir + "/perf.data", comm: "futex_truth")
        for (tid, ns) in measured {
            let row = try XCTUnwrap(tasks.first { text($0, "key") == "futex_truth[\(tid)]" }, "task \(tid): \(tasks)")
            let ours = number(row, "total_wait_ns"), perfs = perf.sleptNanoseconds[tid] ?? 0
            print("thread \(tid): " + String(format: "lockstat %.4f s, perf %.4f s (%.4f), its own clock %.4f s (%.3f)",
                         ours / 1e9, perfs / 1e9, ours / max(perfs, 1), ns / 1e9, ours / ns))
            // Each thread's sleeps as perf timed the same calls on the same run. A syscall tracepoint
            // runs its BPF programs before it gives perf the event (perf_syscall_enter/exit), so
            // perf's times start after lockstat's entry program and end after its exit program: the
            // thread's wait is perf's plus that program's work in each of its wait calls (measured
            // 0.9-11 µs a call under load), never less.
            let calls = number(row, "waits") + number(row, "no_sleep")
            XCTAssertGreaterThanOrEqual(ours, perfs - max(perfs * 0.01, 2e6), "thread \(tid) against perf")
            XCTAssertLessThanOrEqual(ours, perfs + calls * 15e3 + 2e6, "thread \(tid) against perf, \(calls) calls")
            // Against the program's own clock around pthread_mutex_lock only where the machine is
            // quiet: that clock also counts the time between the sleeps (calls that did not sleep,
            // the system call's entry and exit, preemption in user space), 1.6-3.8 % on a quiet
            // machine, up to 9 % under load, where bpftrace's time of the sleeps is as far from it.
            if againstItsOwnClock {
                XCTAssertEqual(ours, ns, accuracy: max(ns * 0.05, 2e6), "thread \(tid) against its own clock")
            }
        }

        func share(_ folded: String, _ frame: String) throws -> Double {
            let items = try XCTUnwrap(d[folded]?.listItems)
            var all = 0.0
            var with = 0.0
            for case .tuple(let t) in items where t[0].string!.hasSuffix(";heavy_lock (futex_truth)") {
                all += t[1].number!
                if t[0].string!.split(separator: ";").contains(Substring(frame)) { with += t[1].number! }
            }
            XCTAssertGreaterThan(all, 0, folded)
            return with / all
        }
        XCTAssertGreaterThanOrEqual(try share("waiter_folded", "lock_heavy"), 0.95)
        XCTAssertGreaterThanOrEqual(try share("waker_folded", "unlock_heavy"), 0.95)
        try assertUnwoundByDWARF(dir + "/run/samples/futex.log")

        let mine = tasks.filter { text($0, "key").hasPrefix("futex_truth[") }
        let slept = mine.reduce(0) { $0 + number($1, "waits") }
        let noSleep = mine.reduce(0) { $0 + number($1, "no_sleep") }
        XCTAssertGreaterThan(perf.slept, 50, "a contended run")
        XCTAssertEqual(Int(slept), perf.slept, "waits that slept: lockstat vs perf")
        XCTAssertEqual(Int(noSleep), perf.noSleep, "calls that did not sleep: lockstat vs perf")
        let counters = try XCTUnwrap(d["counters"])
        XCTAssertEqual(counters["lost"]?.number, 0)
        XCTAssertGreaterThan(counters["stack_copies"]?.number ?? 0, 0, "the waiters' stacks copied once each")
        if bpfStatsSwitch() == "0" {
            XCTAssertEqual(counters["bpf_ns"]?.number, 0, "the programs' run time is counted only with futex.bpf_time yes")
        }
    }

    /// ≥ 95 % of the heavy lock's wait has DWARF frames on both sides (`stack` dwarf), reaching
    /// lock_heavy through glibc's pthread_mutex_lock on the waiter's and unlock_heavy through
    /// pthread_mutex_unlock on the waker's: the callers a frame-pointer walk loses in glibc.
    func assertUnwoundByDWARF(_ log: String) throws {
        let analysis = try FutexAnalysis(log: RawLog.read(path: log))
        let heavy = analysis.waits.filter { $0.lock == "heavy_lock (futex_truth)" && $0.wait.slept }
        let all = heavy.reduce(0.0) { $0 + Double($1.wait.total) }
        XCTAssertGreaterThan(all, 0)
        // Root first: the caller, then the glibc function it called.
        func through(_ stack: [String], _ caller: String, _ callee: String) -> Bool {
            guard let i = stack.firstIndex(of: caller), i + 1 < stack.count else { return false }
            return stack[i + 1].lowercased().contains(callee)
        }
        let waiter = heavy.filter { $0.waiterSource == .dwarf && through($0.waiterStack, "lock_heavy", "mutex_lock") }
        let waker = heavy.filter { $0.wakerSource == .dwarf && through($0.wakerStack, "unlock_heavy", "mutex_unlock") }
        let waiterShare = waiter.reduce(0.0) { $0 + Double($1.wait.total) } / all
        let wakerShare = waker.reduce(0.0) { $0 + Double($1.wait.total) } / all
        print(
            "heavy lock: \(heavy.count) keys; DWARF waiter stacks \(waiterShare * 100) %, waker stacks "
                + "\(wakerShare * 100) % of its wait; \(analysis.dwarfUnwound) of \(analysis.sampleCount) copies "
                + "unwound to a caller")
        let example = heavy.first.map { "\($0.waiterSource): \($0.waiterStack); \($0.wakerSource): \($0.wakerStack)" }
        XCTAssertGreaterThanOrEqual(waiterShare, 0.95, example ?? "")
        XCTAssertGreaterThanOrEqual(wakerShare, 0.95, example ?? "")
        XCTAssertTrue(analysis.leftOutFiles.isEmpty, "\(analysis.leftOutFiles)")
    }

    /// The call site of each heavy-lock wait call (the first named frame outside libc and the
    /// loader): perf's own DWARF unwinding of `perf record --call-graph dwarf -e
    /// syscalls:sys_enter_futex` against lockstat's waiter stacks, on the same run of the
    /// program built without frame pointers. Both see the same sites, lock_heavy for ≥ 95 % of
    /// the calls, and the same number of calls when perf lost none.
    func testWaiterCallSitesAgainstPerfDwarf() throws {
        try requireFutexModule()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            throw XCTSkip("SKIPPED: perf (linux-perf) is not installed")
        }
        let dir = temporaryDirectory()
        let exe = try compile(frames: "-fomit-frame-pointer")
        _ = try run(
            dir, "",
            [
                "perf", "record", "-q", "--call-graph", "dwarf,4096", "-e", "syscalls:sys_enter_futex", "-o",
                dir + "/perf.data", "--", exe, "1", "4",
            ])
        let output = try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        let heavy = try XCTUnwrap(
            output.split(separator: "\n").first { $0.hasPrefix("addresses heavy ") }?.split(separator: " ")[2], output)
        let address = try XCTUnwrap(UInt64(heavy.dropFirst(2), radix: 16))

        // perf script: a sample's line with its tracepoint fields, then its frames "ADDR SYM (DSO)"
        // (libdw's inlined functions as "ADDR SYM (inlined)").
        let script = try shell(["perf", "script", "-i", dir + "/perf.data", "-F", "comm,trace,ip,sym,dso"])
        XCTAssertEqual(script.status, 0, script.err)
        var perfSites = [String: Int]()
        var current: (wait: Bool, site: String?)?
        func finish() {
            if let c = current, c.wait { perfSites[c.site ?? "[no stack]", default: 0] += 1 }
            current = nil
        }
        for line in script.out.split(separator: "\n", omittingEmptySubsequences: false) {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            if t.hasPrefix("futex_truth ") || t.contains("uaddr:") {
                finish()
                let f = t.split(separator: " ")
                func field(_ name: String) -> UInt64? {
                    f.firstIndex(of: Substring(name)).flatMap { i in
                        i + 1 < f.count ? UInt64(f[i + 1].trimmingCharacters(in: [","]).dropFirst(2), radix: 16) : nil
                    }
                }
                let op = UInt32(truncatingIfNeeded: field("op:") ?? 1) & ~UInt32(384)
                current = (t.hasPrefix("futex_truth ") && field("uaddr:") == address && (op == 0 || op == 9), nil)
            } else if current?.site == nil, let open = t.lastIndex(of: "("), t.hasSuffix(")") {
                let dso = t[t.index(after: open)..<t.index(before: t.endIndex)].split(separator: "/").last ?? ""
                let f = t[..<open].split(separator: " ")
                let symbol = f.count >= 2 ? String(f[1]) : "[unknown]"
                // An inlined function (perf names it "(inlined)") is at its caller's address, in its file.
                if symbol != "[unknown]", dso != "inlined", !FutexAnalysis.isSystemLibrary(String(dso)) {
                    current?.site = symbol
                }
            }
        }
        finish()

        let analysis = try FutexAnalysis(log: RawLog.read(path: dir + "/run/samples/futex.log"))
        var ourSites = [String: Int]()
        for n in analysis.waits where n.lock == "heavy_lock (futex_truth)" {
            ourSites[n.waiter, default: 0] += Int(n.wait.count)
        }
        let perfCalls = perfSites.values.reduce(0, +)
        let ourCalls = ourSites.values.reduce(0, +)
        print("heavy-lock wait calls by call site: perf \(perfSites), lockstat \(ourSites)")
        XCTAssertGreaterThan(perfCalls, 50, "a contended run")
        XCTAssertEqual(Set(perfSites.keys), Set(ourSites.keys))
        XCTAssertGreaterThanOrEqual(Double(perfSites["lock_heavy"] ?? 0), Double(perfCalls) * 0.95)
        XCTAssertGreaterThanOrEqual(Double(ourSites["lock_heavy"] ?? 0), Double(ourCalls) * 0.95)
        // perf's ring can overflow with 4 KiB per sample: the counts are compared when it lost none.
        let stats = try shell(["perf", "report", "-i", dir + "/perf.data", "--stats"])
        let lost = stats.out.split(separator: "\n").contains { $0.contains("LOST") && !$0.hasSuffix(" 0") }
        // Equal in the runs under load; 8062 against perf's 8066 in a quiet CI dry run (a few calls
        // lockstat did not record, not yet explained: issue 26): within 0.5 %.
        if !lost {
            XCTAssertEqual(
                Double(ourCalls), Double(perfCalls), accuracy: Double(perfCalls) * 0.005,
                "wait calls on heavy_lock: lockstat vs perf")
        }
    }

    /// 10,000 distinct lock words into a map of 1,000 entries: the bound holds, every wait past
    /// it is counted as lost and said in a warning, none is silently gone.
    func testTenThousandLockWordsHoldTheBound() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = dir + "/many_words"
        let cc = try shell(["cc", "-O2", "-o", exe, Fixtures.repository.path + "/Tests/futex/many_words.c"])
        XCTAssertEqual(cc.status, 0, cc.err)
        try "modules futex\nfutex.entries 1000\nfutex.bpf_time yes\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/f.config", dir + "/run", exe, "10000"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let d = try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
        let counters = try XCTUnwrap(d["counters"])
        let locks = try XCTUnwrap(d["locks"]?.listItems)
        XCTAssertLessThanOrEqual(locks.count, 1000)
        let recorded = try XCTUnwrap(counters["recorded"]?.number)
        let lost = try XCTUnwrap(counters["lost"]?.number)
        // Every wait the program made (10,000) is recorded or lost; the program's others (its
        // start, exit) on top.
        XCTAssertGreaterThanOrEqual(recorded + lost, 10_000, "\(counters)")
        XCTAssertGreaterThanOrEqual(lost, 9_000, "\(counters)")
        XCTAssertEqual(counters["map_full"]?.number, lost)
        XCTAssertGreaterThan(counters["bpf_ns"]?.number ?? 0, 0, "futex.bpf_time yes counts the programs' run time: \(counters)")
        XCTAssertTrue(
            r.err.contains("waits lost: the aggregation map was full (a larger futex.entries keeps them)"), r.err)
    }

    /// scope program (the default): a process contending outside the run is absent; under
    /// system it is there.
    func testScopeProgramLeavesOutsideProcessesOut() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = try compile()
        let outside = dir + "/outside_truth"
        try FileManager.default.copyItem(atPath: exe, toPath: outside)
        let other = Process()
        other.executableURL = URL(fileURLWithPath: outside)
        other.arguments = ["600", "2"]
        other.standardOutput = FileHandle.nullDevice
        try other.run()
        defer {
            other.terminate()
            other.waitUntilExit()
        }
        func tasks(_ scope: String, _ sub: String) throws -> [String] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
            let d = try run(dir + "/" + sub, "futex.scope \(scope)\n", [exe, "1", "2"])
            return (d["tasks"]?.listItems ?? []).compactMap { $0["key"]?.string }
        }
        let program = try tasks("program", "p")
        XCTAssertTrue(program.contains { $0.hasPrefix("futex_truth[") }, "\(program)")
        XCTAssertFalse(program.contains { $0.hasPrefix("outside_truth[") }, "\(program)")
        let system = try tasks("system", "s")
        XCTAssertTrue(system.contains { $0.hasPrefix("outside_truth[") }, "\(system)")
        // Stack copies (raw user memory) are of the run's own processes only, in either scope.
        let log = try RawLog.read(path: dir + "/s/run/samples/futex.log")
        let stride = MemoryLayout<ls_futex_sample>.stride
        var copied = Set<UInt32>()
        for r in log.sideRecords(stream: FutexRecorder.samplesStream) {
            let b = log.payloadBytes(r)
            for i in 0..<(b.count / stride) {
                copied.insert(b.loadUnaligned(fromByteOffset: i * stride + 4, as: UInt32.self))
            }
        }
        XCTAssertFalse(copied.isEmpty, "the program's stacks are copied")
        XCTAssertFalse(copied.contains(UInt32(other.processIdentifier)), "\(copied) holds the outside process")
    }
}
