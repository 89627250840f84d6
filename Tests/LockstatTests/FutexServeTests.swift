import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// `lockstat serve` with the futex module: its families against a program whose waits are
/// known (Tests/futex/futex_truth.c measures its own time inside pthread_mutex_lock), checked
/// by promtool and scraped by a real Prometheus; contention's family beside it keeps its labels.
final class FutexServeTests: XCTestCase {
    /// While serve runs, futex_truth contends for 2 s outside any run (serve follows no program:
    /// it sees every task). Its heavy lock is served by its symbol as a mutex, its wait within
    /// [-15 %, +2 %] of the program's own measure (the program's clock also counts time inside
    /// pthread_mutex_lock that is no futex sleep), the light lock's below it; promtool accepts
    /// the text; Prometheus ingests the same value; no lock word's address is a label.
    func testServedFutexWaitsAgainstTheProgramsOwnMeasureAndPrometheus() throws {
        try requireFutexModule()
        for tool in ["/usr/bin/prometheus", "/usr/bin/promtool"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("SKIPPED: no \(tool) (Debian's prometheus package; .ci/run installs it)")
        }
        let dir = temporaryDirectory()
        let exe = dir + "/futex_truth"
        try compileFutexTruth(at: exe)
        let contention =
            ContentionModule().unavailableReason(SystemRoot()) == nil && ContentionModule.bpfRefusal(SystemRoot()) == nil
        let serve = try ServeTests.Served(
            port: try Self.freePort(), arguments: ["--modules", contention ? "futex,contention" : "futex"],
            directory: dir)
        defer { if serve.process.isRunning { _ = serve.terminate() } }
        serve.waitUntilServing()
        // A scrape samples first: it returns once what waited before the program is named.
        _ = try serve.scrape()

        let run = try shell([exe, "2", "4"])
        XCTAssertEqual(run.status, 0, run.err)
        var heavyNs = 0.0
        var lightNs = 0.0
        for line in run.out.split(separator: "\n") where line.hasPrefix("worker ") {
            let f = line.split(separator: " ")
            heavyNs += Double(f[3]) ?? 0
            lightNs += Double(f[5]) ?? 0
        }
        XCTAssertGreaterThan(heavyNs, 1e8, run.out)

        // The program has exited: the next sample (0.5 s) holds all of its waits.
        let series = "{process=\"futex_truth\",lock=\"heavy_lock (futex_truth)\",kind=\"mutex\"}"
        var text = ""
        var samples = [ServeTests.Key: Double]()
        let deadline = Date().addingTimeInterval(10)
        repeat {
            text = try serve.scrape()
            samples = ServeTests.samples(text)
            let wait = samples[.init(family: "lockstat_futex_wait_seconds_total", labels: series)] ?? 0
            if wait * 1e9 >= heavyNs * 0.85 { break }
            usleep(200_000)
        } while Date() < deadline
        try text.write(toFile: dir + "/metrics.txt", atomically: true, encoding: .utf8)
        let heavy = try XCTUnwrap(
            samples[.init(family: "lockstat_futex_wait_seconds_total", labels: series)], "no heavy lock series:\n\(text)")
        let light = samples[
            .init(
                family: "lockstat_futex_wait_seconds_total",
                labels: "{process=\"futex_truth\",lock=\"light_lock (futex_truth)\",kind=\"mutex\"}")] ?? 0
        print("served heavy_lock wait \(heavy) s against the program's \(heavyNs / 1e9) s; light \(light) s against \(lightNs / 1e9) s")
        XCTAssertEqual(heavy * 1e9, heavyNs * 0.935, accuracy: heavyNs * 0.085)
        XCTAssertLessThan(light, heavy)
        let woken = samples[
            .init(
                family: "lockstat_futex_waits_total",
                labels: "{process=\"futex_truth\",lock=\"heavy_lock (futex_truth)\",kind=\"mutex\",outcome=\"woken\"}")] ?? 0
        XCTAssertGreaterThan(woken, 50, text)
        XCTAssertTrue(text.contains("kind=\"condvar\""), "the condition variable's waits are classed as such")
        XCTAssertFalse(text.contains("lock=\"0x"), "no lock word's address as a label without serve.addresses yes")
        XCTAssertFalse(text.contains("+0x7f"), "no offset in a heap, stack or anonymous mapping as a label")
        if contention {
            XCTAssertTrue(
                text.contains("# TYPE lockstat_lock_wait_seconds histogram"), "contention's family beside futex's")
            XCTAssertTrue(
                samples.keys.contains {
                    $0.family == "lockstat_lock_wait_seconds_count" && $0.labels.hasPrefix("{caller=\"")
                        && $0.labels.contains("\",type=\"") && $0.labels.contains("\",lock=\"")
                },
                "lockstat_lock_wait_seconds keeps its labels caller, type, lock")
        }
        let check = try shell(["sh", "-c", "promtool check metrics < \(dir)/metrics.txt"])
        XCTAssertEqual(check.status, 0, check.out + check.err)
        let openMetrics = try serve.scrape(openMetrics: true)
        XCTAssertTrue(openMetrics.contains("# UNIT lockstat_futex_wait_seconds seconds"), openMetrics)

        // A real Prometheus scrapes serve and stores the heavy lock's counter as served.
        let promPort = try Self.freePort()
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: lockstat
                static_configs:
                  - targets: ['127.0.0.1:\(serve.port)']

            """.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = [
            "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/tsdb",
            "--web.listen-address=127.0.0.1:\(promPort)",
        ]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }
        let query = "lockstat_futex_wait_seconds_total\(series)"
        let url =
            "http://127.0.0.1:\(promPort)/api/v1/query?query="
            + query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        var stored: Double?
        let until = Date().addingTimeInterval(60)
        while Date() < until, stored == nil {
            let r = try shell(["curl", "-sf", url])
            stored = r.status == 0 ? Self.firstValue(r.out) : nil
            if stored == nil { usleep(500_000) }
        }
        let now = ServeTests.samples(try serve.scrape())[
            .init(family: "lockstat_futex_wait_seconds_total", labels: series)]
        XCTAssertEqual(try XCTUnwrap(stored, "Prometheus never stored \(query)"), try XCTUnwrap(now), accuracy: 1e-6)
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
    }

    /// `lockstat export DIR --format openmetrics` of a futex run: prometheus_client's parser
    /// takes it, and the heavy lock's series hold its row of the run's `locks` table (the same
    /// waits: slept time, waits that slept, calls that did not sleep).
    func testExportedOpenMetricsHoldTheRunsLockTable() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        _ = try runFutexTruth(in: dir)
        let r = try Lockstat.tool(["export", dir + "/run", "--format", "openmetrics", "--output", "-"])
        XCTAssertEqual(r.status, 0, r.err)
        try r.out.write(toFile: dir + "/run.om", atomically: true, encoding: .utf8)
        let parse = try shell([
            "python3", "-c",
            """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            print(len(list(text_string_to_metric_families(open(sys.argv[1]).read()))))
            """, dir + "/run.om",
        ])
        XCTAssertEqual(parse.status, 0, "prometheus_client rejected it: " + parse.err)
        let d = try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
        let row = try XCTUnwrap(
            d["locks"]?.listItems?.first { $0["key"]?.string == "heavy_lock (futex_truth)" }, "\(d["locks"] ?? .none)")
        let samples = ServeTests.samples(r.out)
        let labels = "process=\"futex_truth\",lock=\"heavy_lock (futex_truth)\",kind=\"mutex\""
        let wait = try XCTUnwrap(samples[.init(family: "lockstat_futex_wait_seconds_total", labels: "{\(labels)}")], r.out)
        XCTAssertEqual(wait, try XCTUnwrap(row["total_wait_ns"]?.number) / 1e9, accuracy: 1e-6)
        func calls(_ outcome: String) -> Double {
            samples[.init(family: "lockstat_futex_waits_total", labels: "{\(labels),outcome=\"\(outcome)\"}")] ?? 0
        }
        XCTAssertEqual(calls("woken") + calls("timed_out") + calls("interrupted"), row["waits"]?.number)
        XCTAssertEqual(calls("no_sleep"), row["no_sleep"]?.number)
        XCTAssertGreaterThan(calls("woken"), 50)
    }

    /// The first sample's value in a Prometheus query API answer.
    static func firstValue(_ json: String) -> Double? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
            let value = result.first?["value"] as? [Any], let text = value.last as? String
        else { return nil }
        return Double(text)
    }

    /// A port nothing listens on now.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in(
            sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")),
            sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw LockstatError("no free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}
