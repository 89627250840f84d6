import Foundation
import XCTest

@testable import LockstatModules

/// JIT code named by a runtime's perf map (/tmp/perf-PID.map), read only from a regular file the
/// program's user wrote (lines from the map HotSpot 17 wrote at the exit of Tests/futex/JavaLocks.java).
final class FutexPerfMapTests: XCTestCase {
    static let map = """
        0x00007fa1cc940b80 0x0000000000017de0 Interpreter
        0x00007fa1ccedc620 0x0000000000000298 void JavaLocks.monitorLocked(long)
        0x00007fa1ccedeaa0 0x00000000000001c0 void jdk.internal.misc.Unsafe.park(boolean, long)
        0x00007fa1ccedbfa0 0x0000000000000178 long JavaLocks.work(long)
        not a symbol line

        """

    func write(_ dir: String, pid: UInt32, _ text: String = map, mode: Int = 0o644) throws -> String {
        let path = "\(dir)/perf-\(pid).map"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(path, mode_t(mode)), 0)
        return path
    }

    /// Addresses inside a symbol get its name (the whole line after the size, spaces kept), those
    /// between or past the symbols none.
    func testNamesAddressesInsideTheMapsSymbols() throws {
        let dir = temporaryDirectory()
        _ = try write(dir, pid: 41)
        var maps = JitPerfMaps(directory: dir, owners: [getuid()])
        XCTAssertEqual(maps.name(pid: 41, address: 0x7fa1_ccedc620), "void JavaLocks.monitorLocked(long)")
        XCTAssertEqual(maps.name(pid: 41, address: 0x7fa1_ccedc620 + 0x297), "void JavaLocks.monitorLocked(long)")
        XCTAssertNil(maps.name(pid: 41, address: 0x7fa1_ccedc620 + 0x298))
        XCTAssertEqual(maps.name(pid: 41, address: 0x7fa1_ccedbfa0 + 8), "long JavaLocks.work(long)")
        XCTAssertEqual(maps.name(pid: 41, address: 0x7fa1_cc940b80 + 0x1000), "Interpreter")
        XCTAssertNil(maps.name(pid: 41, address: 0x7fa1_cc940b7f))
        XCTAssertEqual(JitPerfMaps.parse(Self.map).count, 4)
        // No map for the process: no names and no warning.
        XCTAssertNil(maps.name(pid: 42, address: 0x7fa1_ccedc620))
        XCTAssertEqual(maps.refused, [:])
    }

    /// A symbolic link, a file of another user, one others may write, a directory: refused, each
    /// said once, their names not used.
    func testRefusesMapsTheProgramsUserDidNotWrite() throws {
        let dir = temporaryDirectory()
        let target = try write(dir, pid: 7)
        XCTAssertEqual(symlink(target, "\(dir)/perf-8.map"), 0)
        _ = try write(dir, pid: 9, mode: 0o666)
        try FileManager.default.createDirectory(atPath: "\(dir)/perf-10.map", withIntermediateDirectories: false)
        var maps = JitPerfMaps(directory: dir, owners: [getuid()])
        for pid: UInt32 in [8, 9, 10] {
            XCTAssertNil(maps.name(pid: pid, address: 0x7fa1_ccedc620))
            XCTAssertNil(maps.name(pid: pid, address: 0x7fa1_ccedc621))
        }
        XCTAssertEqual(maps.refused["\(dir)/perf-8.map"], "a symbolic link")
        XCTAssertEqual(maps.refused["\(dir)/perf-9.map"], "group or others may write it")
        XCTAssertEqual(maps.refused["\(dir)/perf-10.map"], "not a regular file")
        XCTAssertEqual(maps.refused.count, 3)
        var others = JitPerfMaps(directory: dir, owners: [getuid() &+ 1])
        XCTAssertNil(others.name(pid: 7, address: 0x7fa1_ccedc620))
        XCTAssertEqual(others.refused["\(dir)/perf-7.map"], "owned by uid \(getuid()), not the program's user")
    }

    /// A refused map is kept with the names recorded at the run's end (a parse of a copy warns again).
    func testRefusedMapsAreKeptWithTheRecordedNames() throws {
        var names = FutexNames()
        names.refusedPerfMaps["/tmp/perf-9.map"] = "group or others may write it"
        XCTAssertEqual(FutexNames(text: names.text), names)
    }
}
