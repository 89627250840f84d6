import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// serve with contention.wakers yes: the hold-under-contention family beside the waits' (whose
/// labels are unchanged), valid for a real Prometheus (scraping it every second through a storm:
/// up, no scrape error), promtool and prometheus_client's OpenMetrics parser; over a storm every
/// series only grows, and no row gained more holds than its caller's waits (a hold under
/// contention follows a contended acquisition). Without wakers the family is absent.
final class ServeHoldsTests: XCTestCase {
    static let family = "lockstat_lock_hold_under_contention_seconds"

    func testHoldsUnderContentionAreServedAndPrometheusTakesThem() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: serve's contention module needs root") }
        if let reason = ContentionModule().unavailableReason(SystemRoot()) ?? ContentionModule.bpfRefusal(SystemRoot()) {
            throw XCTSkip("SKIPPED: \(reason)")
        }
        for tool in ["/usr/bin/prometheus", "/usr/bin/promtool"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("SKIPPED: no \(tool) (Debian's prometheus package; .ci/run installs it)")
        }
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mkdir-storm.c")
        try "modules contention\ncontention.wakers yes\n".write(toFile: dir + "/w.config", atomically: true, encoding: .utf8)
        let serve = try ServeTests.Served(
            port: try freePort(), arguments: ["--config", dir + "/w.config"], directory: dir)
        let plain = try ServeTests.Served(
            port: try freePort(), arguments: ["--modules", "contention"], directory: dir)
        serve.waitUntilServing()
        plain.waitUntilServing()
        let a = ServeTests.samples(try serve.scrape())
        let r = try shell([
            "python3", Fixtures.repository.path + "/Tests/serve/prometheus-storm.py", String(serve.port),
            String(try freePort()), dir, storm,
        ])
        XCTAssertEqual(r.status, 0, r.err)
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out + r.err)
        XCTAssertEqual(result["health"] as? [String], ["up"], r.out)
        XCTAssertEqual(result["last_error"] as? [String], [""], r.out)
        XCTAssertTrue((result["openmetrics_parser"] as? String)?.hasPrefix("ok") == true, r.out)
        let text = try serve.scrape()
        try text.write(toFile: dir + "/metrics.txt", atomically: true, encoding: .utf8)
        let check = try shell(["sh", "-c", "promtool check metrics < \(dir)/metrics.txt"])
        XCTAssertEqual(check.status, 0, check.out + check.err)
        let openMetrics = try serve.scrape(openMetrics: true)
        XCTAssertTrue(openMetrics.contains("# TYPE \(Self.family) histogram"), openMetrics)
        XCTAssertTrue(openMetrics.contains("# UNIT \(Self.family) seconds"), openMetrics)
        let b = ServeTests.samples(text)
        for (key, value) in a { XCTAssertGreaterThanOrEqual(b[key] ?? -1, value, "\(key) went back") }
        func gains(_ family: String) -> [String: Double] {
            var out = [String: Double]()
            for (key, value) in b where key.family == family { out[key.labels] = value - (a[key] ?? 0) }
            return out
        }
        let holds = gains(Self.family + "_count"), waits = gains("lockstat_lock_wait_seconds_count")
        let storms = holds.filter { $0.key.contains("type=\"rwsem:W\"") }
        XCTAssertGreaterThan(storms.values.reduce(0, +), 100, "the storm's holds under contention: \(holds)")
        for (labels, held) in holds {
            XCTAssertLessThanOrEqual(held, waits[labels] ?? 0, "\(labels): more holds than contended waits")
        }
        for (key, value) in b where key.family == Self.family + "_sum" { XCTAssertGreaterThanOrEqual(value, 0) }
        let without = ServeTests.samples(try plain.scrape())
        XCTAssertFalse(without.keys.contains { $0.family.hasPrefix(Self.family) })
        XCTAssertTrue(without.keys.contains { $0.family == "lockstat_lock_wait_seconds_count" })
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
        XCTAssertEqual(plain.terminate(), 0, plain.stderr)
    }

    /// A port nothing listens on now.
    func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in(
            sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")),
            sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw LockstatError("no free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}
