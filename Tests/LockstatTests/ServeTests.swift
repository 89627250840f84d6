import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// `lockstat serve` against a real Prometheus, promtool and OpenMetrics parser, on a real
/// mkdir/rmdir storm; its stop, a port in use, a scraper that hangs up, the series cap.
final class ServeTests: XCTestCase {
    func requireServe() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: serve's contention module needs root") }
        if let reason = ContentionModule().unavailableReason(SystemRoot()) ?? ContentionModule.bpfRefusal(SystemRoot()) {
            throw XCTSkip("SKIPPED: \(reason)")
        }
    }

    /// A port nothing listens on now.
    func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw LockstatError("no free port") }
        return UInt16(bigEndian: address.sin_port)
    }

    final class Served {
        let process = Process()
        let port: UInt16
        let errors: String

        init(port: UInt16, arguments: [String], directory: String) throws {
            self.port = port
            errors = directory + "/serve-\(port).err"
            _ = FileManager.default.createFile(atPath: errors, contents: nil)
            process.executableURL = URL(fileURLWithPath: Lockstat.binaries + "/lockstat")
            process.arguments = ["serve", "--listen", "127.0.0.1:\(port)"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: errors)
            try process.run()
        }

        var stderr: String { (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "" }

        /// Waits until serve says it serves (or exits).
        func waitUntilServing(file: StaticString = #filePath, line: UInt = #line) {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, process.isRunning, !stderr.contains("serving ") { usleep(50_000) }
            XCTAssertTrue(stderr.contains("serving "), stderr, file: file, line: line)
        }

        func scrape(openMetrics: Bool = false) throws -> String {
            let r = try shell(["curl", "-sf", "-H", "Accept: " + (openMetrics ? "application/openmetrics-text; version=1.0.0" : "text/plain"),
                               "http://127.0.0.1:\(port)/metrics"])
            guard r.status == 0 else { throw LockstatError("scrape failed: \(r.err)") }
            return r.out
        }

        func terminate() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    func compile(_ path: String) throws -> String {
        let exe = temporaryDirectory() + "/" + URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let cc = try shell(["cc", "-O2", "-pthread", "-o", exe, Fixtures.repository.path + "/" + path])
        XCTAssertEqual(cc.status, 0, cc.err)
        return exe
    }

    /// Prometheus scrapes serve every second during a storm: its increase() over the storm agrees
    /// with lockstat's own count between two scrapes (within 5 %), the target is up with no scrape
    /// error, promtool accepts the Prometheus text format and prometheus_client's OpenMetrics
    /// parser the OpenMetrics one. serve counts its BPF programs' run time only when asked
    /// (contention.bpf_time yes) and never writes kernel.bpf_stats_enabled; SIGTERM stops it with
    /// status 0.
    func testPrometheusScrapesTheStormAndAgreesWithLockstat() throws {
        try requireServe()
        for tool in ["/usr/bin/prometheus", "/usr/bin/promtool"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("SKIPPED: no \(tool) (Debian's prometheus package; .ci/run installs it)")
        }
        let dir = temporaryDirectory(), storm = try compile("Tests/contention/mkdir-storm.c")
        let switchBefore = bpfStatsSwitch()
        let serve = try Served(port: try freePort(), arguments: ["--modules", "stat,diskstats,contention"], directory: dir)
        serve.waitUntilServing()
        XCTAssertFalse(holdsBPFStatsDescriptor(serve.process.processIdentifier), "no run-time statistics unless asked")
        XCTAssertEqual(bpfStatsSwitch(), switchBefore, "kernel.bpf_stats_enabled is not lockstat's to write")
        let r = try shell(["python3", Fixtures.repository.path + "/Tests/serve/prometheus-storm.py", String(serve.port), String(try freePort()), dir, storm])
        XCTAssertEqual(r.status, 0, r.err)
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out + r.err)
        let own = try XCTUnwrap(result["own"] as? Double), prometheus = try XCTUnwrap(result["prometheus"] as? Double, r.out)
        XCTAssertGreaterThan(own, 200, "the storm contended: \(r.out)")
        XCTAssertEqual(prometheus, own, accuracy: own * 0.05, r.out)
        XCTAssertEqual(result["health"] as? [String], ["up"], r.out)
        XCTAssertEqual(result["last_error"] as? [String], [""], r.out)
        XCTAssertEqual(result["openmetrics_content_type"] as? String, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertTrue((result["openmetrics_parser"] as? String)?.hasPrefix("ok") == true, r.out)

        let text = try serve.scrape()
        try text.write(toFile: dir + "/metrics.txt", atomically: true, encoding: .utf8)
        let check = try shell(["sh", "-c", "promtool check metrics < \(dir)/metrics.txt"])
        XCTAssertEqual(check.status, 0, check.out + check.err)
        let openMetrics = try serve.scrape(openMetrics: true)
        XCTAssertTrue(openMetrics.hasSuffix("# EOF\n"))
        XCTAssertTrue(openMetrics.contains("# UNIT lockstat_lock_wait_seconds seconds"))
        XCTAssertTrue(openMetrics.contains("lockstat_lock_wait_seconds_bucket{caller=\""))
        XCTAssertFalse(openMetrics.contains("0xffff"), "no raw kernel address without serve.addresses yes")

        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
        XCTAssertTrue(serve.stderr.contains("SIGTERM: stopped"), serve.stderr)
        XCTAssertEqual(bpfStatsSwitch(), switchBefore)
    }

    /// A port in use: one line naming the address, status 1, before presampling.
    func testAPortInUseIsRefusedBeforeAnythingChanges() throws {
        try requireServe()
        let dir = temporaryDirectory(), port = try freePort()
        let first = try Served(port: port, arguments: ["--modules", "stat"], directory: dir)
        first.waitUntilServing()
        let second = try Lockstat.tool(["serve", "--listen", "127.0.0.1:\(port)", "--modules", "contention"])
        XCTAssertEqual(second.status, 1, second.err)
        XCTAssertEqual(second.err, "lockstat: 127.0.0.1:\(port): address already in use (another lockstat serve or exporter listens there; --listen picks another)\n")
        XCTAssertEqual(first.terminate(), 0)
        let bad = try Lockstat.tool(["serve", "--listen", "nowhere"])
        XCTAssertEqual(bad.status, 2, bad.err)
        XCTAssertTrue(bad.err.contains("--listen: expected host:port"), bad.err)
    }

    /// Scrapers that hang up in the middle of a response (a reset after the first bytes) leave
    /// serve running and answering; / says what it serves; any other path is a 404.
    func testScrapersThatHangUpMidResponseLeaveServeAnswering() throws {
        try requireServe()
        let dir = temporaryDirectory()
        let serve = try Served(port: try freePort(), arguments: ["--modules", "stat,diskstats,contention"], directory: dir)
        serve.waitUntilServing()
        let hangUps = """
        import socket, struct, sys
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            s.recv(64)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        """
        let r = try shell(["python3", "-c", hangUps, String(serve.port)])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(serve.process.isRunning, serve.stderr)
        XCTAssertTrue(try serve.scrape().contains("lockstat_scrapes_total"))
        let root = try shell(["curl", "-s", "http://127.0.0.1:\(serve.port)/"])
        XCTAssertTrue(root.out.contains("GET /metrics"), root.out)
        let missing = try shell(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(serve.port)/nothing"])
        XCTAssertEqual(missing.out, "404")
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
    }

    /// serve.max_series 3 beside an uncapped serve: every family of the capped one has at most
    /// 3 rows plus `other`, every series only grows, and the CPU time of all its rows together
    /// (other included) grows as much as the uncapped one's, which is what the CPUs had to give.
    func testTheCapBoundsEveryFamilyAndCountsTheRestInOther() throws {
        try requireServe()
        let dir = temporaryDirectory()
        try "modules stat diskstats contention\nserve.max_series 3\n".write(toFile: dir + "/capped.config", atomically: true, encoding: .utf8)
        let capped = try Served(port: try freePort(), arguments: ["--config", dir + "/capped.config"], directory: dir)
        let open = try Served(port: try freePort(), arguments: ["--modules", "stat,diskstats,contention"], directory: dir)
        capped.waitUntilServing()
        open.waitUntilServing()
        let storm = try compile("Tests/contention/mkdir-storm.c")
        let a = (capped: try Self.samples(capped.scrape()), open: try Self.samples(open.scrape()))
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: true)
        XCTAssertEqual(try shell([storm, dir + "/storm", "2", "4"]).status, 0)
        let b = (capped: try Self.samples(capped.scrape()), open: try Self.samples(open.scrape()))
        let families = Set(b.capped.keys.map(\.family))
        // A histogram row has a _bucket line per bucket; its _count and _sum lines count its rows.
        for family in families where !family.hasSuffix("_bucket") {
            let rows = b.capped.keys.filter { $0.family == family }
            XCTAssertLessThanOrEqual(rows.count, 4, family)
        }
        XCTAssertTrue(b.capped.keys.contains { $0.family == "lockstat_cpu_seconds_total" && $0.labels.contains("cpu=\"other\"") })
        for (key, value) in a.capped { XCTAssertGreaterThanOrEqual(b.capped[key] ?? -1, value, "\(key) went back") }
        func cpu(_ s: [ServeTests.Key: Double]) -> Double { s.filter { $0.key.family == "lockstat_cpu_seconds_total" }.values.reduce(0, +) }
        let cappedGain = cpu(b.capped) - cpu(a.capped), openGain = cpu(b.open) - cpu(a.open)
        XCTAssertGreaterThan(openGain, 1)
        // The two scrapes of each are a few ms apart: 0.1 s of CPU time (10 USER_HZ ticks) is the spread.
        XCTAssertEqual(cappedGain, openGain, accuracy: 0.1 + openGain * 0.03)
        XCTAssertEqual(capped.terminate(), 0)
        XCTAssertEqual(open.terminate(), 0)
    }

    /// Thousands of distinct rows (Tests/serve/many-locks.c: 2,000 directories contended in turn,
    /// lock addresses as labels with serve.addresses yes): with serve.max_series 50 every family
    /// keeps 50 rows and `other`, the scrape stays small, and the family's contentions over the
    /// workload add up to those of a serve without a cap on the same kernel.
    func testThousandsOfLocksStayWithinTheCapAndAddUp() throws {
        try requireServe()
        let dir = temporaryDirectory(), workload = try compile("Tests/serve/many-locks.c")
        try "modules contention\nserve.addresses yes\nserve.max_series 50\n".write(toFile: dir + "/capped.config", atomically: true, encoding: .utf8)
        try "modules contention\nserve.addresses yes\nserve.max_series 100000\n".write(toFile: dir + "/open.config", atomically: true, encoding: .utf8)
        let capped = try Served(port: try freePort(), arguments: ["--config", dir + "/capped.config"], directory: dir)
        let open = try Served(port: try freePort(), arguments: ["--config", dir + "/open.config"], directory: dir)
        capped.waitUntilServing()
        open.waitUntilServing()
        func contentions(_ s: [Key: Double]) -> Double { s.filter { $0.key.family == "lockstat_lock_wait_seconds_count" }.values.reduce(0, +) }
        let a = (capped: contentions(Self.samples(try capped.scrape())), open: contentions(Self.samples(try open.scrape())))
        try FileManager.default.createDirectory(atPath: dir + "/locks", withIntermediateDirectories: true)
        XCTAssertEqual(try shell([workload, dir + "/locks", "2000", "2", "4"]).status, 0)
        let cappedText = try capped.scrape(), openText = try open.scrape()
        let b = (capped: Self.samples(cappedText), open: Self.samples(openText))
        let openRows = b.open.keys.filter { $0.family == "lockstat_lock_wait_seconds_count" }.count
        XCTAssertGreaterThan(openRows, 1000, "the workload made thousands of rows")
        for family in Set(b.capped.keys.map(\.family)) where !family.hasSuffix("_bucket") {
            XCTAssertLessThanOrEqual(b.capped.keys.filter { $0.family == family }.count, 51, family)
        }
        XCTAssertTrue(b.capped.keys.contains { $0.family == "lockstat_lock_wait_seconds_count" && $0.labels.contains("caller=\"other\"") })
        XCTAssertLessThan(cappedText.utf8.count, 200_000)
        let cappedGain = contentions(b.capped) - a.capped, openGain = contentions(b.open) - a.open
        XCTAssertGreaterThan(openGain, 2000)
        // The two serves' scrapes are a few ms apart: what contended in between is the spread.
        XCTAssertEqual(cappedGain, openGain, accuracy: 50 + openGain * 0.02)
        XCTAssertEqual(capped.terminate(), 0)
        XCTAssertEqual(open.terminate(), 0)
    }

    struct Key: Hashable { let family: String, labels: String }

    /// Sample lines of the Prometheus text format: (name, labels) → value.
    static func samples(_ text: String) -> [Key: Double] {
        var out = [Key: Double]()
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            let brace = series.firstIndex(of: "{") ?? series.endIndex
            out[Key(family: String(series[..<brace]), labels: String(series[brace...]))] = value
        }
        return out
    }
}
