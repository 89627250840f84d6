import Foundation
import XCTest
@testable import LockstatCore

/// `lockstat serve` against abusive local clients, on loopback: more idle connections than its
/// bound and than its descriptors, silent and trickling requests, oversized request lines and
/// headers, clients that vanish mid-request. Scrapes keep being answered, serve's descriptors come
/// back and its CPU time stays small. Only the stat module: no root needed.
final class ServeAbuseTests: XCTestCase {
    typealias Served = ServeTests.Served

    /// serve with systemd's default of 1,024 descriptors (or `descriptors`), set once it listens.
    func startServe(descriptors: Int = 1024, file: StaticString = #filePath, line: UInt = #line) throws -> Served {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") else {
            throw XCTSkip("SKIPPED: no /usr/bin/prlimit (util-linux)")
        }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_max >= 1400 else {
            throw XCTSkip("SKIPPED: the hard descriptor limit (\(limit.rlim_max)) is below the 1,400 these tests open")
        }
        let serve = try Served(port: try Self.freePort(), arguments: ["--modules", "stat"], directory: temporaryDirectory())
        serve.waitUntilServing(file: file, line: line)
        let r = try shell(["prlimit", "--pid", String(serve.process.processIdentifier), "--nofile=\(descriptors):"])
        XCTAssertEqual(r.status, 0, r.err, file: file, line: line)
        return serve
    }

    /// Raises our soft descriptor limit to `count` for the clients' sockets.
    func allowDescriptors(_ count: rlim_t) {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < count { limit.rlim_cur = min(count, limit.rlim_max) }
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    func stop(_ serve: Served) {
        guard serve.process.isRunning else { return }
        kill(serve.process.processIdentifier, SIGKILL)
        serve.process.waitUntilExit()
    }

    // MARK: clients

    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw LockstatError("no free port") }
        return UInt16(bigEndian: address.sin_port)
    }

    static func loopback(_ port: UInt16) -> sockaddr_in {
        sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: port.bigEndian, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")),
                    sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
    }

    /// A connected, non-blocking socket to serve, or nil when the connection was refused.
    static func connectTo(_ port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = loopback(port)
        let connected = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { close(fd); return nil }
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        return fd
    }

    /// Sends `request` while reading what serve answers, until serve closes or `seconds` pass.
    /// nil when the connection was refused; `closed` false when the deadline came first.
    static func exchange(_ port: UInt16, _ request: [UInt8], seconds: Double = 20) -> (answer: String, closed: Bool)? {
        guard let fd = connectTo(port) else { return nil }
        defer { close(fd) }
        var sent = 0, answer = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN) | (sent < request.count ? Int16(POLLOUT) : 0), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            if p.revents & Int16(POLLOUT) != 0 {
                let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if n > 0 { sent += n }
            }
            if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 { answer += buffer[0..<n]; continue }
                if n == 0 || (errno != EAGAIN && errno != EINTR) { return (String(decoding: answer, as: UTF8.self), true) }
            }
        }
        return (String(decoding: answer, as: UTF8.self), false)
    }

    static func get(_ port: UInt16, _ path: String) -> (answer: String, closed: Bool)? {
        exchange(port, Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n".utf8))
    }

    /// Whether serve closed `fd` (an end of file or a reset) and what it sent before; nil if not yet.
    static func closedByServe(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096), answer = [UInt8]()
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { answer += buffer[0..<n]; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return nil }
            return String(decoding: answer, as: UTF8.self)
        }
    }

    // MARK: serve's process

    /// serve's CPU time, user and system, in clock ticks (/proc/PID/stat fields 14 and 15).
    static func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return -1 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass.
    @discardableResult
    static func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    static func lines(_ text: String, containing part: String) -> Int {
        text.split(separator: "\n").filter { $0.contains(part) }.count
    }

    // MARK: tests

    /// 1,100 idle connections to a serve with systemd's 1,024 descriptors (more than its bound and
    /// than its descriptors): a scrape is answered while they are open and after they are closed,
    /// serve never holds more than its bound, and says so once for the burst, not per connection.
    func testIdleConnectionsBeyondTheBoundAndTheDescriptorsLeaveScrapesAnswered() throws {
        let serve = try startServe()
        defer { stop(serve) }
        let pid = serve.process.processIdentifier, before = Self.descriptors(pid)
        let count = 1100
        XCTAssertGreaterThan(count, HTTPServer.maxConnections + 100)
        allowDescriptors(rlim_t(count + 200))
        var idle = [Int32]()
        defer { idle.forEach { close($0) } }
        for _ in 0..<count {
            guard let fd = Self.connectTo(serve.port) else { break }
            idle.append(fd)
        }
        XCTAssertEqual(idle.count, count, "serve stopped accepting connections: \(serve.stderr)")
        let during = Self.get(serve.port, "/metrics")
        XCTAssertTrue(during?.answer.hasPrefix("HTTP/1.1 200") == true, "while \(count) idle connections are open: \(String(describing: during))")
        XCTAssertTrue(during?.answer.contains("lockstat_scrapes_total") == true)
        XCTAssertLessThanOrEqual(Self.descriptors(pid), before + HTTPServer.maxConnections)
        XCTAssertEqual(Self.lines(serve.stderr, containing: "connections beyond \(HTTPServer.maxConnections) open at once"), 1, serve.stderr)

        idle.forEach { close($0) }
        idle = []
        XCTAssertTrue(Self.waitFor(seconds: 10) { Self.descriptors(pid) <= before },
                      "serve closes what its clients closed: \(Self.descriptors(pid)) descriptors, \(before) before")
        let after = Self.get(serve.port, "/metrics")
        XCTAssertTrue(after?.answer.hasPrefix("HTTP/1.1 200") == true, String(describing: after))
        XCTAssertTrue(serve.process.isRunning, serve.stderr)
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
    }

    /// serve with fewer descriptors than its bound (32): connections beyond them make accept(2)
    /// fail with EMFILE; serve gives the oldest unfinished request's descriptor up, keeps
    /// accepting, says so once, and answers a scrape while they are open and after.
    func testRunningOutOfDescriptorsKeepsServeAccepting() throws {
        let serve = try startServe(descriptors: 32)
        defer { stop(serve) }
        let pid = serve.process.processIdentifier
        XCTAssertLessThan(Self.descriptors(pid) + 8, 32, "the stat module leaves room for a few connections")
        var idle = [Int32]()
        defer { idle.forEach { close($0) } }
        for _ in 0..<100 {
            guard let fd = Self.connectTo(serve.port) else { break }
            idle.append(fd)
        }
        XCTAssertEqual(idle.count, 100, "serve stopped accepting connections: \(serve.stderr)")
        let during = Self.get(serve.port, "/metrics")
        XCTAssertTrue(during?.answer.hasPrefix("HTTP/1.1 200") == true, "while 100 idle connections are open: \(String(describing: during)) \(serve.stderr)")
        XCTAssertEqual(Self.lines(serve.stderr, containing: "accept: Too many open files"), 1, serve.stderr)
        idle.forEach { close($0) }
        idle = []
        let after = Self.get(serve.port, "/metrics")
        XCTAssertTrue(after?.answer.hasPrefix("HTTP/1.1 200") == true, String(describing: after))
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
    }

    /// A connection that sends nothing and one that sends a request a byte at a time, never
    /// finishing it, are both closed once the request timeout has passed since they connected
    /// (the trickle does not extend it); the trickler is told 408 first.
    func testSilentAndTricklingRequestsAreClosedAtTheRequestTimeout() throws {
        let serve = try startServe()
        defer { stop(serve) }
        guard let silent = Self.connectTo(serve.port), let trickle = Self.connectTo(serve.port) else {
            return XCTFail("cannot connect: \(serve.stderr)")
        }
        defer { close(silent); close(trickle) }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8)
        let timeout = Double(HTTPServer.requestTimeoutNanoseconds) / 1e9
        let deadline = Date().addingTimeInterval(timeout + 5)
        var sent = 0, silentClosed: String?, trickleClosed: String?
        while Date() < deadline, silentClosed == nil || trickleClosed == nil {
            silentClosed = silentClosed ?? Self.closedByServe(silent)
            trickleClosed = trickleClosed ?? Self.closedByServe(trickle)
            // One byte each time the trickler's socket stays quiet for 200 ms.
            var p = pollfd(fd: trickle, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 200) == 0, trickleClosed == nil {
                var byte = sent < request.count ? request[sent] : UInt8(ascii: "a")
                if send(trickle, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 { sent += 1 }
            }
        }
        XCTAssertEqual(silentClosed, "", "a silent connection is closed without an answer within \(timeout + 5) s")
        XCTAssertTrue(trickleClosed?.hasPrefix("HTTP/1.1 408") == true, "the trickler is answered 408 and closed: \(String(describing: trickleClosed))")
        XCTAssertLessThan(sent, HTTPServer.maxHeadBytes, "the deadline, not the size limit, ended it")
        XCTAssertEqual(Self.lines(serve.stderr, containing: "requests not whole within"), 1, serve.stderr)
        XCTAssertTrue(Self.get(serve.port, "/metrics")?.answer.hasPrefix("HTTP/1.1 200") == true)
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
    }

    /// A 64 KiB header gets 431 and a 1 MiB request line 414, each answered and closed within the
    /// exchange's deadline, five times over; serve's CPU time rises by less than 0.2 s for all ten.
    func testOversizedRequestsGet431And414Cheaply() throws {
        let serve = try startServe()
        defer { stop(serve) }
        let pid = serve.process.processIdentifier, before = Self.descriptors(pid)
        let header = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: \(String(repeating: "a", count: 64 << 10))\r\n\r\n".utf8)
        let line = Array("GET /\(String(repeating: "a", count: 1 << 20)) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        let ticks = Self.cpuTicks(pid)
        for _ in 0..<5 {
            let big = Self.exchange(serve.port, header)
            XCTAssertTrue(big?.answer.hasPrefix("HTTP/1.1 431") == true, String(describing: big?.answer.prefix(200)))
            XCTAssertEqual(big?.closed, true)
            let long = Self.exchange(serve.port, line)
            XCTAssertTrue(long?.answer.hasPrefix("HTTP/1.1 414") == true, String(describing: long?.answer.prefix(200)))
            XCTAssertEqual(long?.closed, true)
        }
        let used = Double(Self.cpuTicks(pid) - ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
        // Each refusal reads at most 16 KiB and drops the rest unparsed: a tick or two for the ten;
        // 0.2 s leaves room for the stat module's samples on a slow machine, a parse costs seconds.
        XCTAssertLessThan(used, 0.2, "serve's CPU time for ten oversized requests")
        XCTAssertTrue(Self.waitFor(seconds: 5) { Self.descriptors(pid) <= before }, "every refused connection is closed")
        XCTAssertEqual(Self.lines(serve.stderr, containing: "request line over"), 1, serve.stderr)
        XCTAssertTrue(Self.get(serve.port, "/metrics")?.answer.hasPrefix("HTTP/1.1 200") == true)
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
    }

    /// Clients that send half a request and vanish (a close, a reset, half of a 1 MiB request
    /// line): serve closes their connections long before the request timeout, and its CPU time
    /// over the two seconds after stays below 0.2 s.
    func testHalfARequestThenGoneCostsNothingLasting() throws {
        let serve = try startServe()
        defer { stop(serve) }
        let pid = serve.process.processIdentifier, before = Self.descriptors(pid)
        let halfLine = Array("GET /\(String(repeating: "a", count: 512 << 10))".utf8)
        let clients = [(Array("GET /metr".utf8), false), (Array("GET /metrics HTTP/1.1\r\nHo".utf8), true), (halfLine, true)]
        for (request, reset) in clients {
            guard let fd = Self.connectTo(serve.port) else { return XCTFail("cannot connect: \(serve.stderr)") }
            var sent = 0
            let deadline = Date().addingTimeInterval(5)
            while sent < request.count, Date() < deadline {
                let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if n > 0 { sent += n } else { var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0); _ = poll(&p, 1, 100) }
            }
            if reset {
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            close(fd)
        }
        let timeout = Double(HTTPServer.requestTimeoutNanoseconds) / 1e9
        XCTAssertTrue(Self.waitFor(seconds: timeout / 2) { Self.descriptors(pid) <= before },
                      "serve closes the connections of clients that left: \(Self.descriptors(pid)) descriptors, \(before) before")
        // The window is the measurement: it ends early only when the bound is passed.
        // Idle, serve spends a tick or two in 2 s (the stat module's samples); a request still
        // being parsed would spend the whole 2 s.
        let ticks = Self.cpuTicks(pid), bound = 0.2
        func used() -> Double { Double(Self.cpuTicks(pid) - ticks) / Double(sysconf(Int32(_SC_CLK_TCK))) }
        Self.waitFor(seconds: 2) { used() >= bound }
        XCTAssertLessThan(used(), bound, "serve's CPU time over the 2 s after the clients left")
        XCTAssertTrue(Self.get(serve.port, "/metrics")?.answer.hasPrefix("HTTP/1.1 200") == true)
        XCTAssertEqual(serve.terminate(), 0, serve.stderr)
    }

    /// A listening socket destroyed under serve (`ss -K`, as the kernel may abort it): serve
    /// exits 1 with one line naming the address, for systemd's Restart=on-failure, instead of
    /// living on deaf.
    func testAListenerThatDiesEndsServeForItsSupervisor() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: ss -K needs CAP_NET_ADMIN") }
        let serve = try startServe()
        defer { stop(serve) }
        let killed = try shell(["ss", "-K", "-t", "-l", "src 127.0.0.1:\(serve.port)"])
        guard killed.status == 0, killed.out.contains("127.0.0.1:\(serve.port)") else {
            throw XCTSkip("SKIPPED: ss -K cannot destroy sockets here (CONFIG_INET_DIAG_DESTROY): \(killed.out)\(killed.err)")
        }
        guard Self.waitFor(seconds: 10, { !serve.process.isRunning }) else {
            return XCTFail("serve lives on without its listening socket: \(serve.stderr)")
        }
        serve.process.waitUntilExit()
        XCTAssertEqual(serve.process.terminationStatus, 1, serve.stderr)
        XCTAssertTrue(serve.stderr.hasSuffix("lockstat: 127.0.0.1:\(serve.port): the listening socket failed (Software caused"
                                             + " connection abort); serve exits for its supervisor to restart it\n"), serve.stderr)
    }

    /// The server in this process, with a handler that holds `/slow` until told: a scrape is
    /// answered while it waits, then `/slow` is answered too. Malformed requests get 400, another
    /// method 405, another HTTP version 505, without reaching the handler.
    func testASlowAnswerHoldsUpNoOtherRequest() throws {
        let port = try Self.freePort()
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let handled = NSLock(), paths = Box<[String]>([])
        let listener = try HTTPServer.listen(host: "127.0.0.1", port: port, address: "127.0.0.1:\(port)")
        let server = HTTPServer(listener: listener, log: { _ in }) { request in
            handled.withLock { paths.value.append(request.method + " " + request.path) }
            guard request.method == "GET" else { return HTTPResponse(status: 405, body: "") }
            if request.path == "/slow" {
                entered.signal()
                release.wait()
            }
            return HTTPResponse(status: 200, body: request.path + " " + (request.header("accept") ?? "-"))
        }
        defer { server.stop() }
        let slow = Box<(answer: String, closed: Bool)?>(nil), slowDone = DispatchSemaphore(value: 0)
        Thread {
            slow.value = Self.exchange(port, Array("GET /slow?seconds=30 HTTP/1.1\r\n\r\n".utf8), seconds: 60)
            slowDone.signal()
        }.start()
        XCTAssertEqual(entered.wait(timeout: .now() + 20), .success, "the slow handler runs")
        let fast = Self.exchange(port, Array("GET /metrics HTTP/1.1\r\nAccept: a\r\naccept: b\r\n\r\n".utf8))
        XCTAssertTrue(fast?.answer.hasPrefix("HTTP/1.1 200 OK\r\n") == true, String(describing: fast))
        XCTAssertTrue(fast?.answer.hasSuffix("\r\n\r\n/metrics a, b") == true, String(describing: fast))
        XCTAssertNil(slow.value, "the slow answer is still held")
        release.signal()
        XCTAssertEqual(slowDone.wait(timeout: .now() + 60), .success)
        XCTAssertTrue(slow.value?.answer.hasSuffix("/slow -") == true, String(describing: slow.value))

        for (request, status) in [("GET /metrics\r\n\r\n", 400), ("GET metrics HTTP/1.1\r\n\r\n", 400),
                                  ("GET / HTTP/1.1\r\n no-colon\r\n\r\n", 400), ("GET / HTTP/2.0\r\n\r\n", 505),
                                  ("POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", 405)] {
            let r = Self.exchange(port, Array(request.utf8))
            XCTAssertTrue(r?.answer.hasPrefix("HTTP/1.1 \(status) ") == true, "\(request.debugDescription): \(String(describing: r))")
        }
        XCTAssertEqual(paths.value, ["GET /slow", "GET /metrics", "POST /metrics"])
    }
}

/// A value handed between the test's threads under a lock.
private final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
