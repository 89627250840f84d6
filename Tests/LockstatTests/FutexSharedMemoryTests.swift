import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// Lock words in shared memory, where PostgreSQL keeps its locks: process-shared mutexes in a
/// MAP_SHARED|MAP_ANONYMOUS mapping (`/dev/zero (deleted)` in /proc/PID/maps) and in a memfd's.
final class FutexSharedMemoryTests: XCTestCase {
    /// Tests/futex/shared_memory.c, 3 processes on two mutexes 64 bytes into their mappings: no
    /// file is opened for them (no "could not read" warning), each word is named by its mapping and
    /// the offset in it in every process, its waits counted (several processes' sleeps), a mutex's.
    func testLockWordsInSharedMemoryAreNamedByTheirMappingWithoutAWarning() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = dir + "/shared_memory"
        let source = Fixtures.repository.path + "/Tests/futex/shared_memory.c"
        let cc = try shell(["cc", "-O2", "-pthread", "-o", exe, source])
        XCTAssertEqual(cc.status, 0, cc.err)
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        // 300 rounds: about 2 s, long enough for the drains to read every process's map.
        let r = try Lockstat.run(["--config", dir + "/f.config", dir + "/run", exe, "300"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertFalse(r.err.contains("could not read"), r.err)
        let output = try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        let fields = output.split(whereSeparator: \.isWhitespace).map(String.init)
        func address(_ label: String) throws -> UInt64 {
            let text = try XCTUnwrap(fields.firstIndex(of: label).map { fields[$0 + 1] }, output)
            return try XCTUnwrap(UInt64(text.dropFirst(2), radix: 16), output)
        }
        let analysis = try FutexAnalysis(log: RawLog.read(path: dir + "/run/samples/futex.log"))
        XCTAssertEqual(analysis.unreadableFiles, [])
        let expected = [
            (try address("anon"), "[shared anon]+0x40"), (try address("memfd"), "[memfd:lockstat_shm]+0x40"),
        ]
        for (word, name) in expected {
            let waits = analysis.waits.filter { $0.wait.uaddr == word && $0.task.hasPrefix("shared_memory[") }
            let describe = waits.map { "\($0.task) \($0.lock) \($0.kind) \($0.wait.count)" }
            XCTAssertEqual(Set(waits.map(\.lock)), [name], "\(describe)")
            let slept = waits.filter(\.wait.slept)
            XCTAssertGreaterThan(slept.reduce(0) { $0 + $1.wait.count }, 0, "\(describe)")
            XCTAssertGreaterThanOrEqual(Set(slept.map(\.wait.tgid)).count, 2, "waits of several processes: \(describe)")
            XCTAssertEqual(Set(slept.map(\.kind)), [.mutex], "\(describe)")
        }
    }
}
