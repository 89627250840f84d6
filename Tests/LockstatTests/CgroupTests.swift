import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Cgroups on the live kernel: two mkdir/rmdir storms, each in a v2 cgroup this test makes, each
/// contending on its own directory's i_rwsem. Each storm's waits are under its own cgroup's path;
/// contention.cgroup keeps one (its rows as the unfiltered run's rows of that cgroup); parse of a
/// copy, after the cgroups are gone, names them the same; serve's cgroup label only when asked.
final class CgroupTests: XCTestCase {
    let serving = ServeTests(name: "helper", testClosure: { _ in })

    /// The v2 mount, or a skip.
    func requireV2() throws -> String {
        try requireContentionBPF()
        guard let mount = CgroupHierarchy.mountPoint(SystemRoot()) else {
            throw XCTSkip("SKIPPED: \(CgroupHierarchy.noMount)")
        }
        return mount
    }

    /// Makes a cgroup below the v2 root; removed when the test ends, failed or not (its tasks,
    /// if a storm outlived the test, moved back to the root first).
    func makeCgroup(_ mount: String, _ name: String) throws -> (path: String, directory: String) {
        let path = "/lockstat-test-\(getpid())-\(name)"
        let directory = mount + path
        guard mkdir(directory, 0o755) == 0 else { throw LockstatError("mkdir \(directory): errno \(errno)") }
        addTeardownBlock {
            for _ in 0..<50 {
                let procs = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? ""
                for pid in procs.split(separator: "\n") {
                    try? (pid + "\n").write(toFile: mount + "/cgroup.procs", atomically: false, encoding: .utf8)
                }
                if rmdir(directory) == 0 || errno == ENOENT { return }
                usleep(100_000)
            }
            XCTFail("\(directory) could not be removed")
        }
        return (path, directory)
    }

    /// A shell that moves itself into `cgroup` and then becomes the storm on `dir`.
    func storm(_ exe: String, in cgroup: String, dir: String, seconds: Int) -> String {
        "sh -c 'echo $$ > \(cgroup)/cgroup.procs && exec \(exe) \(dir) \(seconds) 2' >/dev/null"
    }

    func cgroupRows(_ contention: PyValue) -> [String: Double] {
        var rows = [String: Double]()
        for r in contention["cgroups"]?.listItems ?? [] { rows[r["cgroup"]!.string!] = r["contended"]!.number! }
        return rows
    }

    func testEachStormUnderItsCgroupAndTheFilterKeepsOne() throws {
        let mount = try requireV2()
        let dir = temporaryDirectory()
        let exe = try compileContentionStorm("mkdir-storm.c")
        let a = try makeCgroup(mount, "a"), b = try makeCgroup(mount, "b")
        for d in ["da", "db"] { try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true) }
        let common = "modules contention\ncontention.mode bpf\ncontention.scope program\n"
        try common.write(toFile: dir + "/all.config", atomically: true, encoding: .utf8)
        try (common + "contention.cgroup \(a.path)\n").write(toFile: dir + "/a.config", atomically: true, encoding: .utf8)
        // An outer lockstat (unfiltered) runs an inner one (contention.cgroup A) around both storms.
        let storms = storm(exe, in: a.directory, dir: dir + "/da", seconds: 3) + " & "
            + storm(exe, in: b.directory, dir: dir + "/db", seconds: 3) + "; wait"
        let r = try Lockstat.run([
            "--config", dir + "/all.config", dir + "/all", Lockstat.binaries + "/lockstat", "run", "--quiet",
            "--config", dir + "/a.config", dir + "/a", "sh", "-c", storms,
        ])
        XCTAssertEqual(r.status, 0, r.err)
        let all = cgroupRows(try Lockstat.samples(dir + "/all")["contention"]!)
        let kept = cgroupRows(try Lockstat.samples(dir + "/a")["contention"]!)
        print("contentions by cgroup: unfiltered \(all), contention.cgroup \(a.path): \(kept)")
        let inA = try XCTUnwrap(all[a.path], "\(all)"), inB = try XCTUnwrap(all[b.path], "\(all)")
        XCTAssertGreaterThan(inA, 50, "storm A contended under its own path (~6800 on a quiet machine, 231 under load)")
        XCTAssertGreaterThan(inB, 50, "storm B contended under its own path")

