import XCTest

@testable import LockstatModules

/// Lock words in shared memory: the kernel lists a shared anonymous mapping as `/dev/zero
/// (deleted)`, SysV memory as `/SYSV<key> (deleted)`, a memfd as `/memfd:NAME (deleted)`; none is
/// a file to open, each word is named by its mapping and the offset in it, none is unreadable.
final class FutexSharedMemoryNameTests: XCTestCase {
    func mapping(_ path: String, at start: UInt64) -> AddressSpaces.Mapping {
        AddressSpaces.Mapping(start: start, end: start + 0x10000, fileOffset: 0, path: path, executable: false)
    }

    func testSharedMemoryWordsAreNamedByTheirMappingAndOpenNoFile() {
        var names = LockWordNames()
        let maps = [
            mapping("/dev/zero (deleted)", at: 0x10000), mapping("", at: 0x20000),
            mapping("/SYSV0000002a (deleted)", at: 0x40000), mapping("/memfd:pg shm (deleted)", at: 0x60000),
        ]
        XCTAssertEqual(names.name(0x10040, pid: 1, maps: maps), "[shared anon]+0x40")
        // An anonymous mapping right after shared memory is no .bss of it.
        XCTAssertEqual(names.name(0x20010, pid: 1, maps: maps), "[anon]+0x10")
        XCTAssertEqual(names.name(0x40100, pid: 1, maps: maps), "[SYSV0000002a]+0x100")
        XCTAssertEqual(names.name(0x60008, pid: 1, maps: maps), "[memfd:pg shm]+0x8")
        XCTAssertEqual(names.unreadable, [])
        // serve's labels keep the mapping, not the offset (an address).
        XCTAssertEqual(FutexTotals.lockLabel("[shared anon]+0x40", addresses: false), "[shared anon]")
        XCTAssertEqual(FutexTotals.lockLabel("[memfd:pg shm]+0x8", addresses: false), "[memfd:pg shm]")
        XCTAssertEqual(FutexTotals.lockLabel("[memfd:a+b]+0x8", addresses: false), "[memfd:a+b]")
        XCTAssertEqual(FutexTotals.lockLabel("[heap]+0x2a0", addresses: false), "[heap]")
    }

    func testAFileThatIsGoneIsStillAFile() {
        XCTAssertNil(mapping("/tmp/prog (deleted)", at: 0).sharedMemory)
        XCTAssertNil(mapping("/dev/zero", at: 0).sharedMemory)
        XCTAssertEqual(mapping("/dev/zero (deleted)", at: 0).sharedMemory, "[shared anon]")
    }
}
