import FlyingFox
import FlyingSocks
import Foundation

/// serve's HTTP side: `GET /metrics` is a scrape, `GET /` says what is served, anything else
/// is a 404. The server runs on Swift concurrency's threads; every scrape goes through `Scraper`.
final class MetricsServer: @unchecked Sendable {
    private let server: HTTPServer
    private var task: Task<Void, Never>?
    private let failure = Box<(any Error)?>(nil)
    let address: String

    /// Binds `host:port` and listens; throws with one line when it cannot (a port in use).
    init(host: String, port: UInt16, scraper: Scraper, about: String) throws {
        address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let socketAddress: any SocketAddress
        do {
            socketAddress = host.contains(":") ? try sockaddr_in6.inet6(ip6: host, port: port) : try sockaddr_in.inet(ip4: host, port: port)
        } catch {
            throw LockstatError("--listen \(address): not an IPv4 or IPv6 address", exitCode: 2)
        }
        server = HTTPServer(address: socketAddress, timeout: 15, logger: .disabled)
        let served = self.address
        let ready = DispatchSemaphore(value: 0)
        Task { [server] in
            await server.appendRoute("GET /metrics") { request in
                let format = Exposition.Format.negotiated(accept: request.headers[HTTPHeader("Accept")])
                let body = scraper.scrape(format)
                return HTTPResponse(statusCode: .ok, headers: [.contentType: format.contentType], body: Data(body.utf8))
            }
            await server.appendRoute("GET /") { _ in
                HTTPResponse(statusCode: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                             body: Data("lockstat serve on \(served): \(about)\nGET /metrics: OpenMetrics text (or the Prometheus text format when the scraper does not ask for OpenMetrics)\n".utf8))
            }
            ready.signal()
        }
        ready.wait()
        task = Task { [server, failure] in
            do { try await server.run() } catch { failure.value = error }
        }
        // Listening, or the bind failed: wait for either (a bind takes microseconds).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let error = failure.value { throw Self.describe(error, address) }
            let listening = Self.blocking { await self.server.isListening }
            if listening { return }
            usleep(5_000)
        }
        throw LockstatError("\(address): the server did not start listening within 10 s")
    }

    func stop() {
        Self.blocking { await self.server.stop(timeout: 1) }
        task?.cancel()
    }

    private static func describe(_ error: any Error, _ address: String) -> LockstatError {
        if case SocketError.failed(let type, let code, let message) = error {
            if code == EADDRINUSE { return LockstatError("\(address): address already in use (another lockstat serve or exporter listens there; --listen picks another)") }
            return LockstatError("\(address): \(type): \(message)")
        }
        return LockstatError("\(address): \(error)")
    }

    /// Waits on the calling (non-async) thread for `body`.
    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let result = Box<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            result.value = await body()
            done.signal()
        }
        done.wait()
        return result.value!
    }
}

/// A value handed between threads under a lock.
private final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
