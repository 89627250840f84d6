import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Lock names in bpf mode against this kernel's own truth: a directory's i_rwsem by its
/// filesystem's inode cache (in /proc/slabinfo), runqueue locks by the scheduler's stacks, and
/// the fallback (no kfuncs) that degrades to addresses.
final class LockNameTests: XCTestCase {
    /// One bpf-mode run of `command` in `dir/run` (extra environment for lockstat: the tests'
    /// switches); its contention entry.
    func run(_ dir: String, _ command: [String], environment: [String: String] = [:]) throws -> PyValue {
        try "modules contention\ncontention.mode bpf\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        for (k, v) in environment { setenv(k, v, 1) }
        defer { for k in environment.keys { unsetenv(k) } }
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run"] + command, quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        return try XCTUnwrap(Lockstat.samples(dir + "/run")["contention"])
    }

    /// The slab cache a filesystem's inodes (directories included) live in, for the filesystems
    /// the tests' directories are on.
    static func inodeCache(of path: String) throws -> String? {
        // stat(1) names the filesystem by its magic number (ext4's as ext2/ext3: they share it).
        let r = try shell(["stat", "-f", "-c", "%T", path])
        guard r.status == 0 else { throw LockstatError("\(path): stat -f: \(r.err)") }
        switch r.out.trimmingCharacters(in: .whitespacesAndNewlines) {
        case "ext2/ext3": return "ext4_inode_cache"
        case "tmpfs": return "shmem_inode_cache"
        case "xfs": return "xfs_inode"
        case "btrfs": return "btrfs_inode"
        default: return nil
        }
    }

