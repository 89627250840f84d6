import LockstatCore

extension StatModule {
    public func probe(_ system: SystemRoot) -> [ProbeCheck] {
        [SystemFacts.readable(system, Self.file, why: "CPU time")]
    }
}
