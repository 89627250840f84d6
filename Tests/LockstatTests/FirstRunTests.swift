import Foundation
import XCTest
@testable import LockstatCore

/// What a new user sees: `modules auto` runs what doctor says can run, the end of a run prints
/// the answer (the most contended locks, CPU, disks) in 80 columns with the report's numbers,
/// and the README's first command runs as written.
final class FirstRunTests: XCTestCase {
    static let asNobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

    /// An environment without a config of the user's: the built-in default (`modules auto`) applies.
    func defaultEnvironment(_ base: String) throws -> [String] {
        let home = base + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        return ["env", "-u", "LOCKSTAT_CONFIG", "HOME=\(home)"]
    }

    /// The rows of doctor's JSON: module → (auto runs it, the reason it is left out).
    func doctorsAuto(_ prefix: [String]) throws -> [(module: String, runs: Bool, leftOut: String?)] {
        let doctor = try shell(prefix + [Lockstat.binaries + "/lockstat", "doctor", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(doctor.out.utf8)) as? [String: Any]
        return (json?["modules"] as? [[String: Any]] ?? []).compactMap { m in
            guard let runs = m["auto"] as? Bool else { return nil }
            return (m["module"] as! String, runs, m["auto_left_out"] as? String)
        }
    }

    func testAutoRunsWhatDoctorSaysCanRunAndSaysWhyForTheRest() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: needs root to compare root with an unprivileged user") }
        let base = temporaryDirectory("auto")
        chmod(base, 0o755)
        for user in ["root", "nobody"] {
            let prefix = try defaultEnvironment(base + "/\(user)") + (user == "root" ? [] : Self.asNobody)
            let dir = base + "/\(user)/run"
            if user == "nobody" { XCTAssertEqual(chown(base + "/nobody", 65534, 65534), 0) }
            let doctor = try doctorsAuto(prefix)
            XCTAssertEqual(doctor.map(\.module), ["stat", "diskstats", "lock_stat", "contention", "futex", "oprofile"])
            let r = try shell(prefix + [Lockstat.binaries + "/lockstat", "run", dir, "true"])
            XCTAssertEqual(r.status, 0, "\(user): \(r.err)")
            let run = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run.json"))) as? [String: Any]
            let sampled = (run?["modules"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            XCTAssertEqual(sampled, doctor.filter(\.runs).map(\.module), "\(user): auto samples what doctor says it runs")
            let leftOut = r.err.split(separator: "\n").filter { $0.hasPrefix("lockstat: modules auto: left out ") }.map(String.init)
            XCTAssertEqual(leftOut, doctor.filter { !$0.runs }.map { "lockstat: modules auto: left out \($0.module): \($0.leftOut ?? "?")" },
                           "\(user): one line per module left out, in doctor's words")
            let text = try shell(prefix + [Lockstat.binaries + "/lockstat", "doctor"]).out
            for m in doctor where !m.runs {
                XCTAssertTrue(text.contains("    modules auto: left out: \(m.leftOut ?? "?")\n"), "doctor's text says it too: \(text)")
            }
            if user == "root" {
                XCTAssertTrue(sampled.contains("contention") && sampled.contains("futex") && sampled.contains("oprofile"), "root on 5.19+ with BTF: \(sampled)")
            } else {
                XCTAssertEqual(sampled, ["stat", "diskstats"], "nobody may open no perf events here")
                XCTAssertTrue(leftOut.contains { $0.contains("contention: bpf mode needs root") && $0.contains("run lockstat as root") }, "\(leftOut)")
            }
        }
    }

    /// Serve's own `auto`: the modules it serves that `modules auto` runs, the others said in doctor's words.
    func testServesAutoIsTheServedModulesThatAutoRuns() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: serve's contention needs root") }
        let base = temporaryDirectory("serve")
        let doctor = try doctorsAuto(try defaultEnvironment(base))
        let errors = base + "/serve.err"
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: Lockstat.binaries + "/lockstat")
        // A port of this test's own: serve takes no port 0.
        serve.arguments = ["serve", "--listen", "127.0.0.1:\(30_000 + Int(getpid()) % 20_000)"]
        var environment = ProcessInfo.processInfo.environment
        environment["LOCKSTAT_CONFIG"] = nil
        environment["HOME"] = base + "/home"
        serve.environment = environment
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle(forWritingAtPath: errors)
        try serve.run()
        defer { if serve.isRunning { serve.interrupt(); serve.waitUntilExit() } }
        var err: String { (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "" }
        XCTAssertTrue(eventually(60) { err.contains("lockstat: serving ") || !serve.isRunning }, err)
        let served = ["stat", "diskstats", "lock_stat", "contention", "futex"]
        let expected = doctor.filter { served.contains($0.module) && $0.runs }.map(\.module)
        XCTAssertTrue(err.contains("lockstat: serving \(expected.joined(separator: ", ")) on "), "serves \(expected): \(err)")
        for m in doctor where served.contains(m.module) && !m.runs {
            XCTAssertTrue(err.contains("lockstat: modules auto: left out \(m.module): \(m.leftOut ?? "?")\n"), err)
        }
        XCTAssertFalse(err.contains("oprofile"), "the profile is not served, and auto does not ask for it: \(err)")
    }

    /// A shell workload whose processes contend on one directory's inode lock.
    static let storm = "d=$(mktemp -d) && for w in 1 2 3 4; do (for i in $(seq 150); do mkdir $d/$((i % 8)) 2>/dev/null; rmdir $d/$((i % 8)) 2>/dev/null; done) & done; wait; rmdir $d"

    /// The summary's lines after the run's line, up to the page's.
    func summaryLines(_ err: String) -> [String] {
        let lines = err.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("lockstat: ") && $0.contains("program exit status") }) else { return [] }
        return Array(lines[start...].filter { !$0.isEmpty })
    }

    func testTheSummaryHasTheReportsNumbersFitsEightyColumnsAndThePageShowsIt() throws {
        guard getuid() == 0, FileReader.check("/sys/kernel/btf/vmlinux") == nil else { throw XCTSkip("SKIPPED: needs root and BTF for contention's bpf mode") }
        let dir = temporaryDirectory("sum") + "/run"
        let r = try Lockstat.run(["--modules", "stat,diskstats,contention", dir, "sh", "-c", Self.storm], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let summary = summaryLines(r.err)
        XCTAssertTrue(summary.dropLast().allSatisfy { $0.count <= 80 }, "80 columns: \(summary.filter { $0.count > 80 })")
        guard let header = summary.firstIndex(where: { $0.hasPrefix("    contended ") && $0.contains(" total wait ") }) else {
            return XCTFail("no table of contended locks: \(r.err)")
        }
        // Rows: "contended  total wait  max wait  share  type  caller" (or "... share  type  caller  owner"),
        // numbers with their units.
        let rows = summary[(header + 1)...].prefix { $0.hasPrefix("    ") && $0.first { $0 != " " }?.isNumber == true }
        XCTAssertFalse(rows.isEmpty, "the storm contends: \(r.err)")
        XCTAssertLessThanOrEqual(rows.count, 5)

        let report = try Lockstat.tool(["report", dir, "--by", "caller"])
        XCTAssertEqual(report.status, 0, report.err)
        let samples = try Lockstat.samples(dir)
        let callers = samples["contention"]?["callers"]?.listItems ?? []
        let allWait = callers.compactMap { $0["total_wait_ns"]?.number }.reduce(0, +)
        // Where bpf mode recorded owners, each row ends in its lock's top owner, in max wait's place.
        let owners = summary[header].hasSuffix(" owner")
        let owned = (samples["contention"]?["owners"]?.listItems ?? []).compactMap { $0["owner"]?.string }
        XCTAssertEqual(owners, !owned.isEmpty, "an owner column where owners were recorded: \(summary[header])")
        // Tokens of "contended  total wait  max wait" (max wait left out beside owners).
        let numbers = owners ? 3 : 5
        for row in rows {
            let f = row.split(separator: " ").map(String.init)
            XCTAssertGreaterThanOrEqual(f.count, numbers + 4, row)
            guard f.count >= numbers + 4 else { continue }
            let (share, type, name) = (f[numbers], f[numbers + 2], f[numbers + 3])
            if owners {
                let owner = f[(numbers + 4)...].joined(separator: " ")
                XCTAssertTrue(owner == "-" || owned.contains(owner) || owner.hasSuffix("…"),
                              "\(owner) is an owner: \(owned)")
            } else {
                XCTAssertEqual(f.count, 9, row)
            }
            // The report's "contended  total wait  max wait  min wait  avg wait  type  caller".
            // A caller longer than the line has room for ends in "…".
            func named(_ caller: String) -> Bool {
                name.hasSuffix("…") ? caller.hasPrefix(name.dropLast()) : caller == name
            }
            let reportRow = report.out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
                .first { $0.count == 11 && $0[9] == type && named($0[10]) }
            guard let g = reportRow else { XCTFail("\(name) not in the report: \(report.out)"); continue }
            XCTAssertEqual(Array(f[0..<numbers]), Array(g[0..<numbers]),
                           "contended, total (and max) wait of \(name) as the report prints them")
            let total = callers.first { named($0["caller"]?.string ?? "") && $0["type"]?.string == type }?[
                "total_wait_ns"]?.number ?? -1
            XCTAssertEqual(share, String(format: "%.1f", total / allWait * 100), "share of \(name)")
        }
        let cpu = try XCTUnwrap(summary.first { $0.hasPrefix("  CPU: ") })
        let all = try XCTUnwrap(samples["stat"]?["over_run"]?["all"])
        XCTAssertTrue(cpu.contains(String(format: "all %.2f %% usr, %.2f %% sys, %.2f %% iowait",
                                          all["usr"]?.number ?? -1, all["sys"]?.number ?? -1, all["iowait"]?.number ?? -1)), cpu)
        XCTAssertTrue(summary.contains { $0.hasPrefix("  disk") }, "a disk line: \(summary)")
        XCTAssertEqual(summary.last, "  open \(dir)/index.html: the whole run on one page")

        // The findings, from the table's title to the page's line, are on the page as printed.
        let page = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        let findings = summary[summary.firstIndex { $0.hasPrefix("  most contended") }!..<(summary.count - 1)]
        XCTAssertTrue(page.contains(RunPage.escape(findings.joined(separator: "\n"))), "the page shows \(findings)")
    }

    /// contention.wakers yes on the mkdir storm: each row names the site that released the
    /// caller's waits, one `report --by waker` names; the storm's top caller's is the other
    /// workers' mkdir or rmdir. Max wait makes room for it: still 80 columns, on the page too.
    func testWithWakersTheSummaryNamesEachCallersReleaser() throws {
        try requireContentionBPF()
        let base = temporaryDirectory("wakers")
        let storm = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: base + "/work", withIntermediateDirectories: true)
        try "modules stat diskstats contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: base + "/c.config", atomically: true, encoding: .utf8)
        let dir = base + "/run"
        let r = try Lockstat.run(["--config", base + "/c.config", dir, storm, base + "/work", "2"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let summary = summaryLines(r.err)
        XCTAssertTrue(summary.dropLast().allSatisfy { $0.count <= 80 }, "80 columns: \(summary.filter { $0.count > 80 })")
        let header = summary.firstIndex { $0.hasPrefix("    contended ") && $0.hasSuffix(" released by") }
        guard let header else {
            return XCTFail("no table of contended locks with their releasers: \(r.err)")
        }
        XCTAssertEqual(summary[header].split(separator: " ").map(String.init),
                       ["contended", "total", "wait", "share", "type", "caller", "released", "by"])
        let rows = summary[(header + 1)...].prefix { $0.hasPrefix("    ") && $0.first { $0 != " " }?.isNumber == true }
            .map { $0.split(separator: " ").map(String.init) }
        XCTAssertFalse(rows.isEmpty, "the storm contends: \(r.err)")
        let report = try Lockstat.tool(["report", dir, "--by", "waker"])
        XCTAssertEqual(report.status, 0, report.err)
        let reported = report.out.split(separator: "\n").map(String.init)
        for f in rows {
            XCTAssertEqual(f.count, 8, "\(f)")
            guard let site = f.last, site != "-" else { continue }
            // A site longer than its column has room for ends in "…".
            let named = site.hasSuffix("…") ? " " + site.dropLast() : " " + site
            // The waker column, then the program's releasing site (`-` for kernel threads' releases).
            XCTAssertTrue(reported.contains { $0.contains(site.hasSuffix("…") ? named : named + " ") || $0.hasSuffix(named) },
                          "\(site) is a waker of `report --by waker`: \(report.out)")
        }
        let top = try XCTUnwrap(rows.first?.last)
        XCTAssertNotNil(top.firstMatch(of: #/^(do_rmdir|do_mkdirat|done_path_create)\+/#),
                        "the storm's top caller is released by the workers' rmdir or mkdir: \(r.err)")
        let page = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        let findings = summary[summary.firstIndex { $0.hasPrefix("  most contended") }!..<(summary.count - 1)]
        XCTAssertTrue(page.contains(RunPage.escape(findings.joined(separator: "\n"))), "the page shows \(findings)")
    }

    func testQuietPrintsNoSummaryAndNoLeftOutLines() throws {
        let base = temporaryDirectory("quiet")
        let r = try shell(try defaultEnvironment(base) + [Lockstat.binaries + "/lockstat", "run", "--quiet", base + "/run", "true"])
        XCTAssertEqual(r.status, 0, r.err)
        for said in ["left out", "program exit status", "CPU: ", "disk", "most contended", "index.html"] {
            XCTAssertFalse(r.err.contains(said), "--quiet: \(r.err)")
        }
        let loud = try shell(try defaultEnvironment(base) + [Lockstat.binaries + "/lockstat", "run", base + "/run", "true"])
        XCTAssertTrue(loud.err.contains("  CPU: ") && loud.err.contains("program exit status 0"), "without --quiet it prints: \(loud.err)")
    }

    /// The README's first command, extracted from README.md, run as written with this build first on PATH.
    func testTheReadmesFirstCommandRunsAsWrittenAndNamesAContendedLock() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: the README's first command runs as root") }
        let readme = try String(contentsOf: Fixtures.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let command = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("lockstat run /tmp/lockstat-demo ") },
                                    "README.md has the first command")
        let dir = temporaryDirectory("readme")
        // As the README runs it: in the checkout, where its workload script is.
        let inCheckout = "cd '\(Fixtures.repository.path)' && " + command.replacingOccurrences(of: "/tmp/lockstat-demo", with: dir + "/demo")
        let r = try shell(try defaultEnvironment(dir) + ["PATH=\(Lockstat.binaries):/usr/bin:/bin", "sh", "-c", inCheckout])
        XCTAssertEqual(r.status, 0, r.err)
        let summary = summaryLines(r.err)
        XCTAssertTrue(summary.contains { $0.hasPrefix("  most contended locks") }, r.err)
        let header = try XCTUnwrap(summary.firstIndex { $0.hasPrefix("    contended ") && $0.contains(" total wait ") }, r.err)
        XCTAssertTrue(summary.count > header + 1 && summary[header + 1].contains("rwsem"), "at least one contended lock: \(r.err)")
        // And a user-space one: the workload's threading.Lock, a semaphore in CPython.
        let user = try XCTUnwrap(summary.firstIndex { $0.hasPrefix("  most contended user-space locks (futex") }, r.err)
        XCTAssertTrue(summary.count > user + 2 && summary[user + 1].hasPrefix("    waits  contention wait"), r.err)
        XCTAssertTrue(summary[user + 2].contains(" semaphore ") || summary[user + 2].contains(" mutex "),
                      "the top user-space lock is the threads' lock or the interpreter's: \(r.err)")
        XCTAssertTrue(summary.dropLast().allSatisfy { $0.count <= 80 }, "80 columns but the page's path: \(r.err)")
    }
}
