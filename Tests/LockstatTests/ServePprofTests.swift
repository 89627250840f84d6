import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// `lockstat serve`'s /debug/pprof/contention read by its real peer, `go tool pprof`, against
/// serve's own histogram counts on a real mkdir/rmdir storm.
final class ServePprofTests: XCTestCase {
    let helper = ServeTests(name: "helper", testClosure: { _ in })

    func requireGo() throws {
        try helper.requireServe()
        guard (try? shell(["go", "version"]))?.status == 0 else { throw XCTSkip("SKIPPED: no go (golang-go)") }
    }

    /// `go tool pprof -raw URL-or-file`: the samples' (contentions, delay ns) summed, and its whole output.
    func pprof(_ url: String, _ dir: String) throws -> (contentions: Double, delay: Double, text: String) {
        let r = try shell(["env", "PPROF_TMPDIR=\(dir)", "go", "tool", "pprof", "-raw", url])
        XCTAssertEqual(r.status, 0, r.err)
        var contentions = 0.0, delay = 0.0
        var inSamples = false
        for line in r.out.split(separator: "\n") {
            if line.hasPrefix("Samples:") { inSamples = true } else if line.hasPrefix("Locations") { break }
            guard inSamples, let colon = line.firstIndex(of: ":") else { continue }
            let values = line[..<colon].split(separator: " ").compactMap { Double($0) }
            guard values.count == 2 else { continue }
            contentions += values[0]
            delay += values[1]
        }
        return (contentions, delay, r.out)
    }

    func contentions(_ metrics: String) -> Double {
        ServeTests.samples(metrics).filter { $0.key.family == "lockstat_lock_wait_seconds_count" }.values.reduce(0, +)
    }

    /// During a storm, `?seconds=2` reads the storm's stacks, and its count lies within what serve
    /// counted between a scrape before and one after it. Once the storm has ended, the profile
    /// since serve started and the histogram's `_count`s, read one after the other, agree within 1 %.
    func testGoToolPprofReadsTheStormAndAgreesWithTheCounters() throws {
        try requireGo()
        let dir = temporaryDirectory(), storm = try helper.compile("Tests/contention/mkdir-storm.c")
        let serve = try ServeTests.Served(
            port: try helper.freePort(), arguments: ["--modules", "contention"], directory: dir)
        defer { _ = serve.terminate() }
        serve.waitUntilServing()
        let base = "http://127.0.0.1:\(serve.port)"
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: true)
        let workload = Process()
        workload.executableURL = URL(fileURLWithPath: storm)
        workload.arguments = [dir + "/storm", "6", "4"]
        workload.standardOutput = FileHandle.nullDevice
        try workload.run()
        let before = contentions(try serve.scrape())
        let window = try pprof(base + "/debug/pprof/contention?seconds=2", dir)
        let after = contentions(try serve.scrape())
        XCTAssertTrue(window.text.contains("Duration: 2"), window.text)
        XCTAssertTrue(window.text.contains("type:[rwsem:W]"), "the storm's i_rwsem waits: \(window.text.prefix(2000))")
        XCTAssertTrue(window.text.contains("mkdir"), "the storm's stacks: \(window.text.prefix(2000))")
        XCTAssertGreaterThan(window.contentions, 0)
        XCTAssertLessThanOrEqual(window.contentions, after - before, "the 2 s lie within the scrapes' window")
        workload.waitUntilExit()
        XCTAssertEqual(workload.terminationStatus, 0)

        // Fetched, then scraped at once (go tool pprof reads the file after): the machine's other
        // contention between the two reads is the spread.
        let fetched = try shell(["curl", "-sf", "-o", dir + "/contention.pb.gz", base + "/debug/pprof/contention"])
        let counted = contentions(try serve.scrape())
        XCTAssertEqual(fetched.status, 0, fetched.err)
        let total = try pprof(dir + "/contention.pb.gz", dir)
        print("pprof ?seconds=2: \(window.contentions) of \(after - before) between the scrapes; since start: "
            + "pprof \(total.contentions), histogram _count \(counted)")
        XCTAssertGreaterThan(counted, 200, "the storm contended")
        XCTAssertEqual(total.contentions, counted, accuracy: counted * 0.01, total.text.prefix(1000) + "")
        XCTAssertTrue(total.text.contains("caller:["), "samples labelled with the report's caller")
    }

    /// Bad requests are answered as Go's net/http/pprof answers them; `/` lists the profile.
    func testBadRequestsAreAnsweredAsGoDoes() throws {
        try helper.requireServe()
        let dir = temporaryDirectory()
        let serve = try ServeTests.Served(
            port: try helper.freePort(), arguments: ["--modules", "contention"], directory: dir)
        defer { _ = serve.terminate() }
        serve.waitUntilServing()
        let base = "http://127.0.0.1:\(serve.port)"
        func get(_ path: String) throws -> (status: String, headers: String, body: String) {
            let r = try shell(["curl", "-s", "-D", dir + "/headers", base + path])
            let headers = try String(contentsOfFile: dir + "/headers", encoding: .utf8)
            return (String(headers.split(separator: " ").dropFirst().first ?? ""), headers, r.out)
        }
        let index = try get("/")
        XCTAssertTrue(index.body.contains("GET /debug/pprof/contention"), index.body)
        XCTAssertTrue(try get("/debug/pprof/").body.contains("/debug/pprof/contention"))
        for seconds in ["abc", "0", "-1", "1.5", ""] {
            let r = try get("/debug/pprof/contention?seconds=\(seconds)")
            XCTAssertEqual(r.status, "400", "seconds=\(seconds)")
            XCTAssertEqual(r.body, "invalid value for \"seconds\" - must be a positive integer\n")
            XCTAssertTrue(r.headers.contains("X-Go-Pprof: 1"), r.headers)
        }
        let long = try get("/debug/pprof/contention?seconds=\(PprofEndpoint.maxSeconds + 1)")
        XCTAssertEqual(long.status, "400")
        XCTAssertTrue(long.body.hasPrefix("profile duration exceeds"), long.body)
        let unknown = try get("/debug/pprof/heap")
        XCTAssertEqual(unknown.status, "404")
        XCTAssertEqual(unknown.body, "Unknown profile\n")
        let profile = try get("/debug/pprof/contention")
        XCTAssertEqual(profile.status, "200")
        XCTAssertTrue(profile.headers.contains("Content-Type: application/octet-stream"), profile.headers)
    }
}
