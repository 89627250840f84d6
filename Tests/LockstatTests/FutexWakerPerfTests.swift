import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The waker's call sites of the futex module against perf's own DWARF unwinding of
/// `perf record --call-graph dwarf -e sched:sched_waking` on the same run of
/// Tests/futex/futex_truth.c: perf runs as lockstat's program and records the program it starts,
/// so both see the same tasks from the program's exec to its exit.
///
/// The unit is the wake, not the wait time: perf sees a wake as one sample and nothing of how
/// long its waiter slept, and each wait that returned 0 has exactly one waker (a woken waiter is
/// off the futex queue), so lockstat's `waits` per waker site and perf's samples count the same
/// events.
final class FutexWakerPerfTests: XCTestCase {
    /// perf's view of one run: the wakes by lock word and waker call site, and what it lost.
    struct PerfWakes {
        var sites: [UInt64: [String: Int]] = [:]
        var lost = 0
    }

    func testWakerCallSitesAgainstPerfDwarfFramePointerBuild() throws {
        try wakerCallSitesAgainstPerfDwarf(frames: "-fno-omit-frame-pointer")
    }

    func testWakerCallSitesAgainstPerfDwarfNoFramePointerBuild() throws {
        try wakerCallSitesAgainstPerfDwarf(frames: "-fomit-frame-pointer")
    }

    /// The heavy lock's wakes by waker call site: the sites with ≥ 1 % of the wakes are the same
    /// on both sides, unlock_heavy holds ≥ 95 % on both, each site's share agrees within
    /// `shareTolerance`; when perf lost no sample, every lock word's wakes are the same number at
    /// each site.
    func wakerCallSitesAgainstPerfDwarf(frames: String) throws {
        try requireFutexModule()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            throw XCTSkip("SKIPPED: perf (linux-perf) is not installed")
        }
        let dir = temporaryDirectory()
        let exe = dir + "/futex_truth"
        let cc = try shell([
            "cc", "-O2", frames, "-pthread", "-o", exe, Fixtures.repository.path + "/Tests/futex/futex_truth.c",
        ])
        XCTAssertEqual(cc.status, 0, cc.err)
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        // The futex calls without stacks (their lock words, joined to the wakes by task); the
        // wakes with 1 KiB of user stack each (the waker's call site is two frames above the
        // futex call), in 64 MiB per-CPU buffers: 4 KiB in 16 MiB lost samples under load.
        let r = try Lockstat.run(
            [
                "--config", dir + "/f.config", dir + "/run", "perf", "record", "-q", "-m", "64M", "--call-graph",
                "dwarf,1024", "-e", "sched:sched_waking", "-e", "syscalls:sys_enter_futex/call-graph=no/", "-o",
                dir + "/perf.data", "--", exe, "1", "4",
            ], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)

        let output = try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        let lines = output.split(separator: "\n")
        let heavy = try XCTUnwrap(lines.first { $0.hasPrefix("addresses heavy ") }?.split(separator: " ")[2], output)
        let address = try XCTUnwrap(UInt64(heavy.dropFirst(2), radix: 16))
        // The program's threads that wait (its workers and its condition variable's waiter).
        let threads = Set(
            lines.filter { $0.hasPrefix("worker ") || $0.hasPrefix("condvar ") }.compactMap {
                $0.split(separator: " ").dropFirst().first.flatMap { UInt32($0) }
            })
        XCTAssertEqual(threads.count, 7, output)

        let perf = try Self.perfWakes(dir + "/perf.data", woken: threads)
        let analysis = try FutexAnalysis(log: RawLog.read(path: dir + "/run/samples/futex.log"))
        // lockstat's woken waits of the same threads, by lock word and waker call site ("[no
        // waker]": woken from outside a futex call).
        var ours = [UInt64: [String: Int]]()
        var names = [UInt64: String]()
        for n in analysis.waits where threads.contains(n.wait.tid) && n.wait.outcome == LS_FUTEX_WOKEN.rawValue {
            ours[n.wait.uaddr, default: [:]][n.waker, default: 0] += Int(n.wait.count)
            names[n.wait.uaddr] = n.lock
        }
        XCTAssertEqual(names[address], "heavy_lock (futex_truth)")
        for word in Set(perf.sites.keys).union(ours.keys).sorted() {
            print(
                "wakes of \(names[word] ?? String(word, radix: 16)) by waker call site (\(frames)): perf "
                    + "\(perf.sites[word] ?? [:]), lockstat \(ours[word] ?? [:])")
        }
        let perfHeavy = perf.sites[address] ?? [:]
        let ourHeavy = ours[address] ?? [:]
        XCTAssertGreaterThan(perfHeavy.values.reduce(0, +), 50, "a contended run")
        XCTAssertGreaterThan(ourHeavy.values.reduce(0, +), 50, "a contended run")

