import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The settings structs: each key's default, range and parse in one table, which is also what the
/// config parser checks keys against.
final class SettingsTests: XCTestCase {
    let catalog = ModuleCatalog(BuiltInModules.all)

    func parse(_ text: String) throws -> Config { try ConfigParser.parse(text, file: "test.config", catalog: catalog) }

    /// The keys and the values they take, word order included (it is the order the error lists them).
    func testKeyTablesAreTheConfigsKnownKeys() {
        XCTAssertEqual(ContentionSettings.configKeys, ["scope": .choice(["system", "program"]), "top": .integer(1...1_000),
                                                       "mode": .choice(["auto", "bpf", "ring"]), "entries": .integer(1...262_144),
                                                       "types": .words(ContentionFilter.validTypes), "locks": .words(nil),
                                                       "stacks": .words(nil), "cgroup": .words(nil),
                                                       "wakers": .choice(["yes", "no"]), "owner_stacks": .choice(["yes", "no"]),
                                                       "holds": .choice(["contended", "all"]), "bpf_time": .choice(["yes", "no"])])
        XCTAssertEqual(ProfileSettings.configKeys, ["frequency": .integer(1...1_000_000), "scope": .choice(["system", "program"]),
                                                    "top": .integer(1...1_000), "event": .choice(["auto", "cycles", "cpu-clock"]),
                                                    "random_period": .choice(["yes", "no"]), "callgraph": .choice(["fp", "dwarf"])])
        XCTAssertEqual(LockStatSettings.configKeys, ["clear": .choice(["yes", "no"]), "top": .integer(1...1_000)])
        XCTAssertEqual(ScriptSettings.configKeys, ["timeout": .seconds(0.1...86_400)])
        XCTAssertEqual(ServeSettings.configKeys, ["max_series": .integer(1...1_000_000), "addresses": .choice(["yes", "no"]),
                                                  "cgroups": .choice(["yes", "no"])])
        XCTAssertEqual(SamplesSettings.configKeys, ["series": .choice(["lists", "arrays"])])
        for module in BuiltInModules.all where !(module is StatModule) && !(module is DiskstatsModule) {
            XCTAssertEqual(catalog.keys[module.name], module.configKeys, module.name)
            XCTAssertFalse(module.configKeys.isEmpty, module.name)
        }
    }

    func testDefaultsWithoutAnySetting() throws {
        let config = try parse("modules stat\n")
        let contention = ContentionSettings(config)
        XCTAssertEqual(contention.scope, .system)
        XCTAssertEqual(contention.top, 10)
        XCTAssertEqual(contention.mode, .auto)
        XCTAssertEqual(contention.entries, 16384)
        XCTAssertFalse(contention.wakers)
        XCTAssertFalse(contention.bpfTime, "the run-time count slows lock-heavy workloads: asked for only")
        let profile = ProfileSettings(config)
        XCTAssertEqual(profile.frequency, 99)
        XCTAssertEqual(profile.scope, .system)
        XCTAssertEqual(profile.top, 10)
        XCTAssertEqual(profile.event, .auto)
        XCTAssertTrue(profile.randomPeriod)
        XCTAssertTrue(LockStatSettings(config).clear)
        XCTAssertEqual(LockStatSettings(config).top, 10)
        XCTAssertEqual(ScriptSettings(config, module: "mine").timeout, 60)
        XCTAssertEqual(ServeSettings(config).maxSeries, 500)
        XCTAssertFalse(ServeSettings(config).addresses)
        XCTAssertEqual(SamplesSettings(config).series, .lists)
    }

    /// Every key set away from its default, under a module's alias too (`profile.` is `oprofile.`).
    func testEverySettingReadFromTheConfig() throws {
        let config = try parse("""
            modules stat
            contention.scope program
            contention.top 3
            contention.mode ring
            contention.entries 1024
            contention.wakers yes
            profile.frequency 997
            oprofile.scope program
            oprofile.top 7
            oprofile.event cpu-clock
            oprofile.random_period no
            lock_stat.clear no
            lock_stat.top 25
            serve.max_series 40
            serve.addresses yes
            samples.series arrays
            """)
        let contention = ContentionSettings(config)
        XCTAssertEqual(contention.scope, .program)
        XCTAssertEqual(contention.top, 3)
        XCTAssertEqual(contention.mode, .ring)
        XCTAssertEqual(contention.entries, 1024)
        XCTAssertTrue(contention.wakers)
        let profile = ProfileSettings(config)
        XCTAssertEqual(profile.frequency, 997)
        XCTAssertEqual(profile.scope, .program)
        XCTAssertEqual(profile.top, 7)
        XCTAssertEqual(profile.event, .cpuClock)
        XCTAssertFalse(profile.randomPeriod)
        XCTAssertFalse(LockStatSettings(config).clear)
        XCTAssertEqual(LockStatSettings(config).top, 25)
        XCTAssertEqual(ServeSettings(config).maxSeries, 40)
        XCTAssertTrue(ServeSettings(config).addresses)
        XCTAssertEqual(SamplesSettings(config).series, .arrays)
        let script = Config(modules: [], moduleSettings: ["mine": ["timeout": ["2.5"]]])
        XCTAssertEqual(ScriptSettings(script, module: "mine").timeout, 2.5)
    }

    /// A bad value is refused at its line with the words the table offers, as before the tables.
    func testBadValuesAreRefusedByTheTable() throws {
        func message(_ text: String) -> String? {
            do { _ = try parse(text); return nil } catch { return "\(error)" }
        }
        XCTAssertEqual(message("oprofile.event instructions\n"),
                       "test.config:1: key 'oprofile.event' takes one of auto, cycles, cpu-clock, got 'instructions'")
        XCTAssertEqual(message("contention.entries 0\n"), "test.config:1: key 'contention.entries' must be from 1 to 262144, got 0")
        XCTAssertEqual(message("serve.addresses maybe\n"), "test.config:1: key 'serve.addresses' takes one of yes, no, got 'maybe'")
        XCTAssertEqual(message("lock_stat.top 1001\n"), "test.config:1: key 'lock_stat.top' must be from 1 to 1000, got 1001")
    }
}