        // Each storm's workers (by task) are the waits of its cgroup: the by-task rows of the
        // mkdir-storm processes add up to the two cgroups' rows (less the few waits of the shells
        // that moved in, named sh, and of the storms' parents before their exec).
        let tasks = (try Lockstat.samples(dir + "/all")["contention"]!["tasks"]?.listItems ?? [])
            .filter { $0["task"]!.string!.hasSuffix(" mkdir-storm") }.reduce(0) { $0 + $1["contended"]!.number! }
        XCTAssertEqual(tasks, inA + inB, accuracy: max(5, (inA + inB) * 0.01), "every storm wait is under A or B")

        // The filtered run: A alone, as the unfiltered run counted A over the same storm. Either
        // may miss a wait the other saw (the kernel skips a program re-entered on its CPU, each
        // program apart): 6786 and 6786, 6167 and 6167, 5023 and 5022 in runs here.
        XCTAssertEqual(Array(kept.keys), [a.path], "\(kept)")
        let keptA = try XCTUnwrap(kept[a.path])
        XCTAssertEqual(keptA, inA, accuracy: inA * 0.05)

        // report --by cgroup prints the paths; parse of a copy names them the same once they are gone.
        let report = try Lockstat.tool(["report", dir + "/all", "--by", "cgroup"])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertTrue(report.out.contains(a.path) && report.out.contains(b.path), report.out)
        let page = try String(contentsOfFile: dir + "/all/index.html", encoding: .utf8)
        XCTAssertTrue(page.contains("<td>\(a.path)</td>") && page.contains("<td>\(b.path)</td>"), "the page's cgroups table")
        for cgroup in [a.directory, b.directory] { _ = rmdir(cgroup) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: a.directory))
        let copy = dir + "/copy"
        XCTAssertEqual(try shell(["cp", "-r", dir + "/all", copy]).status, 0)
        XCTAssertEqual(try Lockstat.tool(["parse", copy]).status, 0)
        XCTAssertEqual(cgroupRows(try Lockstat.samples(copy)["contention"]!), all)
    }

    /// serve: the contention series have a cgroup label only with serve.cgroups yes.
    func testServeLabelsByCgroupOnlyWhenAsked() throws {
        let mount = try requireV2()
        let dir = temporaryDirectory()
        let exe = try compileContentionStorm("mkdir-storm.c")
        let a = try makeCgroup(mount, "serve")
        try FileManager.default.createDirectory(atPath: dir + "/d", withIntermediateDirectories: true)
        try "serve.cgroups yes\n".write(toFile: dir + "/cgroups.config", atomically: true, encoding: .utf8)
        let labelled = try ServeTests.Served(
            port: try serving.freePort(), arguments: ["--modules", "contention", "--config", dir + "/cgroups.config"],
            directory: dir)
        defer { _ = labelled.terminate() }
        let plain = try ServeTests.Served(
            port: try serving.freePort(), arguments: ["--modules", "contention"], directory: dir)
        defer { _ = plain.terminate() }
        labelled.waitUntilServing()
        plain.waitUntilServing()
        let r = try shell(["sh", "-c", storm(exe, in: a.directory, dir: dir + "/d", seconds: 2)])
        XCTAssertEqual(r.status, 0, r.err)
        let label = "cgroup=\"\(a.path)\""
        var text = ""
        XCTAssertTrue(
            eventually(10) {
                text = (try? labelled.scrape()) ?? ""
                return text.contains(label)
            }, "the storm's series labelled by its cgroup: \(text)")
        let storms = ServeTests.samples(text).filter {
            $0.key.family == "lockstat_lock_wait_seconds_count" && $0.key.labels.contains(label)
        }
        XCTAssertGreaterThan(storms.values.reduce(0, +), 50, "\(storms)")
        let unlabelled = try plain.scrape()
        XCTAssertTrue(unlabelled.contains("lockstat_lock_wait_seconds_count{caller="), unlabelled)
        XCTAssertFalse(unlabelled.contains("cgroup="), "no cgroup label without serve.cgroups yes")
    }
}
