/// `serve.*`: what `lockstat serve` and `export --format openmetrics` expose.
public struct ServeSettings: ModuleSettings {
    public static let section = "serve"
    /// serve.max_series: rows per family ever exposed. Every exposed row is kept for serve's
    /// lifetime and sent on every scrape; a million rows per family is past what a Prometheus
    /// server ingests from one target.
    public var maxSeries = 500
    /// serve.addresses: raw kernel addresses as label values.
    public var addresses = false
    /// serve.cgroups: the contention series labelled by the waiting task's cgroup v2 path (off: a
    /// busy host has many cgroups, each multiplying the series).
    public var cgroups = false

    public init() {}

    public static var settings: [Setting<ServeSettings>] {
        [
            .integer("max_series", \.maxSeries, 1...1_000_000), .yesNo("addresses", \.addresses),
            .yesNo("cgroups", \.cgroups),
        ]
    }

    public init(_ config: Config) { self.init(config, module: Self.section) }
}
