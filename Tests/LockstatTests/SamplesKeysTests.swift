import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// samples.json keeps its documented keys and values: each module's parse of fixed raw logs
/// (built from the fixtures in Tests/LockstatUnitTests, and one real bpf-mode contention log) is compared key by key
/// with Tests/golden/*.json, written by the lockstat before the typed results model.
/// LOCKSTAT_WRITE_GOLDEN=1 rewrites the golden files (and the test then counts as skipped).
final class SamplesKeysTests: XCTestCase {
    static let golden = Fixtures.repository.appendingPathComponent("Tests/golden")
    /// Keys added since the golden files were written (docs/samples-keys.md): new, never changed.
    static let additions = [
        ".cost.cpus: only in new", ".over_run: only in new", ".cost.recursion_missed: only in new", ".cost.path_hits: only in new",
        ".cost.path_conflicts: only in new",
    ]

    /// A fixture made into `count` snapshots: counters (tokens from `firstCounter` on) grow by
    /// a fixed amount per line and column, so rates are non-zero and the same on every machine.
    static func growing(_ text: String, count: Int, firstCounter: Int) -> [[UInt8]] {
        (0..<count).map { i in
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { l, line -> String in
                var k = 0
                return line.split(separator: " ", omittingEmptySubsequences: false).map { token -> String in
                    defer { if !token.isEmpty { k += 1 } }
                    guard k >= firstCounter, let v = UInt64(token) else { return String(token) }
                    return String(v + UInt64(i * ((l * 7 + k * 3) % 50)))
                }.joined(separator: " ")
            }
            return Array(lines.joined(separator: "\n").utf8)
        }
    }

    static func cases() throws -> [(name: String, module: any LockstatModule, log: RawLog, config: Config)] {
        var cases = [(name: String, module: any LockstatModule, log: RawLog, config: Config)]()
        for file in try Fixtures.files(in: "stat") {
            let text = String(decoding: try Fixtures.bytes(file), as: UTF8.self)
            cases.append((file, StatModule(), try rawLog(snapshots: Self.growing(text, count: 3, firstCounter: 1), times: [0, 1, 2.5]),
                          Config(modules: ["stat"])))
        }
        for file in try Fixtures.files(in: "diskstats") {
            let text = String(decoding: try Fixtures.bytes(file), as: UTF8.self)
            cases.append((file, DiskstatsModule(), try rawLog(snapshots: Self.growing(text, count: 3, firstCounter: 3), times: [0, 0.5, 1.5]),
                          Config(modules: ["diskstats"])))
        }
        let idle = try Fixtures.bytes("lock_stat/vm-6.1-idle.txt"), workload = try Fixtures.bytes("lock_stat/vm-6.1-workload.txt")
        cases.append(("lock_stat/vm-6.1", LockStatModule(), try rawLog(snapshots: [idle, workload], times: [0, 2]), Config(modules: ["lock_stat"])))
        for file in try Fixtures.files(in: "lock_stat") where file.contains("kdoc") {
            let text = String(decoding: try Fixtures.bytes(file), as: UTF8.self)
            cases.append((file, LockStatModule(), try rawLog(snapshots: Self.growing(text, count: 2, firstCounter: 1), times: [0, 1]),
                          Config(modules: ["lock_stat"])))
        }
        let contentionConfig = Self.golden.appendingPathComponent("contention-bpf.config").path
        let config = try ConfigParser.parse(try String(contentsOfFile: contentionConfig, encoding: .utf8), file: contentionConfig,
                                            catalog: ModuleCatalog(BuiltInModules.all))
        cases.append(("contention/bpf", ContentionModule(), try RawLog.read(path: Self.golden.appendingPathComponent("contention-bpf.log").path), config))
        return cases
    }

    func testEveryModulesSamplesJSONIsUnchangedKeyByKey() throws {
        let write = ProcessInfo.processInfo.environment["LOCKSTAT_WRITE_GOLDEN"] == "1"
        for c in try Self.cases() {
            let json = JSON.encode(try c.module.parse(c.log, config: c.config).data)
            let file = Self.golden.appendingPathComponent(c.name.replacingOccurrences(of: "/", with: "_") + ".json")
            if write {
                try json.write(to: file, atomically: true, encoding: .utf8)
                continue
            }
            let golden = try String(contentsOf: file, encoding: .utf8)
            if golden == json { continue }
            let expected = try JSONSerialization.jsonObject(with: Data(golden.utf8), options: [.fragmentsAllowed])
            let actual = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
            let differences = Self.differences(expected, actual, at: c.name).filter { d in !Self.additions.contains { d.hasSuffix($0) } }
            XCTAssert(differences.isEmpty, "\(c.name): \(differences.count) differences, first: " + differences.prefix(5).joined(separator: "; "))
        }
        if write { throw XCTSkip("SKIPPED: LOCKSTAT_WRITE_GOLDEN=1: wrote the golden files instead of comparing") }
    }

    /// Where two decoded JSON values differ: missing or extra keys, other types, other values
    /// (numbers to 1e-12 relative, for a changed order of floating-point operations).
    static func differences(_ a: Any, _ b: Any, at path: String) -> [String] {
        switch (a, b) {
        case let (a as [String: Any], b as [String: Any]):
            var out = Set(a.keys).symmetricDifference(b.keys).sorted().map { "\(path).\($0): only in \(a[$0] == nil ? "new" : "golden")" }
            for key in a.keys.sorted() where b[key] != nil { out += differences(a[key]!, b[key]!, at: "\(path).\(key)") }
            return out
        case let (a as [Any], b as [Any]):
            guard a.count == b.count else { return ["\(path): \(a.count) items, now \(b.count)"] }
            return zip(a, b).enumerated().flatMap { differences($1.0, $1.1, at: "\(path)[\($0)]") }
        case let (a as NSNumber, b as NSNumber):
            let x = a.doubleValue, y = b.doubleValue
            return x == y || abs(x - y) <= 1e-12 * max(abs(x), abs(y)) ? [] : ["\(path): \(a), now \(b)"]
        case let (a as String, b as String):
            return a == b ? [] : ["\(path): \"\(a)\", now \"\(b)\""]
        case (is NSNull, is NSNull):
            return []
        default:
            return ["\(path): \(type(of: a)) \(a), now \(type(of: b)) \(b)"]
        }
    }
}
