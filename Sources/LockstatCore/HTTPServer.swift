import CLockstat
import Foundation
import Glibc

/// A request serve's HTTP server read in full: the method, the path (the query cut off), the query
/// and the header fields.
struct HTTPRequest: Sendable {
    let method: String
    let path: String
    let query: String
    let headers: [(name: String, value: String)]

    /// A field's value, case-insensitively; repeated fields joined with ", " (RFC 9110 5.3).
    func header(_ name: String) -> String? {
        let values = headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }
}

struct HTTPResponse: Sendable {
    var status: Int
    var contentType = "text/plain; charset=utf-8"
    var extraHeaders: [String] = []
    var body: [UInt8]

    init(status: Int, contentType: String = "text/plain; charset=utf-8", extraHeaders: [String] = [], body: String) {
        self.status = status
        self.contentType = contentType
        self.extraHeaders = extraHeaders
        self.body = Array(body.utf8)
    }

    init(status: Int, contentType: String, extraHeaders: [String] = [], bytes: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.extraHeaders = extraHeaders
        body = bytes
    }

    /// Status line, headers and body; every connection is closed after its one response.
    var bytes: [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        for line in extraHeaders { head += line + "\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 414: return "URI Too Long"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }
}

/// serve's HTTP/1.1 server: one thread reads every connection's request with poll(2) under the
/// limits below, and each whole request is answered on a thread of its own, so a slow handler
/// never holds up the others. One request per connection (`Connection: close`).
final class HTTPServer: @unchecked Sendable {
    /// Connections open at once (reading, answering or closing): a scrape needs one; each costs a
    /// descriptor and, while answered, a thread. Beyond it the oldest unfinished request is closed.
    static let maxConnections = 64
    /// From accept to the blank line ending the headers, whole: Prometheus's default scrape timeout,
    /// so a request slower than any scraper waits for (byte by byte or silent) loses its slot.
    static let requestTimeoutNanoseconds: UInt64 = 10_000_000_000
    /// A whole response's writing: a scraper that stops reading frees its slot and thread.
    static let sendTimeoutNanoseconds: UInt64 = 10_000_000_000
    /// The request line (`GET /metrics?... HTTP/1.1`): nginx's default buffer; longer gets 414.
    static let maxRequestLineBytes = 8 << 10
    /// Request line and headers together (a scraper sends a few hundred bytes); more gets 431.
    static let maxHeadBytes = 16 << 10
    /// After a 4xx the rest of the request is read and dropped so the answer is not lost to a
    /// reset, for at most this long and this many bytes (dropped unparsed: cheap).
    static let lingerNanoseconds: UInt64 = 2_000_000_000
    static let lingerBytes = 4 << 20
    /// accept(2) out of descriptors or memory: the pending connection stays queued; retry after this.
    static let acceptBackoffNanoseconds: UInt64 = 100_000_000
    /// An event's burst ends after this long without it; the log says it at its start and its end.
    static let burstQuietNanoseconds: UInt64 = 10_000_000_000
    /// The longest poll(2) wait: how soon stop() is noticed.
    private static let tickNanoseconds: UInt64 = 250_000_000

    typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    private let listener: Int32
    private let handler: Handler
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var stopping = false
    private var answering = 0
    private var failureMessage: String?
    private let finished = DispatchSemaphore(value: 0)

    /// Why the listening socket stopped working, if it did (serve then exits for its supervisor).
    var failure: String? { lock.withLock { failureMessage } }

    /// A listening socket on `host:port` (`address` names it in errors); one line when it cannot be made.
    static func listen(host: String, port: UInt16, address: String) throws -> Int32 {
        var v4 = in_addr()
        var v6 = in6_addr()
        let family: Int32
        if inet_pton(AF_INET, host, &v4) == 1 {
            family = AF_INET
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            family = AF_INET6
        } else {
            throw LockstatError("--listen \(address): not an IPv4 or IPv6 address", exitCode: 2)
        }
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw LockstatError("\(address): socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        func bindTo<Address>(_ address: Address) -> Int32 {
            withUnsafePointer(to: address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<Address>.size))
                }
            }
        }
        let bound: Int32
        if family == AF_INET {
            bound = bindTo(
                sockaddr_in(
                    sin_family: sa_family_t(AF_INET), sin_port: port.bigEndian, sin_addr: v4,
                    sin_zero: (0, 0, 0, 0, 0, 0, 0, 0)))
        } else {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            a.sin6_addr = v6
            bound = bindTo(a)
        }
        if bound != 0 {
            let code = errno
            close(fd)
            if code == EADDRINUSE {
                throw LockstatError(
                    "\(address): address already in use"
                        + " (another lockstat serve or exporter listens there; --listen picks another)")
            }
            throw LockstatError("\(address): bind: \(String(cString: strerror(code)))")
        }
        guard Glibc.listen(fd, SOMAXCONN) == 0 else {
            let code = errno
            close(fd)
            throw LockstatError("\(address): listen: \(String(cString: strerror(code)))")
        }
        return fd
    }

    /// Serves `listener` (from listen(host:port:address:)) until stop(); `log` gets one line per
    /// burst of refused, timed-out or oversized requests and of accept(2) failures.
    init(listener: Int32, log: @escaping @Sendable (String) -> Void, handler: @escaping Handler) {
        self.listener = listener
        self.log = log
        self.handler = handler
        let thread = Thread { [self] in
            serveConnections()
            finished.signal()
        }
        thread.name = "lockstat-http"
        thread.start()
    }

    /// Closes the listening socket and every connection still reading; answers under way finish.
    func stop() {
        let first: Bool = lock.withLock {
            defer { stopping = true }
            return !stopping
        }
        if first { finished.wait() }
    }

    /// A connection whose request is still coming in, or whose error answer is sent and whose
    /// remaining request is being dropped (`lingerUntil`).
    private final class Connection {
        let fd: Int32
        let deadline: UInt64
        var head: [UInt8] = []
        var requestLineEnd: Int?
        var lingerUntil: UInt64?
        var lingerBudget = HTTPServer.lingerBytes

        init(fd: Int32, deadline: UInt64) {
            self.fd = fd
            self.deadline = deadline
            head.reserveCapacity(HTTPServer.maxHeadBytes)
        }
    }

    /// What a read left a connection with.
    private enum Progress {
        case waiting, gone
        case request(HTTPRequest)
        case refused(HTTPResponse)
    }

    private var refusals = BurstLog(
        "connections beyond \(HTTPServer.maxConnections) open at once: closing the oldest unfinished request for each new one",
        "connections closed or refused at the limit")
    private var timeouts = BurstLog(
        "requests not whole within \(HTTPServer.requestTimeoutNanoseconds / 1_000_000_000) s: connections closed",
        "connections closed for a slow request")
    private var oversized = BurstLog(
        "requests with a request line over \(HTTPServer.maxRequestLineBytes >> 10) KiB or headers over"
            + " \(HTTPServer.maxHeadBytes >> 10) KiB: answered 414 or 431 and closed",
        "oversized requests refused")
    private var acceptFailures = BurstLog("accept(2) failing", "accept(2) failures")

    /// The loop of the reading thread: accept, read, time out, hand whole requests to their threads.
    private func serveConnections() {
        var reading = [Connection]()
        var lingering = [Connection]()
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        var backoffUntil: UInt64 = 0
        var polled = [pollfd]()
        while !lock.withLock({ stopping }) {
            let now = ls_monotonic_ns()
            reading.removeAll { connection in
                guard connection.deadline <= now else { return false }
                timeouts.note(now, log)
                // A request begun is told why it ends, then lingers as a refused one does: closing
                // with its next bytes unread would reset the connection and lose the answer.
                // A silent connection is just closed.
                if !connection.head.isEmpty {
                    Self.sendNow(
                        connection.fd, HTTPResponse(status: 408, body: "request not whole within the time limit\n"))
                    shutdown(connection.fd, Int32(SHUT_WR))
                    connection.lingerUntil = now + Self.lingerNanoseconds
                    lingering.append(connection)
                    return true
                }
                close(connection.fd)
                return true
            }
            lingering.removeAll { connection in
                guard connection.lingerUntil! <= now else { return false }
                close(connection.fd)
                return true
            }
            refusals.settle(now, log)
            timeouts.settle(now, log)
            oversized.settle(now, log)
            acceptFailures.settle(now, log)

            let accepting = now >= backoffUntil
            let watched = reading + lingering
            let offset = accepting ? 1 : 0
            polled.removeAll(keepingCapacity: true)
            if accepting { polled.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
            for c in watched { polled.append(pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)) }
            var wake = now + Self.tickNanoseconds
            if !accepting { wake = min(wake, backoffUntil) }
            for c in watched { wake = min(wake, c.lingerUntil ?? c.deadline) }
            let ready = poll(&polled, nfds_t(polled.count), Int32((wake - min(wake, now)) / 1_000_000) + 1)
            guard ready > 0 else { continue }

            reading = []
            lingering = []
            for (i, c) in watched.enumerated() {
                let revents = polled[offset + i].revents
                if c.lingerUntil != nil {
                    if revents == 0 || drain(c, into: &scratch) { lingering.append(c) }
                    continue
                }
                guard revents != 0 else {
                    reading.append(c)
                    continue
                }
                switch read(c, into: &scratch) {
                case .waiting: reading.append(c)
                case .gone: close(c.fd)
                case .request(let request): answer(request, on: c.fd)
                case .refused(let response):
                    if response.status == 414 || response.status == 431 { oversized.note(now, log) }
                    Self.sendNow(c.fd, response)
                    shutdown(c.fd, Int32(SHUT_WR))
                    c.lingerUntil = now + Self.lingerNanoseconds
                    lingering.append(c)
                }
            }

            if accepting, polled[0].revents != 0 {
                if polled[0].revents & Int16(POLLNVAL | POLLERR | POLLHUP) != 0 {
                    var code: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(listener, SOL_SOCKET, SO_ERROR, &code, &length)
                    let reason = code != 0 ? String(cString: strerror(code)) : "closed"
                    lock.withLock { failureMessage = "the listening socket failed (\(reason))" }
                    break
                }
                if !acceptPending(&reading, &lingering, now: now, backoffUntil: &backoffUntil) { break }
            }
        }
        for c in reading + lingering { close(c.fd) }
        close(listener)
    }

    /// Accepts what is queued (at most a limit's worth per turn); false when the listener is dead.
    private func acceptPending(
        _ reading: inout [Connection], _ lingering: inout [Connection], now: UInt64,
        backoffUntil: inout UInt64
    ) -> Bool {
        for _ in 0..<Self.maxConnections {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                let code = errno
                switch code {
                case EAGAIN, EWOULDBLOCK: return true
                // A connection that failed before it was taken (accept(2) NOTES: retry as EAGAIN).
                case EINTR, ECONNABORTED, EPERM, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
                    EOPNOTSUPP, ENETUNREACH:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    acceptFailures.note(
                        now, log,
                        "accept: \(String(cString: strerror(code))): closing the oldest"
                            + " unfinished requests to make room, else retrying every"
                            + " \(Self.acceptBackoffNanoseconds / 1_000_000) ms")
                    // Out of descriptors: an unfinished request gives its own up; else wait for one.
                    if let oldest = lingering.isEmpty ? reading.first : lingering.first {
                        close(oldest.fd)
                        lingering.removeAll { $0 === oldest }
                        reading.removeAll { $0 === oldest }
                        continue
                    }
                    backoffUntil = now + Self.acceptBackoffNanoseconds
                    return true
                default:
                    let reason = String(cString: strerror(code))
                    lock.withLock { failureMessage = "the listening socket failed (accept: \(reason))" }
                    return false
                }
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            let open = reading.count + lingering.count + lock.withLock { answering }
            if open >= Self.maxConnections {
                refusals.note(now, log)
                if !lingering.isEmpty {
                    close(lingering.removeFirst().fd)
                } else if !reading.isEmpty {
                    close(reading.removeFirst().fd)
                } else {
                    // Every slot is answering a whole request: this one waits for none of them.
                    Self.sendNow(
                        fd,
                        HTTPResponse(
                            status: 503, extraHeaders: ["Retry-After: 1"],
                            body: "too many connections\n"))
                    close(fd)
                    continue
                }
            }
            reading.append(Connection(fd: fd, deadline: now + Self.requestTimeoutNanoseconds))
        }
        return true
    }

    /// Reads what arrived and looks for the end of the head in the new bytes only (linear in the
    /// request); the limits are checked as the bytes come.
    private func read(_ c: Connection, into scratch: inout [UInt8]) -> Progress {
        let room = Self.maxHeadBytes - c.head.count
        let n = scratch.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, min(room, $0.count), Int32(MSG_DONTWAIT)) }
        if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? .waiting : .gone }
        if n == 0 { return .gone }
        let start = c.head.count
        c.head.append(contentsOf: scratch[0..<n])
        var headEnd: Int?
        c.head.withUnsafeBufferPointer { b in
            for i in start..<b.count where b[i] == 0x0A {
                if c.requestLineEnd == nil { c.requestLineEnd = i }
                if i >= 1 && b[i - 1] == 0x0A || i >= 2 && b[i - 1] == 0x0D && b[i - 2] == 0x0A {
                    headEnd = i + 1
                    break
                }
            }
        }
        if (c.requestLineEnd ?? c.head.count) > Self.maxRequestLineBytes {
            return .refused(HTTPResponse(status: 414, body: "request line over \(Self.maxRequestLineBytes) bytes\n"))
        }
        if let headEnd { return Self.parse(c.head[0..<headEnd]) }
        if c.head.count >= Self.maxHeadBytes {
            return .refused(
                HTTPResponse(status: 431, body: "request line and headers over \(Self.maxHeadBytes) bytes\n"))
        }
        return .waiting
    }

    /// The request line and header fields (RFC 9112 3 and 5); anything else is a 400.
    private static func parse(_ head: ArraySlice<UInt8>) -> Progress {
        let bad = Progress.refused(HTTPResponse(status: 400, body: "malformed request\n"))
        var lines = head.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else { return bad }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/") else { return bad }
        guard parts[2].hasPrefix("HTTP/") else { return bad }
        guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else {
            return .refused(HTTPResponse(status: 505, body: "HTTP/1.1 only\n"))
        }
        var headers = [(name: String, value: String)]()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), let first = line.first, first != " ", first != "\t" else {
                return bad
            }
            let name = String(line[..<colon])
            guard !name.isEmpty, !name.contains(" "), !name.contains("\t") else { return bad }
            headers.append((name, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let target = parts[1]
        let question = target.firstIndex(of: "?") ?? target.endIndex
        let query = question == target.endIndex ? "" : String(target[target.index(after: question)...])
        return .request(
            HTTPRequest(method: String(parts[0]), path: String(target[..<question]), query: query, headers: headers))
    }

    /// Drops what a refused request still sends; false once it is closed (the client done, the budget spent).
    private func drain(_ c: Connection, into scratch: inout [UInt8]) -> Bool {
        let n = scratch.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return true }
        c.lingerBudget -= max(n, 0)
        if n > 0 && c.lingerBudget > 0 { return true }
        close(c.fd)
        return false
    }

    /// The handler on a thread of its own; the thread writes the answer and closes the connection.
    private func answer(_ request: HTTPRequest, on fd: Int32) {
        lock.withLock { answering += 1 }
        let thread = Thread { [self] in
            let response = handler(request)
            Self.send(fd, response.bytes, deadline: ls_monotonic_ns() + Self.sendTimeoutNanoseconds)
            shutdown(fd, Int32(SHUT_WR))
            close(fd)
            lock.withLock { answering -= 1 }
        }
        thread.name = "lockstat-http-answer"
        thread.start()
    }

    /// A short answer from the reading thread: what the socket buffer takes now, never waiting.
    private static func sendNow(_ fd: Int32, _ response: HTTPResponse) {
        send(fd, response.bytes, deadline: 0)
    }

    /// Writes `bytes`, waiting for the socket until `deadline` (monotonic ns) at the latest.
    @discardableResult
    private static func send(_ fd: Int32, _ bytes: [UInt8], deadline: UInt64) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if n > 0 {
                sent += n
                continue
            }
            guard n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return false }
            let now = ls_monotonic_ns()
            guard now < deadline else { return false }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1_000)))
        }
        return true
    }
}

/// An event said once when a burst of it starts, and with its count once the burst is over
/// (`HTTPServer.burstQuietNanoseconds` without it): never a line per connection.
struct BurstLog {
    let start: String
    let counted: String
    private var count = 0
    private var first: UInt64 = 0
    private var last: UInt64 = 0

    init(_ start: String, _ counted: String) {
        self.start = start
        self.counted = counted
    }

    mutating func note(_ now: UInt64, _ log: (String) -> Void, _ detail: String? = nil) {
        if count == 0 {
            log(detail ?? start)
            first = now
        }
        count += 1
        last = now
    }

    mutating func settle(_ now: UInt64, _ log: (String) -> Void) {
        guard count > 0, now &- last >= HTTPServer.burstQuietNanoseconds else { return }
        if count > 1 {
            log("\(count) \(counted) over \(String(format: "%.1f", Double(last - first) / 1e9)) s (the burst is over)")
        }
        count = 0
    }
}
