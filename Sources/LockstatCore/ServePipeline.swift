import CLockstat
import Foundation

public struct ServeRequest {
    public var host: String
    public var port: UInt16
    public var config: Config
    public var system: SystemRoot

    public init(host: String, port: UInt16, config: Config, system: SystemRoot) {
        self.host = host
        self.port = port
        self.config = config
        self.system = system
    }
}

/// `lockstat serve`: the modules sample as in a run, without a program, until a terminating
/// signal (SIGTERM, SIGINT, SIGHUP…); a scrape of /metrics reads their totals. Logs go to stderr; it never daemonizes.
public enum ServePipeline {
    /// The interval of a module without one of its own: scrapes come seconds apart.
    public static let defaultInterval = 1.0

    public static func run(_ request: ServeRequest, modules available: [any LockstatModule]) throws -> Int32 {
        let console = Console(quiet: false)
        let config = request.config
        let settings = ServeSettings(config)
        let maxSeries = settings.maxSeries
        let addresses = settings.addresses
        ls_signals_install()
        try Program.startSupervisor()
        // The port first: one in use stops serve before presampling changes anything.
        let scraper = Scraper(maxSeries: maxSeries)
        let server = try MetricsServer(
            host: request.host, port: request.port, scraper: scraper,
            about: "modules " + config.modules.joined(separator: ", "), log: console.info)
        defer { server.stop() }
        var served = [Scraper.Served]()
        // Whatever happens from here on, what presampling changed is put back.
        defer { served.forEach { $0.source.stop() } }
        let context = ServingContext(
            system: request.system, config: config, addresses: addresses, maxSeries: maxSeries, warn: console.warn)
        let now = ls_monotonic_ns()
        for name in config.modules {
            guard let module = available.first(where: { $0.name == name }) else { continue }
            guard let servable = module as? any ServedModule else {
                console.warn("module \(name) skipped: serve does not run it (\(module.notServedReason))")
                continue
            }
            if let reason = module.unavailableReason(request.system) {
                console.warn("module \(name) skipped: \(reason)")
                continue
            }
            do {
                let source = try servable.serving(context)
                let interval = config.interval(
                    for: name,
                    moduleDefault: module.defaultInterval(for: config, on: request.system)
                        ?? defaultInterval)
                served.append(
                    .init(module: name, source: source, intervalNanoseconds: UInt64(interval * 1e9), due: now))
            } catch {
                console.warn("module \(name) skipped: \(error)")
            }
        }
        guard !served.isEmpty else {
            throw LockstatError("no module to serve (configured: \(config.modules.joined(separator: ", ")))")
        }
        scraper.serve(served)
        console.info(
            "serving \(served.map(\.module).joined(separator: ", ")) on http://\(server.address)/metrics"
                + " (SIGTERM, SIGINT or SIGHUP stops)")
        while ls_signals_first() == 0 {
            // A listener that died cannot be mended here: exit non-zero so systemd's Restart= acts.
            if let failure = server.failure {
                throw LockstatError(failure + "; serve exits for its supervisor to restart it")
            }
            let next = scraper.sampleDue(now: ls_monotonic_ns())
            let wait = min(next &- min(next, ls_monotonic_ns()), 100_000_000)
            if wait > 0 { usleep(UInt32(wait / 1000)) }
        }
        let signal = ls_signals_first()
        server.stop()
        scraper.stop()
        served = []
        console.info("\(Program.signalName(signal)): stopped; what presampling changed is restored")
        return 0
    }
}