        func shares(_ sites: [String: Int]) -> [String: Double] {
            let all = Double(sites.values.reduce(0, +))
            return sites.mapValues { Double($0) / all }.filter { $0.value >= 0.01 }
        }
        let perfShares = shares(perfHeavy)
        let ourShares = shares(ourHeavy)
        XCTAssertEqual(Set(perfShares.keys), Set(ourShares.keys), "the heavy lock's sites with ≥ 1 % of its wakes")
        XCTAssertGreaterThanOrEqual(perfShares["unlock_heavy"] ?? 0, 0.95, "perf: \(perfHeavy)")
        XCTAssertGreaterThanOrEqual(ourShares["unlock_heavy"] ?? 0, 0.95, "lockstat: \(ourHeavy)")
        for site in Set(perfShares.keys).union(ourShares.keys) {
            XCTAssertEqual(
                ourShares[site] ?? 0, perfShares[site] ?? 0, accuracy: Self.shareTolerance,
                "share of the heavy lock's wakes at \(site)")
        }
        // The table a user reads names the same releaser.
        let d = try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
        let row = try XCTUnwrap(d["locks"]?.listItems?.first { $0["key"]?.string == "heavy_lock (futex_truth)" })
        XCTAssertEqual(row["released_by"]?.string, "unlock_heavy")
        // Every lock word of the program's own (the light lock, the condition variable and its
        // mutex too), site by site, when perf has all the wakes. Not libc's stdout lock: its
        // wakers are below printf's frames, deeper than perf's 1 KiB copy reaches ([no stack]).
        let own = Set(names.filter { $0.value.hasSuffix(" (futex_truth)") }.keys)
        XCTAssertGreaterThanOrEqual(own.count, 4, "heavy_lock, light_lock, cond_lock, cond_ready: \(names)")
        XCTAssertEqual(Set(perf.sites.keys).subtracting(ours.keys), [], "words only perf saw woken")
        if perf.lost == 0 {
            XCTAssertEqual(
                ours.filter { own.contains($0.key) }, perf.sites.filter { own.contains($0.key) },
                "the wakes by lock word and waker call site: lockstat vs perf")
        } else {
            print("perf lost \(perf.lost) samples: the numbers of wakes are not compared")
        }
    }

    /// The largest difference allowed between the two sides' share of one call site: the floor
    /// under which a site is not compared (the shares measured equal in every run, under load).
    static let shareTolerance = 0.01

    /// perf's samples of sched_waking in the program's tasks whose woken task is one of `woken`
    /// and whose waker is in a futex system call (its kernel frames reach the call's entry with no
    /// interrupt on the way: an interrupt's wake while a task is in a futex call is not the
    /// call's), by the lock word of the task's last sys_enter_futex and by call site: the first
    /// named user frame outside libc and the loader, lockstat's rule (FutexAnalysis.site); perf
    /// names an inlined function `(inlined)` at its caller's address.
    static func perfWakes(_ data: String, woken: Set<UInt32>) throws -> PerfWakes {
        var wakes = PerfWakes()
        let stats = try shell(["perf", "report", "-i", data, "--stats"])
        XCTAssertEqual(stats.status, 0, stats.err)
        for line in stats.out.split(separator: "\n") where line.contains("LOST") {
            let f = line.split(separator: " ")
            if let i = f.firstIndex(of: "events:"), i + 1 < f.count, let n = Int(f[i + 1]) { wakes.lost += n }
        }
        let script = try shell(["perf", "script", "-i", data, "-F", "comm,tid,event,trace,ip,sym,dso"])
        XCTAssertEqual(script.status, 0, script.err)
        /// Each task's last futex call's lock word.
        var lastWord = [Substring: UInt64]()
        /// The sched_waking sample being read: its waker's lock word if the woken task is one
        /// of `woken` (else nil), its kernel frames innermost first, its call site once found.
        var current: (word: UInt64?, kernel: [String], site: String?)?
        func finish() {
            defer { current = nil }
            guard let c = current, let word = c.word else { return }
            let path = c.kernel.prefix { !$0.hasPrefix("__x64_sys_futex") }
            guard path.count < c.kernel.count, !path.contains(where: { $0.hasPrefix("asm_") }) else { return }
            wakes.sites[word, default: [:]][c.site ?? "[no stack]", default: 0] += 1
        }
        for line in script.out.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            // A sample's line (the comm right-aligned), then its frames, each on a line of its own after a tab.
            if !line.hasPrefix("\t") {
                finish()
                let f = t.split(separator: " ")
                guard f.count >= 3 else { continue }
                if f[2] == "syscalls:sys_enter_futex:", let i = f.firstIndex(of: "uaddr:"), i + 1 < f.count {
                    lastWord[f[1]] = UInt64(f[i + 1].trimmingCharacters(in: [","]).dropFirst(2), radix: 16)
                } else if f[2] == "sched:sched_waking:" {
                    let pid = f.first { $0.hasPrefix("pid=") }.flatMap { UInt32($0.dropFirst(4)) }
                    let counts = f[0] == "futex_truth" && pid.map(woken.contains) == true
                    current = (counts ? lastWord[f[1]] : nil, [], nil)
                }
            } else if current != nil, let open = t.lastIndex(of: "("), t.hasSuffix(")") {
                // "ADDR SYM (DSO)", innermost first: kernel frames (the kernel's half of the
                // address space, BPF programs' too), then user frames.
                let dso = t[t.index(after: open)..<t.index(before: t.endIndex)]
                let head = t[..<open].trimmingCharacters(in: .whitespaces)
                let space = head.firstIndex(of: " ") ?? head.endIndex
                let symbol = head[space...].trimmingCharacters(in: .whitespaces)
                if UInt64(head[..<space], radix: 16) ?? 0 >= 0xffff_8000_0000_0000 {
                    current?.kernel.append(symbol)
                } else if current?.site == nil, !symbol.isEmpty, symbol != "[unknown]", dso != "inlined",
                    !FutexAnalysis.isSystemLibrary(String(dso.split(separator: "/").last ?? ""))
                {
                    current?.site = symbol
                }
            }
        }
        finish()
        return wakes
    }
}
