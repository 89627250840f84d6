import CLockstat
import Foundation

/// serve's call-stack profiles the way Go's net/http/pprof serves them, for `go tool pprof
/// http://...`, Parca and Pyroscope's scrapers: `GET /debug/pprof/NAME` is the profile since serve
/// started; `?seconds=N` waits N seconds and answers what was gained in them (Go's delta
/// profile). Errors as Go answers them: one plain-text line, status 400 or 404, `X-Go-Pprof: 1`.
enum PprofEndpoint {
    static let prefix = "/debug/pprof/"
    /// The longest `seconds`: each wait holds one of the server's connections and a thread.
    static let maxSeconds = 300

    static func answer(_ request: HTTPRequest, scraper: Scraper) -> HTTPResponse {
        let name = String(request.path.dropFirst(prefix.count))
        let names = scraper.profileNames
        if name.isEmpty {
            return HTTPResponse(
                status: 200, body: names.map { "\(prefix)\($0)\n" }.joined() + (names.isEmpty ? "no profiles\n" : ""))
        }
        guard names.contains(name) else { return error(404, "Unknown profile") }
        let seconds = query(request.query, "seconds")
        guard let seconds else { return profile(name, scraper.profile(name), filename: name) }
        guard let n = Int(seconds), n > 0 else {
            return error(400, #"invalid value for "seconds" - must be a positive integer"#)
        }
        guard n <= maxSeconds else { return error(400, "profile duration exceeds serve's limit of \(maxSeconds) s") }
        guard let before = scraper.profile(name) else { return error(404, "Unknown profile") }
        let startRealtime = StackProfile.wallClockNanoseconds()
        let deadline = ls_monotonic_ns() + UInt64(n) * 1_000_000_000
        while ls_monotonic_ns() < deadline { usleep(UInt32(min(100_000, (deadline - ls_monotonic_ns()) / 1000 + 1))) }
        guard let after = scraper.profile(name) else { return error(404, "Unknown profile") }
        var delta = after.subtracting(before)
        delta.timeNanos = startRealtime
        delta.durationNanos = StackProfile.wallClockNanoseconds() - startRealtime
        return profile(name, delta, filename: name + "-delta")
    }

    /// The first value of `key` in a query string (`a=1&seconds=2`); nil when absent.
    static func query(_ query: String, _ key: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts[0] == key { return parts.count > 1 ? String(parts[1]) : "" }
        }
        return nil
    }

    static func profile(_ name: String, _ profile: StackProfile?, filename: String) -> HTTPResponse {
        guard let profile else { return error(404, "Unknown profile") }
        do {
            return HTTPResponse(
                status: 200, contentType: "application/octet-stream",
                extraHeaders: ["Content-Disposition: attachment; filename=\"\(filename)\""],
                bytes: try profile.encoded())
        } catch {
            return Self.error(500, "\(name): \(error)")
        }
    }

    static func error(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, extraHeaders: ["X-Go-Pprof: 1"], body: text + "\n")
    }
}
