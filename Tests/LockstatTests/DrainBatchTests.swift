import CLockstat
import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// bpf mode's drains read the aggregation map with BPF_MAP_LOOKUP_BATCH, and entry by entry
/// where the kernel refuses batches (forced here by LOCKSTAT_TEST_NO_BATCH_LOOKUP).
final class DrainBatchTests: XCTestCase {
    func requireBPF() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: bpf mode needs root") }
        if let reason = ContentionModule().unavailableReason(SystemRoot())
            ?? ContentionModule.bpfRefusal(SystemRoot())
        {
            throw XCTSkip("SKIPPED: \(reason)")
        }
    }

    func open(batched: Bool) throws -> OpaquePointer {
        if !batched { setenv("LOCKSTAT_TEST_NO_BATCH_LOOKUP", "1", 1) }
        defer { unsetenv("LOCKSTAT_TEST_NO_BATCH_LOOKUP") }
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = ls_bpf_contention_open(Int32(Self.entries), 1, 0, 0, &error, error.count) else {
            throw XCTSkip("SKIPPED: the BPF programs did not load: \(String(cString: error))")
        }
        return handle
    }

    static let entries = 65536

    struct Key: Hashable { let lock: UInt64, tid: UInt32, flags: UInt32, kind: UInt32 }

    /// One drain of every entry (the shadow is empty), as written to the raw log: waits per
    /// (lock, task, type) — the stack ids differ, each handle's stacks starting in its own program.
    func drain(_ handle: OpaquePointer, into out: UnsafeMutablePointer<ls_bpf_entry>) -> (Int, [Key: UInt64]) {
        let n = ls_bpf_contention_changed(handle, out, Self.entries)
        var counts = [Key: UInt64]()
        for i in 0..<max(0, n) {
            let e = out[i]
            counts[Key(lock: e.key.lock, tid: e.key.tid, flags: e.value.flags, kind: e.value.kind), default: 0] +=
                e.value.count
        }
        return (n, counts)
    }

    /// Thread CPU time (ns) of `repeats` drains of a map that no longer changes: each reads all of it.
    func drainCPU(_ handle: OpaquePointer, _ out: UnsafeMutablePointer<ls_bpf_entry>, repeats: Int) -> Double {
        var start = timespec(), end = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
        for _ in 0..<repeats { XCTAssertEqual(ls_bpf_contention_changed(handle, out, Self.entries), 0) }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
        return Double(end.tv_sec - start.tv_sec) * 1e9 + Double(end.tv_nsec - start.tv_nsec)
    }

    /// Two handles follow the same workload from its first instruction (it waits on stdin until
    /// both follow it), so both maps aggregate the same waits: the batched drain and the
    /// per-entry drain read the same entries and counts. Then the drain's CPU per entry of both.
    func testBatchedAndPerEntryDrainsReadTheSameEntries() throws {
        try requireBPF()
        let dir = temporaryDirectory()
        let exe = dir + "/many-locks"
        let cc = try shell(["cc", "-O2", "-pthread", "-o", exe, Fixtures.repository.path + "/Tests/serve/many-locks.c"])
        XCTAssertEqual(cc.status, 0, cc.err)
        try FileManager.default.createDirectory(atPath: dir + "/locks", withIntermediateDirectories: true)
        let batched = try open(batched: true)
        defer { ls_bpf_contention_close(batched) }
        let perEntry = try open(batched: false)
        defer { ls_bpf_contention_close(perEntry) }
        let storm = Process()
        storm.executableURL = URL(fileURLWithPath: "/bin/sh")
        // 3000 directories, 1 ms each, 3 threads: thousands of (lock, task, stack) entries.
        storm.arguments = ["-c", "read go; exec \"$0\" \"$1\" 3000 1 3", exe, dir + "/locks"]
        let input = Pipe()
        storm.standardInput = input
        try storm.run()
        XCTAssertEqual(ls_bpf_contention_follow(batched, UInt32(storm.processIdentifier)), 0)
        XCTAssertEqual(ls_bpf_contention_follow(perEntry, UInt32(storm.processIdentifier)), 0)
        input.fileHandleForWriting.write(Data("go\n".utf8))
        storm.waitUntilExit()
        XCTAssertEqual(storm.terminationStatus, 0)

        // As a run ends: the programs detached and the spinning waits still left for their CPU's
        // next begin added (without it the two maps were 3 waits apart in a CI run).
        XCTAssertGreaterThanOrEqual(ls_bpf_contention_settle(batched), 0)
        XCTAssertGreaterThanOrEqual(ls_bpf_contention_settle(perEntry), 0)
        let out = UnsafeMutablePointer<ls_bpf_entry>.allocate(capacity: Self.entries)
        defer { out.deallocate() }
        let (n, fromBatches) = drain(batched, into: out)
        let (m, fromEntries) = drain(perEntry, into: out)
        XCTAssertGreaterThan(n, 2000, "a storm with many keys")
        XCTAssertLessThan(n, Self.entries, "the map did not fill")
        // Either handle's programs can miss an event the other's saw: the kernel does not run a BPF
        // program on a CPU where one is running already (a lock taken inside the other handle's
        // program) and counts it (recursion_misses). The drains agree but for those, each at most one wait.
        let misses = ls_bpf_contention_recursion_misses(batched) + ls_bpf_contention_recursion_misses(perEntry)
        // The run's cost line reads them with the counters.
        var counters = [UInt64](repeating: 0, count: Int(LS_BPF_COUNTERS.rawValue))
        ls_bpf_contention_counters(batched, &counters)
        XCTAssertEqual(counters[Int(LS_BPF_RECURSION_MISSED.rawValue)], ls_bpf_contention_recursion_misses(batched))
        let apart = Set(fromBatches.keys).union(fromEntries.keys).reduce(UInt64(0)) { sum, key in
            let a = fromBatches[key] ?? 0, b = fromEntries[key] ?? 0
            return sum + (a > b ? a - b : b - a)
        }
        XCTAssertLessThanOrEqual(
            apart, misses, "waits apart: \(apart), events the kernel skipped: \(misses); entries: \(n) batched, \(m) one by one")
        print("drains: \(n) and \(m) entries, \(apart) waits apart, \(misses) recursion misses")

        // The owners map (rwsem and mutex owners at contention_begin) goes the same two ways.
        let owners = UnsafeMutablePointer<ls_bpf_owner_entry>.allocate(capacity: 4096)
        defer { owners.deallocate() }
        func ownerCounts(_ handle: OpaquePointer) -> [String: UInt64] {
            let n = ls_bpf_contention_owners_changed(handle, owners, 4096)
            return Dictionary(
                (0..<max(0, n)).map { ("\(owners[$0].key.lock) \(owners[$0].key.owner_tid)", owners[$0].value.count) },
                uniquingKeysWith: +)
        }
        // Each handle's program reads the lock's owner field at contention_begin in turn, and the
        // owner may release the lock on the other CPU between the two reads: the same owners, not
        // always the same counts (measured: 1 % of the counts, 5 % of the keys apart in a CI run).
        let batchedOwners = ownerCounts(batched), entryOwners = ownerCounts(perEntry)
        XCTAssertGreaterThan(batchedOwners.count, 0, "the storm's i_rwsem owners")
        let common = Set(batchedOwners.keys).intersection(entryOwners.keys).count
        XCTAssertGreaterThanOrEqual(
            Double(common), 0.9 * Double(max(batchedOwners.count, entryOwners.count)),
            "owners: \(batchedOwners.count) batched, \(entryOwners.count) one by one, \(common) in both")
        let batchedTotal = Double(batchedOwners.values.reduce(0, +)), entryTotal = Double(entryOwners.values.reduce(0, +))
        XCTAssertEqual(batchedTotal, entryTotal, accuracy: 0.03 * entryTotal, "owner waits, batched against one by one")

        let repeats = 20
        let batchNs = drainCPU(batched, out, repeats: repeats) / Double(repeats * n)
        let entryNs = drainCPU(perEntry, out, repeats: repeats) / Double(repeats * m)
        print(
            String(
                format: "drain CPU per entry (%d entries): %.0f ns batched, %.0f ns one entry at a time", n, batchNs,
                entryNs))
        // Thread CPU time, not wall time: the batched read saves two system calls per entry.
        XCTAssertLessThan(batchNs, entryNs, "the batched drain is in use")
    }
}
