import XCTest
@testable import LockstatCore
import LockstatModules

final class ConfigTests: XCTestCase {
    let catalog = ModuleCatalog(BuiltInModules.all)

    func parse(_ text: String) throws -> Config { try ConfigParser.parse(text, file: "test.config", catalog: catalog) }

    func error(_ text: String) -> LockstatError? {
        do { _ = try parse(text); return nil } catch { return error as? LockstatError }
    }

    func testDefaultSamplesEveryTenthOfASecond() throws {
        let c = try parse(ConfigParser.defaultText)
        XCTAssertTrue(c.automatic, "modules auto: chosen where the config is used")
        XCTAssertEqual(c.interval, 0.1)
    }

    /// The original's shipped file, with a module that does not exist here removed.
    func testOriginalFormat() throws {
        let c = try parse("vmlinux /usr/src/linux/vmlinux\nprocfiles /proc/stat /proc/lock_stat /proc/diskstats\nkernel_mod /usr/src/linux\nmodules diskstats lock_stat stat\nintervall 0.2\n")
        XCTAssertEqual(c.modules, ["diskstats", "lock_stat", "stat"], "the order written is kept")
        XCTAssertEqual(c.interval, 0.2)
        XCTAssertEqual(c.globals["procfiles"], ["/proc/stat", "/proc/lock_stat", "/proc/diskstats"])
        XCTAssertEqual(c.globals["vmlinux"], ["/usr/src/linux/vmlinux"])
    }

    func testCommentsSamprateModuleKeysAndLastWins() throws {
        let c = try parse("# a comment\nmodules stat   lock_stat # trailing comment\n\nsamprate 5.0\nlock_stat.intervall 1\nlock_stat.top 20\nmodules stat\n")
        XCTAssertEqual(c.modules, ["stat"])
        XCTAssertEqual(c.interval, 0.2, accuracy: 1e-12)
        XCTAssertEqual(c.interval(for: "lock_stat"), 1)
        XCTAssertEqual(c.interval(for: "stat"), 0.2, accuracy: 1e-12)
        XCTAssertEqual(c.setting("lock_stat", "top"), ["20"])
    }

    /// The original's `oprofile` and its other name `profile`: both are the one module; its
    /// keys' values are checked where the config is read.
    func testProfileAliasAndModuleKeyValues() throws {
        let c = try parse("modules diskstats lock_stat stat oprofile\nprofile.frequency 199\noprofile.scope program\n")
        XCTAssertEqual(c.modules, ["diskstats", "lock_stat", "stat", "oprofile"])
        XCTAssertEqual(try parse("modules profile\n").modules, ["oprofile"])
        XCTAssertEqual(c.setting("oprofile", "frequency"), ["199"])
        XCTAssertEqual(c.setting("oprofile", "scope"), ["program"])
        XCTAssertEqual(error("modules profile\nprofile.frequency 0\n")?.message,
                       "test.config:2: key 'profile.frequency' must be from 1 to 1000000, got 0")
        XCTAssertEqual(error("oprofile.event instructions\n")?.message,
                       "test.config:1: key 'oprofile.event' takes one of auto, cycles, cpu-clock, got 'instructions'")
        XCTAssertEqual(error("lock_stat.clear maybe\n")?.exitCode, 2)
        XCTAssertEqual(error("modules proflie\n")?.message.contains("did you mean 'profile'?"), true)
    }

    func testErrorsNameFileLineAndKey() {
        XCTAssertEqual(error("modules stat\nintervl 0.5\n")?.message, "test.config:2: unknown key 'intervl' (did you mean 'intervall'?)")
        XCTAssertEqual(error("modules stat\nintervl 0.5\n")?.exitCode, 2)
        XCTAssertEqual(error("intervall 0\n")?.message, "test.config:1: key 'intervall' must be greater than 0, got 0")
        XCTAssertEqual(error("\n\nintervall -1\n")?.message, "test.config:3: key 'intervall' must be greater than 0, got -1")
        XCTAssertEqual(error("intervall fast\n")?.message, "test.config:1: key 'intervall' needs one number, got 'fast'")
        XCTAssertEqual(error("samprate\n")?.message, "test.config:1: key 'samprate' needs one number, got ''")
        XCTAssertEqual(error("modules stat dikstats\n")?.message, "test.config:1: unknown module 'dikstats' in key 'modules' (did you mean 'diskstats'?)")
        XCTAssertEqual(error("lock_stat.clearr no\n")?.message, "test.config:1: unknown key 'lock_stat.clearr' (did you mean 'lock_stat.clear'?)")
        XCTAssertEqual(error("lockstat.top 3\n")?.message, "test.config:1: unknown module 'lockstat' in key 'lockstat.top' (did you mean 'lock_stat'?)")
        XCTAssertEqual(error("stat.intervall nan\n")?.message, "test.config:1: key 'stat.intervall' needs one number, got 'nan'")
        XCTAssertEqual(error("frobnicate 1\n")?.message, "test.config:1: unknown key 'frobnicate'")
    }

    func testRenderedConfigReadsBackTheSame() throws {
        let c = try parse("modules lock_stat stat\nintervall 0.3\nvmlinux /boot/vmlinux\nlock_stat.intervall 2\nlock_stat.clear no\n")
        XCTAssertEqual(try parse(c.rendered()), c)
        XCTAssertTrue(c.rendered().contains("intervall 0.3\n"))
    }

    func testConfigSourceOrder() throws {
        let dir = temporaryDirectory()
        let file = dir + "/my.config"
        try "modules stat\nintervall 2\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (fromEnv, origin) = try ConfigSource.load(explicit: nil, environment: ["LOCKSTAT_CONFIG": file], catalog: catalog)
        XCTAssertEqual(fromEnv.interval, 2)
        XCTAssertEqual(origin, file)
        let (builtIn, _) = try ConfigSource.load(explicit: nil, environment: [:], catalog: catalog)
        XCTAssertEqual(builtIn.interval, 0.1)
        XCTAssertThrowsError(try ConfigSource.load(explicit: dir + "/missing", environment: ["LOCKSTAT_CONFIG": file], catalog: catalog)) {
            XCTAssertEqual(($0 as? LockstatError)?.message, "\(dir)/missing: cannot read config: no such file")
        }
    }
}
