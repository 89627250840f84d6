import Foundation
import XCTest

@testable import LockstatModules

nonisolated(unsafe) var futexLockWordBssTestsWord: UInt32 = 9

/// An anonymous mapping right after a file's last mapping is the file's .bss only as far as the
/// file's segments reach: beyond, it is other memory (a HotSpot JVM's C heap arena right after
/// libjsvml.so held its threads' park events, named `libjsvml.so+0x1f9588`).
final class FutexLockWordBssTests: XCTestCase {
    func testAnonymousMemoryAfterAFileBeyondItsSegmentsIsAnonymous() throws {
        let lines = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8).split(separator: "\n")
        let word = withUnsafeMutablePointer(to: &futexLockWordBssTestsWord) { UInt64(UInt(bitPattern: $0)) }
        func range(_ line: Substring) -> (UInt64, UInt64) {
            let r = line.prefix { $0 != " " }.split(separator: "-")
            return (UInt64(r[0], radix: 16)!, UInt64(r[1], radix: 16)!)
        }
        // The test binary (it holds the word): its mappings, then 64 MiB of anonymous memory
        // right after its last one, in place of what followed.
        let holder = try XCTUnwrap(lines.first { let (s, e) = range($0); return word >= s && word < e })
        let path = try XCTUnwrap(holder.split(separator: " ", omittingEmptySubsequences: true).last)
        let own = lines.filter { $0.hasSuffix(" " + path) }
        let end = range(try XCTUnwrap(own.last)).1
        let anon = String(format: "%llx-%llx rw-p 00000000 00:00 0", end, end + (64 << 20))
        let maps = own.map(String.init) + [anon]
        var spaces = AddressSpaces()
        spaces.load(snapshot: "= 1 self\n" + maps.joined(separator: "\n") + "\n")
        var names = LockWordNames()
        let mappings = spaces.mappings(pid: 1)
        XCTAssertEqual(names.name(end + (32 << 20), pid: 1, maps: mappings), "[anon]+0x2000000")
        // The file's own globals are still named by their symbols.
        XCTAssertTrue(names.name(word, pid: 1, maps: mappings).contains("futexLockWordBssTestsWord"))
    }
}
