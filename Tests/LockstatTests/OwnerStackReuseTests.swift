import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.owner_stacks' owner stack at begin is walked once per (lock, owner) hold: the hold's later
/// waiters count the first one's stack. Read from the programs' own map (`owner_stack_counts`:
/// walked, reused) with bpftool while lockstat runs, as lockstat's tables show only the result.
final class OwnerStackReuseTests: XCTestCase {
    /// 8 workers on one directory of a disk filesystem: its owner holds it across the disk's discard,
    /// so several workers begin waiting behind one hold. Some begins reuse the hold's stack, and the
    /// owner-stack table still counts every begin, the reused ones too.
    func testLaterWaitersOfOneHoldReuseTheOwnersStack() throws {
        try requireContentionBPF()
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/bpftool") else {
            throw XCTSkip("SKIPPED: no /usr/sbin/bpftool to read the programs' counts")
        }
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\ncontention.owner_stacks yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let run = try Lockstat.start(["--config", dir + "/c.config", dir + "/run", exe, dir + "/storm", "2", "8"])
        var counts: (walked: Double, reused: Double)?
        // Read until lockstat exits (its maps go with it): the last reading is the closest to the end.
        _ = eventually(60) {
            if let c = try? Self.ownerStackCounts(pid: run.processIdentifier) { counts = c }
            return !run.isRunning
        }
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        guard let stacks = d["owner_stacks_at_begin"]?.listItems, !stacks.isEmpty else {
            throw XCTSkip("SKIPPED: no owner stacks (a kernel without bpf_task_from_pid)")
        }
        let seen = try XCTUnwrap(counts, "no owner_stack_counts map among lockstat's while it ran")
        XCTAssertGreaterThan(seen.walked, 0)
        XCTAssertGreaterThan(seen.reused, 0, "every begin walked its owner's stack")
        let counted = stacks.reduce(0) { $0 + ($1["contended"]?.number ?? 0) }
        XCTAssertGreaterThanOrEqual(counted, seen.walked + seen.reused, "owner stacks \(counted), \(seen)")
    }

    /// Owner stacks are their own choice: `contention.wakers yes` alone walks none (the walk runs
    /// under the lock's wait_lock), and `contention.owner_stacks yes` without wakers says in one
    /// line that it has none.
    func testOwnerStacksOnlyWhenAskedFor() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        let base = "modules contention\ncontention.mode bpf\ncontention.scope program\n"
        try (base + "contention.wakers yes\n").write(toFile: dir + "/w.config", atomically: true, encoding: .utf8)
        try (base + "contention.owner_stacks yes\n").write(toFile: dir + "/o.config", atomically: true, encoding: .utf8)
        let wakers = try Lockstat.run(["--config", dir + "/w.config", dir + "/w", exe, dir + "/storm", "1", "4"])
        XCTAssertEqual(wakers.status, 0, wakers.err)
        let d = try Lockstat.samples(dir + "/w")["contention"]!
        XCTAssertFalse((d["wakers"]?.listItems ?? []).isEmpty, "no wakers recorded: the storm did not contend")
        XCTAssertEqual(d["owner_stacks_at_begin"]?.listItems?.count ?? 0, 0, "owner stacks without owner_stacks yes")
        let alone = try Lockstat.run(["--config", dir + "/o.config", dir + "/o", exe, dir + "/storm", "1", "4"])
        XCTAssertEqual(alone.status, 0, alone.err)
        XCTAssertTrue(
            alone.err.contains("contention.owner_stacks yes needs contention.wakers yes: no owner stacks"), alone.err)
        XCTAssertEqual(try Lockstat.samples(dir + "/o")["contention"]!["owner_stacks_at_begin"]?.listItems?.count ?? 0, 0)
    }

    /// The owner_stack_counts map of the BPF programs process `pid` holds (by its file descriptors'
    /// map ids), summed over CPUs: nil while it holds none.
    static func ownerStackCounts(pid: Int32) throws -> (walked: Double, reused: Double)? {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fdinfo")) ?? []
        var ids = Set<String>()
        for fd in fds {
            guard case .success(let text) = FileReader.readText("/proc/\(pid)/fdinfo/\(fd)") else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("map_id:") {
                ids.insert(line.split(separator: "\t").last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? "")
            }
        }
        for id in ids where !id.isEmpty {
            let show = try shell(["bpftool", "map", "show", "id", id, "-j"])
            guard show.status == 0, show.out.contains("\"owner_stack_cou\"") else { continue }
            let dump = try shell(["bpftool", "map", "dump", "id", id, "-j"])
            guard dump.status == 0,
                let entries = try JSONSerialization.jsonObject(with: Data(dump.out.utf8)) as? [[String: Any]]
            else { return nil }
            var sums = [0.0, 0.0]
            for e in entries {
                guard let f = e["formatted"] as? [String: Any], let key = f["key"] as? Int, key < 2,
                    let values = f["values"] as? [[String: Any]]
                else { continue }
                sums[key] = values.reduce(0) { $0 + (($1["value"] as? NSNumber)?.doubleValue ?? 0) }
            }
            return (sums[0], sums[1])
        }
        return nil
    }
}
