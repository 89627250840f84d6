import XCTest
import CLockstat
@testable import LockstatCore
@testable import LockstatModules

/// contention.types, .locks and .stacks (and report's --type, --lock, --stack): read, checked,
/// and what they keep.
final class ContentionFilterUnitTests: XCTestCase {
    let catalog = ModuleCatalog(BuiltInModules.all)

    func parse(_ text: String) throws -> Config { try ConfigParser.parse(text, file: "test.config", catalog: catalog) }

    func error(_ body: () throws -> Void) -> LockstatError? {
        do {
            try body()
            return nil
        } catch { return error as? LockstatError }
    }

    static let validTypes =
        "spinlock, rwlock:R, rwlock:W, rwsem:R, rwsem:W, rtmutex, rwlock-rt:R, rwlock-rt:W, percpu-rwsem:R, "
        + "percpu-rwsem:W, mutex, semaphore, unknown, rwlock, rwsem, rwlock-rt, percpu-rwsem"

    func testTheConfigKeysGiveTheFilterWithEveryValue() throws {
        let config = try parse(
            "contention.types mutex rwsem:W\ncontention.locks &mm->mmap_lock 0xffff0001\ncontention.stacks do_mkdirat\n")
        XCTAssertEqual(
            ContentionSettings(config).filter,
            ContentionFilter(types: ["mutex", "rwsem:W"], locks: ["&mm->mmap_lock", "0xffff0001"], stacks: ["do_mkdirat"]))
        XCTAssertTrue(ContentionSettings(try parse("modules contention\n")).filter.isEmpty)
    }

    /// An unknown type names the line and lists the valid ones; exit 2. The same for --type.
    func testAnUnknownTypeIsAUsageErrorListingTheValidOnes() {
        let line = error { _ = try parse("# c\ncontention.types mutex mutx\n") }
        XCTAssertEqual(
            line?.message, "test.config:2: key 'contention.types' takes words from \(Self.validTypes), got 'mutx'")
        XCTAssertEqual(line?.exitCode, 2)
        XCTAssertEqual(
            error { _ = try parse("contention.stacks\n") }?.message,
            "test.config:1: key 'contention.stacks' needs one or more words")
        var overrides = SettingOverrides()
        overrides.add(option: "--type", key: "types", values: ["spinlok"])
        let option = error { try overrides.check(BuiltInModules.all) }
        // Each module takes its own words: the futex module's kinds follow contention's types.
        let futexKinds = FutexKind.allCases.map(\.rawValue).filter { !ContentionFilter.validTypes.contains($0) }
        XCTAssertEqual(
            option?.message,
            "--type: takes words from \(([Self.validTypes] + futexKinds).joined(separator: ", ")), got 'spinlok'")
        XCTAssertEqual(option?.exitCode, 2)
        var good = SettingOverrides()
        good.add(option: "--type", key: "types", values: ["rwsem", "mutex"])
        good.add(option: "--stack", key: "stacks", values: ["mkdir"])
        XCTAssertNil(error { try good.check(BuiltInModules.all) })
    }

    /// --type etc. replace the run's own values in the modules that have the keys, and only there.
    func testOverridesApplyToTheModulesWithTheKeys() throws {
        let config = try parse("modules stat contention\ncontention.types mutex\n")
        var overrides = SettingOverrides()
        overrides.add(option: "--type", key: "types", values: ["rwsem"])
        XCTAssertNil(overrides.applied(to: config, module: StatModule()))
        let changed = try XCTUnwrap(overrides.applied(to: config, module: ContentionModule()))
        XCTAssertEqual(ContentionSettings(changed).filter.types, ["rwsem"])
        XCTAssertNil(SettingOverrides().applied(to: config, module: ContentionModule()))
    }

    /// rwsem:W (flags 4), rwsem:R (2), mutex (32), spinlock (1) on a named and an unnamed lock,
    /// from a mkdir and an unrelated stack.
    func testTheFilterKeepsByTypeLockAndStack() {
        let symbols = KernelSymbols(
            """
            ffffffff81000000 T do_mkdirat
            ffffffff81000100 T do_rmdir
            ffffffff81000200 T schedule
            ffffffff82000000 D tasklist_lock
            ffffffff82001000 D after_it
            """)
        func contention(_ flags: UInt32, lock: UInt64, stack: [UInt64], kind: UInt32 = 0) -> ContentionAnalysis.Contention {
            .init(
                tid: 1, lock: lock, flags: flags, end: 0, count: 1, total: 10, longest: 10, shortest: 10,
                buckets: [], caller: "", stack: stack, kind: kind)
        }
        let mkdir: [UInt64] = [0xffff_ffff_8100_0210, 0xffff_ffff_8100_0010]
        let other: [UInt64] = [0xffff_ffff_8100_0110]
        let all = ContentionAnalysis(
            groups: [
                contention(4, lock: 0xffff_ffff_8200_0000, stack: mkdir),
                contention(2, lock: 0xffff_8880_0000_1000, stack: other),
                contention(32, lock: 0xffff_8880_0000_2000, stack: mkdir, kind: UInt32(LS_LOCK_KIND_MMAP)),
                contention(1, lock: 0xffff_8880_0000_3000, stack: []),
            ], symbols: symbols)
        func kept(_ filter: ContentionFilter) -> [UInt32] {
            var analysis = all
            analysis.keep(filter)
            return analysis.contentions.map(\.flags)
        }
        XCTAssertEqual(kept(ContentionFilter()), [4, 2, 32, 1])
        XCTAssertEqual(kept(ContentionFilter(types: ["rwsem"])), [4, 2], "a family keeps both sides")
        XCTAssertEqual(kept(ContentionFilter(types: ["rwsem:W", "spinlock"])), [4, 1])
        XCTAssertEqual(kept(ContentionFilter(locks: ["tasklist_lock"])), [4], "by the name the tables print")
        XCTAssertEqual(kept(ContentionFilter(locks: ["&mm->mmap_lock"])), [32])
        XCTAssertEqual(kept(ContentionFilter(locks: ["0xffff888000001000", "ffff888000003000"])), [2, 1])
        XCTAssertEqual(kept(ContentionFilter(stacks: ["mkdir"])), [4, 32])
        XCTAssertEqual(kept(ContentionFilter(stacks: ["rmdir", "nowhere"])), [2])
        XCTAssertEqual(kept(ContentionFilter(types: ["mutex"], stacks: ["mkdir"])), [32], "every list must match")
        XCTAssertEqual(kept(ContentionFilter(types: ["mutex"], stacks: ["rmdir"])), [])
    }
}
