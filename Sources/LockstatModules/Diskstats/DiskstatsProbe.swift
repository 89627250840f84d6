import LockstatCore

extension DiskstatsModule {
    /// The file, and which kernels' layout its lines have.
    public func probe(_ system: SystemRoot) -> [ProbeCheck] {
        var check = SystemFacts.readable(system, Self.file, why: "disk I/O")
        if check.ok, case .success(let text) = FileReader.readText(system.path(Self.file)),
            let first = text.split(separator: "\n").first
        {
            let fields = first.split(separator: " ").count
            let layout =
                [
                    7: "2.6.0–2.6.24 partitions", 14: "2.6.25–4.17: no discard or flush columns",
                    18: "4.18–5.4: discards, no flushes", 20: "5.5+: discards and flushes",
                ][fields] ?? "unknown"
            check.detail += "; \(fields)-field lines (\(layout))"
        }
        return [check]
    }
}
