import Foundation

/// serve's HTTP side: `GET /metrics` is a scrape, `GET /debug/pprof/NAME` a profile (PprofEndpoint),
/// `GET /` says what is served, any other path is a 404 and any other method a 405. Every request
/// is answered on its own thread (HTTPServer), so a handler that takes seconds holds up no scrape;
/// every scrape goes through `Scraper`.
final class MetricsServer: @unchecked Sendable {
    private let server: HTTPServer
    let address: String

    /// Binds `host:port` and listens; throws with one line when it cannot (a port in use).
    /// `log` gets serve's lines about connections refused, timed out or oversized.
    init(host: String, port: UInt16, scraper: Scraper, about: String, log: @escaping @Sendable (String) -> Void) throws
    {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.address = address
        let listener = try HTTPServer.listen(host: host, port: port, address: address)
        server = HTTPServer(listener: listener, log: log) { request in
            let pprof = request.path.hasPrefix(PprofEndpoint.prefix)
            guard request.path == "/metrics" || request.path == "/" || pprof else {
                return HTTPResponse(
                    status: 404, body: "not found: GET /metrics, GET \(PprofEndpoint.prefix)NAME or GET /\n")
            }
            guard request.method == "GET" else {
                return HTTPResponse(status: 405, extraHeaders: ["Allow: GET"], body: "GET only\n")
            }
            if request.path == "/metrics" {
                let format = Exposition.Format.negotiated(accept: request.header("Accept"))
                return HTTPResponse(status: 200, contentType: format.contentType, body: scraper.scrape(format))
            }
            if pprof { return PprofEndpoint.answer(request, scraper: scraper) }
            let profiles = scraper.profileNames.map {
                "GET \(PprofEndpoint.prefix)\($0): pprof profile since serve started"
                    + " (?seconds=N: of the next N seconds, as Go's net/http/pprof)\n"
            }
            return HTTPResponse(
                status: 200,
                body: "lockstat serve on \(address): \(about)\nGET /metrics: OpenMetrics text"
                    + " (or the Prometheus text format when the scraper does not ask for OpenMetrics)\n"
                    + profiles.joined())
        }
    }

    /// Why the listening socket stopped working, if it did: serve exits so that its supervisor restarts it.
    var failure: String? { server.failure.map { "\(address): \($0)" } }

    func stop() { server.stop() }
}
