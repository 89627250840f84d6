import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The profile module's demangler and replayed address spaces.
final class ProfileTests: XCTestCase {
    func testDemangler() {
        XCTAssertEqual(Demangler.demangle("_ZN8geometry6Widget4spinEld"), "geometry::Widget::spin(long, double)")
        XCTAssertEqual(Demangler.demangle("$sSS5countSivg"), "Swift.String.count.getter : Swift.Int")
        XCTAssertEqual(Demangler.demangle("hot_a"), "hot_a")
        XCTAssertEqual(Demangler.demangle("_Znot_really"), "_Znot_really")
    }

    /// Maps replayed: a path with spaces, latest mapping wins, fork copies, exec clears.
    func testAddressSpaces() {
        var spaces = AddressSpaces()
        spaces.load(snapshot: "= 10 my prog\n00400000-00500000 r-xp 00001000 fd:01 42    /opt/my dir/prog (deleted)\n")
        XCTAssertEqual(spaces.mapping(pid: 10, address: 0x400010)?.path, "/opt/my dir/prog (deleted)")
        XCTAssertEqual(spaces.mapping(pid: 10, address: 0x400010)?.fileOffset, 0x1000)
        XCTAssertEqual(spaces.name(pid: 10, tid: 10), "my prog")
        spaces.apply(.fork(pid: 11, ppid: 10, tid: 11, ptid: 10, time: 1))
        XCTAssertEqual(spaces.mapping(pid: 11, address: 0x400010)?.path, "/opt/my dir/prog (deleted)")
        spaces.apply(.comm(pid: 11, tid: 11, name: "child", exec: true, time: 2))
        XCTAssertNil(spaces.mapping(pid: 11, address: 0x400010))
        spaces.apply(.mmap(pid: 11, start: 0x400000, length: 0x1000, fileOffset: 0, path: "/bin/child", time: 3))
        XCTAssertEqual(spaces.mapping(pid: 11, address: 0x400010)?.path, "/bin/child")
        XCTAssertEqual(spaces.name(pid: 11, tid: 11), "child")
        XCTAssertEqual(spaces.mapping(pid: 10, address: 0x400010)?.path, "/opt/my dir/prog (deleted)", "the parent keeps its own")
    }
}
