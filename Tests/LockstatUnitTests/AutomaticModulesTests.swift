import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// `modules auto`, the built-in default: the config's word, and what each module says of it.
final class AutomaticModulesTests: XCTestCase {
    let catalog = ModuleCatalog(BuiltInModules.all)

    func parse(_ text: String) throws -> Config { try ConfigParser.parse(text, file: "t.config", catalog: catalog) }

    func testTheDefaultAndAConfigWithoutModulesAreAuto() throws {
        for text in [ConfigParser.defaultText, "intervall 0.1\n", "modules auto\n"] {
            let c = try parse(text)
            XCTAssertTrue(c.automatic, text)
            XCTAssertEqual(c.modules, [], text)
            XCTAssertTrue(c.rendered().contains("\nmodules auto\n"))
        }
        let named = try parse("modules auto\nmodules stat\n")
        XCTAssertFalse(named.automatic, "a config naming modules works as before")
        XCTAssertEqual(named.modules, ["stat"])
    }

    func testAutoStandsAlone() {
        XCTAssertThrowsError(try parse("modules auto stat\n")) { e in
            XCTAssertEqual((e as? LockstatError)?.message,
                           "t.config:1: 'auto' stands alone in key 'modules': it chooses every module that can run here")
            XCTAssertEqual((e as? LockstatError)?.exitCode, 2)
        }
        var c = Config(modules: ["stat"])
        XCTAssertThrowsError(try ConfigParser.setModules(commaSeparated: "stat,auto", in: &c, catalog: catalog, at: "--modules"))
        XCTAssertNoThrow(try ConfigParser.setModules(commaSeparated: "auto", in: &c, catalog: catalog, at: "--modules"))
        XCTAssertTrue(c.automatic)
    }

    /// A replay: contention's bpf mode traces the live kernel, so `auto` leaves it out, saying why.
    func testResolvingChoosesInOrderAndSaysWhyForTheRest() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        for f in ["stat", "diskstats"] {
            try Fixtures.bytes("\(f)/vm-6.18-\(f == "stat" ? "2cpu" : "20field").txt").withUnsafeBytes {
                try Data($0).write(to: URL(fileURLWithPath: root + "/proc/" + f))
            }
        }
        let (config, lines) = AutomaticModules.resolve(
            Config(modules: [], automatic: true), modules: BuiltInModules.all, system: SystemRoot(root))
        XCTAssertFalse(config.automatic)
        XCTAssertEqual(Array(config.modules.prefix(2)), ["stat", "diskstats"])
        XCTAssertFalse(config.modules.contains("contention"))
        XCTAssertFalse(config.modules.contains("lock_stat"), "no /proc/lock_stat in the replay")
        XCTAssertTrue(lines.contains { $0.hasPrefix("modules auto: left out lock_stat: kernel built without CONFIG_LOCK_STAT") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("modules auto: left out contention: bpf mode traces the live kernel") }, "\(lines)")
    }

    func testTheProfileJoinsAutoOnlyAtACostUnderTwoPercent() {
        XCTAssertLessThanOrEqual(ProfileModule.cost(frequency: 99), 0.02, "the default frequency")
        XCTAssertGreaterThan(ProfileModule.cost(frequency: 1500), 0.02)
        var config = Config(modules: [], automatic: true)
        config.moduleSettings["oprofile"] = ["frequency": ["5000"]]
        if let reason = ProfileModule().automaticRefusal(config, SystemRoot()) {
            XCTAssertTrue(reason.contains("costs about 7.0 %") || reason.contains("perf_event_paranoid"), reason)
        } else {
            XCTFail("5000 Hz is more than auto allows")
        }
    }
}