    static func slabCaches() -> Set<String> {
        guard case .success(let text) = FileReader.readText("/proc/slabinfo") else { return [] }
        return Set(text.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    /// The share of the run's wait on locks that have a name (a name, then the address in
    /// parentheses; an unnamed lock is its address alone).
    static func namedShare(_ d: PyValue) -> Double {
        let rows = d["locks"]!.listItems!
        let total = rows.reduce(0.0) { $0 + $1["total_wait_ns"]!.number! }
        let named = rows.filter { $0["lock"]!.string!.contains(" (") }.reduce(0.0) { $0 + $1["total_wait_ns"]!.number! }
        return total > 0 ? named / total : 0
    }

    /// The mkdir/rmdir storm in a directory on each of /tmp's and /dev/shm's filesystems: the
    /// directory's rwsem (the rwsem:W waits, nearly all the wait) is named `&CACHE`, CACHE the
    /// filesystem's inode cache, which /proc/slabinfo lists; the report, the page, the CSV and the
    /// pprof profile's lock label give the same name.
    func testTheDirectoryRwsemIsNamedByItsFilesystemsInodeCache() throws {
        try requireContentionBPF()
        let storm = try compileContentionStorm("mkdir-storm.c")
        let caches = Self.slabCaches()
        var checked = 0
        for parent in [temporaryDirectory(), "/dev/shm"] {
            guard FileManager.default.fileExists(atPath: parent), let cache = try Self.inodeCache(of: parent) else {
                continue
            }
            XCTAssertTrue(caches.contains(cache), "\(cache) is not in /proc/slabinfo")
            let dir = temporaryDirectory() + "/" + cache
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let storming = parent == "/dev/shm" ? "/dev/shm/lockstat-names-\(getpid())" : dir + "/storm"
            try FileManager.default.createDirectory(atPath: storming, withIntermediateDirectories: true)
            defer { if parent == "/dev/shm" { try? FileManager.default.removeItem(atPath: storming) } }
            let d = try run(dir, [storm, storming, "3", "4"])
            let rwsem = d["locks"]!.listItems!.filter { $0["type"]!.string! == "rwsem:W" }
            let top = try XCTUnwrap(rwsem.max { $0["total_wait_ns"]!.number! < $1["total_wait_ns"]!.number! })
            let name = top["lock"]!.string!
            XCTAssertTrue(name.hasPrefix("&\(cache) ("), "\(parent): the directory's rwsem is \(name)")
            print("LockNameTests: \(parent) (\(cache)): named share of the wait \(Self.namedShare(d))")
            // The same string everywhere a lock is shown.
            let report = try Lockstat.tool(["report", dir + "/run", "--by", "lock"])
            XCTAssertTrue(report.out.contains(name), report.out)
            let page = try String(contentsOfFile: dir + "/run/index.html", encoding: .utf8)
            XCTAssertTrue(page.contains(name.replacingOccurrences(of: "&", with: "&amp;")), "the page names \(name)")
            XCTAssertEqual(try Lockstat.tool(["export", dir + "/run", "--format", "csv", "--output", dir + "/csv"]).status, 0)
            let csv = try String(contentsOfFile: dir + "/csv/contention_locks.csv", encoding: .utf8)
            XCTAssertTrue(csv.contains(name), csv)
            XCTAssertEqual(try Lockstat.tool(["export", dir + "/run", "--format", "pprof"]).status, 0)
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/go") {
                let tags = try shell(
                    ["go", "tool", "pprof", "-tags", "-sample_index=contentions", dir + "/run/export/contention.pb.gz"],
                    environment: ["HOME": "/tmp", "PATH": "/usr/bin:/bin", "GOCACHE": "/tmp/lockstat-gocache"])
                XCTAssertEqual(tags.status, 0, tags.err)
                // The label is the name without the address: every lock of that cache, added up.
                let label = String(name.prefix { $0 != " " })
                let expected = d["locks"]!.listItems!.filter { $0["lock"]!.string!.hasPrefix(label + " (") }
                    .reduce(0.0) { $0 + $1["contended"]!.number! }
                let line = tags.out.split(separator: "\n").first { $0.hasSuffix(": " + label) }
                XCTAssertEqual(line.flatMap { $0.split(separator: " ").first }.flatMap { Double($0) }, expected, tags.out)
            }
            checked += 1
        }
        if checked == 0 { throw XCTSkip("SKIPPED: neither /tmp nor /dev/shm is on ext4, tmpfs, xfs or btrfs") }
    }

    /// The wake storm: threads passing a byte over pipes wake each other across CPUs. The kernel's
    /// stacks are the truth: a spinning wait taken by `__schedule` or `sched_tick` (whose one spin
    /// lock is their runqueue's) is named `rq_lock`; every wait named so was taken in the scheduler;
    /// there are at most as many runqueue locks as CPUs.
    func testRunqueueWaitsAreNamedRqLock() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), storm = try compileContentionStorm("pingpong-storm.c")
        _ = try run(dir, [storm, "3", "8"])
        let data = try ContentionData(log: try RawLog.read(path: dir + "/run/samples/contention.log"), top: 5)
        let analysis = data.analysis
        /// The function that took the lock: the first frame outside the spinlock's own code and the
        /// tracepoint's (a stack can start in the tracepoint's iterator, the slow path below it).
        func locker(_ stack: [UInt64]) -> String {
            stack.lazy.map { analysis.symbols.functionName($0) ?? "" }.first {
                !$0.isEmpty && !$0.contains("spin_lock") && !$0.contains("traceiter") && !$0.contains("bpf_trace")
                    && !$0.hasPrefix("bpf_")
            } ?? ""
        }
        let onlyRunqueue: Set = ["__schedule", "sched_tick"]
        func inScheduler(_ f: String) -> Bool {
            onlyRunqueue.contains(f) || f.hasPrefix("sched_") || f.contains("rq_lock") || f.hasPrefix("try_to_wake_up")
                || f.hasPrefix("ttwu") || f == "wake_up_new_task"
        }
        var runqueueLocks = Set<UInt64>(), rqWaits = 0, schedulerOnly = 0
        for c in analysis.contentions where ContentionAnalysis.type(c.flags) == "spinlock" && !c.stack.isEmpty {
            let named = analysis.lockSymbol(c.lock, kind: c.kind) == LockNames.runqueue
            let f = locker(c.stack)
            if named {
                runqueueLocks.insert(c.lock)
                rqWaits += c.count
                XCTAssertTrue(inScheduler(f), "rq_lock taken by \(f), outside the scheduler")
            }
            if onlyRunqueue.contains(f) {
                schedulerOnly += c.count
                XCTAssertTrue(named, "\(f) waited on \(analysis.lockName(c.lock)), not named rq_lock")
            }
        }
        print("LockNameTests: \(rqWaits) rq_lock waits on \(runqueueLocks.count) runqueues, \(schedulerOnly) by __schedule or sched_tick")
        XCTAssertGreaterThan(schedulerOnly, 0, "the wake storm waited on no runqueue lock in __schedule or sched_tick")
        XCTAssertLessThanOrEqual(runqueueLocks.count, ProcessInfo.processInfo.processorCount)
    }

    /// mmap_lock keeps its name (a field of the waiting task's), not its slab object's cache
    /// (mm_struct), which the BPF programs now also know.
    func testMmapLockKeepsItsNameOverItsSlabCache() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mmap-storm.c")
        let d = try run(dir, [storm, "2"])
        let locks = d["locks"]!.listItems!.map { $0["lock"]!.string! }
        XCTAssertTrue(locks.contains { $0.hasPrefix("&mm->mmap_lock (") }, "\(locks.prefix(5))")
        // One name per lock: an address named mmap_lock by its own task's wait is never also its
        // cache's (another task's wait on it, lockstat's own read of /proc/PID/maps among them).
        func addresses(_ prefix: String) -> Set<Substring> {
            Set(locks.filter { $0.hasPrefix(prefix + " (") }.map { $0.dropFirst(prefix.count + 2).dropLast() })
        }
        let both = addresses("&mm->mmap_lock").intersection(addresses("&mm_struct"))
        XCTAssertTrue(both.isEmpty, "named both &mm->mmap_lock and &mm_struct: \(both)")
    }

    /// LOCKSTAT_TEST_NO_KFUNCS: the programs act as on a kernel without bpf_get_kmem_cache (and
    /// without rq_lock): the same object loads, runs, and the directory's rwsem is its address.
    func testWithoutTheKfuncsTheSameObjectLoadsAndLocksAreAddresses() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: true)
        let d = try run(dir, [storm, dir + "/storm", "3", "4"], environment: ["LOCKSTAT_TEST_NO_KFUNCS": "1"])
        let rows = d["locks"]!.listItems!
        let rwsem = rows.filter { $0["type"]!.string! == "rwsem:W" }
        XCTAssertFalse(rwsem.isEmpty, "the storm waited")
        let top = try XCTUnwrap(rwsem.max { $0["total_wait_ns"]!.number! < $1["total_wait_ns"]!.number! })
        XCTAssertNotNil(UInt64(top["lock"]!.string!, radix: 16), "an address: \(top["lock"]!.string!)")
        let names = rows.map { $0["lock"]!.string! }
        XCTAssertFalse(names.contains { $0.hasPrefix("&") && !$0.hasPrefix("&mm->") && !$0.hasPrefix("&sighand->") })
        XCTAssertFalse(names.contains { $0.hasPrefix("rq_lock") })
        print("LockNameTests: without kfuncs, named share of the wait \(Self.namedShare(d))")
    }

    /// `doctor --json` per naming method against the kernel's own BTF as bpftool dumps it and
    /// /proc/kallsyms as grep counts it.
    func testDoctorsNamingChecksAgreeWithBpftoolAndKallsyms() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: reading kallsyms's addresses needs root") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/bpftool") else {
            throw XCTSkip("SKIPPED: no /usr/sbin/bpftool")
        }
        let r = try Lockstat.tool(["doctor", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        let modules = try XCTUnwrap(json?["modules"] as? [[String: Any]])
        let contention = try XCTUnwrap(modules.first { $0["module"] as? String == "contention" })
        var ok = [String: Bool]()
        for c in contention["checks"] as? [[String: Any]] ?? [] { ok[c["check"] as! String] = c["ok"] as? Bool }
        let btf = try shell(["sh", "-c", "bpftool btf dump file /sys/kernel/btf/vmlinux format raw"]).out
        XCTAssertEqual(ok["names: slab caches"], btf.contains("FUNC 'bpf_get_kmem_cache'"))
        XCTAssertEqual(ok["names: rq_lock"], btf.contains("STRUCT 'rq' ") && btf.contains("'cfs_rq' type_id="))
        let data = try shell(
            ["sh", "-c", "grep -c ' [dDbB] ' /proc/kallsyms | tr -d '\\n'; echo; grep -cw 'contig_page_data' /proc/kallsyms"]
        ).out.split(separator: "\n").compactMap { Int($0) }
        XCTAssertEqual(data.count, 2)
        // Section markers are a few dozen of grep's count; CONFIG_KALLSYMS_ALL gives tens of thousands.
        XCTAssertEqual(ok["names: static locks"], data[0] > 1000, "\(data[0]) data symbols")
        XCTAssertEqual(ok["names: zone_lock"], data[1] > 0)
        XCTAssertEqual(ok["names: mmap_lock, siglock"], true)
    }

    /// serve names locks as report does: after a storm in a directory, the metrics' `lock` label
    /// and the served contention profile's `lock` tag (read by go tool pprof) are `&CACHE`.
    func testServesLabelAndProfileNameTheDirectoryRwsem() throws {
        let helper = ServeTests(name: "helper", testClosure: { _ in })
        try helper.requireServe()
        let dir = temporaryDirectory()
        guard let cache = try Self.inodeCache(of: dir) else {
            throw XCTSkip("SKIPPED: \(dir) is not on ext4, tmpfs, xfs or btrfs")
        }
        let storm = try compileContentionStorm("mkdir-storm.c")
        let serve = try ServeTests.Served(
            port: try helper.freePort(), arguments: ["--modules", "contention"], directory: dir)
        defer { _ = serve.terminate() }
        serve.waitUntilServing()
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: true)
        XCTAssertEqual(try shell([storm, dir + "/storm", "3", "4"]).status, 0)
        let rows = ServeTests.samples(try serve.scrape()).filter { $0.key.family == "lockstat_lock_wait_seconds_count" }
        let named = rows.filter { $0.key.labels.contains("lock=\"&\(cache)\"") && $0.key.labels.contains("rwsem:W") }
        XCTAssertGreaterThan(named.values.reduce(0, +), 0, "\(rows.keys.map(\.labels).prefix(10))")
        guard (try? shell(["go", "version"]))?.status == 0 else { return }
        let tags = try shell(
            ["env", "PPROF_TMPDIR=\(dir)", "go", "tool", "pprof", "-tags", "-sample_index=contentions",
             "http://127.0.0.1:\(serve.port)/debug/pprof/contention"])
        XCTAssertEqual(tags.status, 0, tags.err)
        XCTAssertTrue(tags.out.contains(": &\(cache)"), tags.out)
    }
}
