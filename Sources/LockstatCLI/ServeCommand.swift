import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

/// `lockstat serve`: the modules sampled continuously for Prometheus (docs/fleet.md).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Sample continuously, without a program, and serve the totals at /metrics (OpenMetrics) until SIGTERM or SIGINT."
    )

    @Option(
        help: ArgumentHelp(
            "Address and port to listen on (loopback unless told otherwise; [::1]:PORT for IPv6).",
            valueName: "host:port"))
    var listen = "127.0.0.1:9464"

    @Option(help: "Config file (as for run; serve.max_series, serve.addresses and serve.cgroups are serve's own keys).")
    var config: String?

    @Option(
        help: ArgumentHelp("Modules to serve, comma-separated, or `auto`: the served modules that can run here (overrides the config's `modules`).", valueName: "a,b"))
    var modules: String?

    func run() throws {
        let (host, port) = try Self.address(listen)
        var (config, set, _) = try loadConfig(explicit: self.config)
        if let list = modules {
            try ConfigParser.setModules(commaSeparated: list, in: &config, catalog: set.catalog, at: "--modules")
        }
        // Serve's own `auto`: the modules it serves that `modules auto` would run.
        let (resolved, leftOut) = AutomaticModules.resolve(
            config, modules: set.modules.filter { $0 is any ServedModule }, system: SystemRoot("/"))
        config = resolved
        leftOut.forEach { writeText(2, "lockstat: \($0)\n") }
        throw ExitCode(
            try ServePipeline.run(
                ServeRequest(host: host, port: port, config: config, system: SystemRoot("/")), modules: set.modules))
    }

    /// `host:port`, `[v6]:port` or `:port` (loopback).
    static func address(_ text: String) throws -> (String, UInt16) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
            throw LockstatError.usage("--listen: expected host:port (e.g. 127.0.0.1:9464), got '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }
}
