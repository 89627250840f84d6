import Foundation
import XCTest
@testable import LockstatCore

/// lockstat-run inside a real CONFIG_LOCK_STAT kernel: ../shared/vm boots Linux 6.1 under qemu
/// and runs Tests/vm/lock-stat-in-vm.sh there (a lock-heavy workload; the same interrupted by
/// one SIGINT, by two, and by kill -9; `lockstat serve` of lock_stat stopped by SIGTERM).
final class LockStatVMTests: XCTestCase {
    /// ../shared/vm beside the repository (as laid out for developers and CI), or $LOCKSTAT_SHARED/vm.
    static let vm = ProcessInfo.processInfo.environment["LOCKSTAT_SHARED"]
        .map { URL(fileURLWithPath: $0).appendingPathComponent("vm") }
        ?? Fixtures.repository.deletingLastPathComponent().appendingPathComponent("shared/vm")

    func testLockStatOnARealLockStatKernel() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") else {
            throw XCTSkip("SKIPPED: qemu-system-x86 is not installed (.ci/run installs it); the lock_stat kernel cannot boot")
        }
        let out = temporaryDirectory()
        // The guest sees the host's / read-only except OUTDIR: the binaries and workload go there.
        for tool in ["lockstat-run", "lockstat"] {
            try FileManager.default.copyItem(atPath: Lockstat.binaries + "/" + tool, toPath: out + "/" + tool)
        }
        let source = Fixtures.repository.appendingPathComponent("Tests/vm")
        XCTAssertEqual(try shell(["cc", "-O2", "-o", out + "/lock-workload", source.appendingPathComponent("lock-workload.c").path]).status, 0)
        XCTAssertEqual(try shell(["cc", "-O2", "-o", out + "/mkdir-storm", Fixtures.repository.path + "/Tests/contention/mkdir-storm.c"]).status, 0)
        try FileManager.default.copyItem(atPath: source.appendingPathComponent("lock-stat-in-vm.sh").path, toPath: out + "/in-vm.sh")
        let vm = try shell([Self.vm.appendingPathComponent("run-in-vm.sh").path, "--timeout", "400", "--quiet", out, "--",
                            out + "/in-vm.sh", out, out + "/lock-workload", out + "/mkdir-storm"])
        XCTAssertEqual(vm.status, 0, "VM: \(vm.err) \(vm.out)")
        func file(_ name: String) -> String { (try? String(contentsOfFile: out + "/" + name, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "missing" }

        // doctor inside the VM: lock_stat present, and the config with it can run.
        XCTAssertEqual(file("doctor.status"), "0", file("doctor.json"))
        let doctor = try JSONSerialization.jsonObject(with: Data(file("doctor.json").utf8)) as? [String: Any]
        let lockStat = (doctor?["modules"] as? [[String: Any]])?.first { $0["module"] as? String == "lock_stat" }
        XCTAssertEqual(lockStat?["can_run"] as? Bool, true)
        XCTAssertEqual(lockStat?["in_config"] as? Bool, true)

        // The run: the program's status, and the switch back at 0 as it was before.
        XCTAssertEqual(file("run.status"), "0")
        XCTAssertEqual(file("run.switch"), "0", "/proc/sys/kernel/lock_stat restored")
        let data = try Lockstat.samples(out + "/run")["lock_stat"]!
        XCTAssertEqual(data["version"], .string("0.4"))
        let time = data["time"]!.series!
        XCTAssertGreaterThanOrEqual(time.count, 6, "4 s at 0.5 s")
        // Cleared before the program started: the first sample holds far fewer acquisitions than
        // the file held just before the run (boot plus a one-second burst of the same workload).
        let before = LockStatSnapshotTotals(text: try String(contentsOfFile: out + "/before.txt", encoding: .utf8))
        let classes = data["classes"]!
        let firstAcquisitions = classes.keys.reduce(0.0) { sum, name in
            sum + ["write", "read"].reduce(0.0) { $0 + (classes[name]![$1]!["acquisitions"]!.series![0] ?? 0) }
        }
        XCTAssertLessThan(firstAcquisitions, before.acquisitions / 4, "statistics cleared at presampling")
        // Known classes show contention: the directory's i_rwsem taken by mkdir/rmdir.
        let top = data["top"]!.listItems!
        let dirLock = top.first { ($0["class"]!.string ?? "").contains("i_mutex_dir_key") }
        XCTAssertNotNil(dirLock, "the directory lock contended: \(top.prefix(5).map { $0["class"]! })")
        XCTAssertGreaterThan(dirLock?["contentions"]?.number ?? 0, 100)
        XCTAssertGreaterThan(dirLock?["waittime-total"]?.number ?? 0, 0)
        let sites = classes[dirLock!["class"]!.string!]!["contention_points"]!.listItems!.compactMap { $0["symbol"]?.string }
        XCTAssertTrue(sites.contains { $0.hasPrefix("filename_create") || $0.hasPrefix("do_rmdir") }, "\(sites)")
        for graph in ["lockstat_waittime.svg", "lockstat_holdtime.svg", "lockstat_waittime_top.svg", "lockstat_top1.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/run/" + graph), graph)
        }
        XCTAssertGreaterThan(try RawLog.read(path: out + "/run/samples/lock_stat.log").snapshots().count, 5)
        // parse, graph and report redo their steps on the host from what the guest recorded.
        XCTAssertEqual(try Lockstat.tool(["parse", out + "/run"]).status, 0)
        XCTAssertEqual(try Lockstat.samples(out + "/run")["lock_stat"], data)
        XCTAssertEqual(try Lockstat.tool(["graph", out + "/run"]).status, 0)
        let report = try Lockstat.tool(["report", out + "/run", "--top", "3"])
        XCTAssertEqual(report.status, 0)
        XCTAssertTrue(report.out.split(separator: "\n")[1].contains("i_mutex_dir_key"), report.out)

        // serve: lock_stat's switch on while it serves, the classes in the scrape (the directory
        // lock contended by the workload), SIGTERM stops it with 0 and puts the switch back.
        XCTAssertEqual(file("serve.switch.during"), "1", file("serve.err"))
        XCTAssertEqual(file("serve.status"), "0", file("serve.err"))
        XCTAssertEqual(file("serve.switch"), "0", "/proc/sys/kernel/lock_stat restored by serve's SIGTERM")
        let served = ServeTests.samples(file("serve.om"))
        let dirContentions = served.filter { $0.key.family == "lockstat_lock_class_contentions_total" && $0.key.labels.contains("i_mutex_dir_key") }
        XCTAssertGreaterThan(dirContentions.values.reduce(0, +), 100, file("serve.om").prefix(2000) + "")
        XCTAssertTrue(file("serve.om").contains("# UNIT lockstat_lock_class_wait_seconds seconds"))

        // Two sets of 3 runs: the mkdir storm in one directory, then in one each. The directory's
        // i_rwsem class (i_mutex_dir_key) falls, by more than half — direction and size only:
        // 3 runs a side cannot show significance, and compare says so.
        XCTAssertEqual(file("shared.status"), "0")
        XCTAssertEqual(file("private.status"), "0")
        let compared = try Lockstat.tool(["compare", out + "/shared", out + "/private", "--format", "json"])
        XCTAssertEqual(compared.status, 0, compared.err)
        let json = try JSONSerialization.jsonObject(with: Data(compared.out.utf8)) as? [String: Any] ?? [:]
        let classTable = (json["tables"] as? [[String: Any]])?.first { $0["module"] as? String == "lock_stat" }
        let dirClass = (classTable?["rows"] as? [[String: Any]])?.first { (($0["labels"] as? [String])?.first ?? "").contains("i_mutex_dir_key") }
        XCTAssertNotNil(dirClass, "\(compared.out.prefix(2000))")
        XCTAssertLessThan(dirClass?["change_percent"] as? Double ?? 0, -50, "\(dirClass ?? [:])")
        XCTAssertTrue((json["notes"] as? [String] ?? []).contains { $0.contains("nothing can be significant") }, "\(json["notes"] ?? "")")

        // SIGINT mid-run: forwarded, the run finishes, the switch is restored.
        XCTAssertEqual(file("int.status"), "130")
        XCTAssertEqual(file("int.switch"), "0")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/int/samples.pickle"))
        // Two SIGINTs: lockstat stops at once; the signal handler still restores the switch.
        XCTAssertEqual(file("int2.status"), "130")
        XCTAssertEqual(file("int2.switch"), "0")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/int2/samples.pickle"), "stopped before parsing")
        // kill -9 mid-run: nothing can run in lockstat, the supervisor puts the switch back (polled for a second).
        XCTAssertEqual(file("k9.switch.during"), "1", "the switch on during the run")
        XCTAssertEqual(file("k9.switch"), "0", "/proc/sys/kernel/lock_stat restored after kill -9")
        XCTAssertNotNil(Int(file("k9.ms")), "restored within a second of the kill: \(file("k9.ms")) ms")
    }
}

/// Totals of a lock_stat file, read with a few lines of independent code (not lockstat's parser).
struct LockStatSnapshotTotals {
    var acquisitions = 0.0

    init(text: String) {
        var header: [Substring] = []
        for line in text.split(separator: "\n") {
            let tokens = line.split(separator: " ")
            if line.contains("class name") { header = Array(tokens.dropFirst(2)); continue }
            guard !header.isEmpty, tokens.count > header.count, tokens[tokens.count - header.count - 1].hasSuffix(":"),
                  let k = header.firstIndex(of: "acquisitions") else { continue }
            acquisitions += Double(tokens[tokens.count - header.count + k]) ?? 0
        }
    }
}
