/// A module `lockstat serve` can keep running without a program: presampling as in a run, a
/// reading every interval, its totals as metric families at each scrape, and postsampling at the
/// end. The same families describe a finished run (`lockstat export --format openmetrics`).
public protocol ServedModule: LockstatModule {
    /// presampling for serve: what reads the kernel from now on.
    /// A finished run's totals, as `serving` would have exposed them at its end, are the
    /// `.metrics` part of `analyze`: the live source and the analysis share one parser per line.
    func serving(_ context: ServingContext) throws -> any MetricsSource
}

public struct ServingContext {
    public let system: SystemRoot
    public let config: Config
    /// Raw kernel addresses may be label values (`serve.addresses yes`); named locks always are.
    public let addresses: Bool
    /// serve.max_series: a source whose rows can grow without end may fold those beyond it itself.
    public let maxSeries: Int
    public let warn: (String) -> Void

    public init(system: SystemRoot, config: Config, addresses: Bool, maxSeries: Int, warn: @escaping (String) -> Void) {
        self.system = system
        self.config = config
        self.addresses = addresses
        self.maxSeries = maxSeries
        self.warn = warn
    }
}

/// What a served module keeps up to date. The core calls it from one thread at a time.
public protocol MetricsSource: AnyObject {
    /// Every interval: take a reading (kernels' aggregation maps are drained here, so they never fill).
    func sample()
    /// The totals since presampling.
    func families() -> [MetricFamily]
    /// postsampling: restore what presampling changed.
    func stop()
    /// The names of the call-stack profiles `profiles` makes (served at /debug/pprof/NAME).
    var profileNames: [String] { get }
    /// Call stacks weighted by what the source counted since presampling, as pprof profiles.
    func profiles() -> [(name: String, profile: StackProfile)]
}

extension MetricsSource {
    public func sample() {}
    public var profileNames: [String] { [] }
    public func profiles() -> [(name: String, profile: StackProfile)] { [] }
}
