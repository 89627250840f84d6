import LockstatCore

/// `contention.*`.
struct ContentionSettings: ModuleSettings {
    /// `auto`: bpf where this machine allows it, else ring.
    enum Mode: String, CaseIterable { case auto, bpf, ring }

    var scope = SamplingScope.system
    var top = defaultTopRows
    var mode = Mode.auto
    /// perf lock contention -b's default size of its maps.
    var entries = 16384
    /// Which contentions are recorded (bpf mode: at each drain, before the raw log) and counted.
    var filter = ContentionFilter()
    /// contention.cgroup (bpf mode): only the waits of tasks in these cgroups and their descendants.
    var cgroups = CgroupFilter()
    /// bpf mode: who woke each sleeping wait (the lock's releaser), by its kernel and user stack.
    /// Off unless asked for: it walks the waker's stacks at every wake of a waiter, several per
    /// wait where releasers re-take the lock, which multiplies the mode's BPF time (docs/contention.md).
    var wakers = false
    /// With wakers: the owner's kernel stack when a waiter begins (perf's `-o`). Its own choice:
    /// the walk runs under the lock's wait_lock, so it costs the handover itself (BENCHMARKS.md).
    var ownerStacks = false
    /// Which holds are timed: `contended` (holds under contention, with wakers, from
    /// tracepoints) or `all`, every mutex and rwsem hold as klockstat times them, which needs
    /// fentry programs; where they do not load, the run says so and keeps holds under contention.
    enum Holds: String, CaseIterable { case contended, all }
    var holds = Holds.contended
    /// bpf mode: the programs' run time counted by the kernel for the run (the cost's `bpf_ns`).
    /// Off unless asked for: the count's clock reads slow a lock-heavy workload (BPFRunTimeStatistics).
    var bpfTime = false

    static var settings: [Setting<ContentionSettings>] {
        [
            .choice("scope", \.scope), .top(\.top), .choice("mode", \.mode),
            .integer("entries", \.entries, ContentionModule.entriesRange), .yesNo("wakers", \.wakers),
            .yesNo("owner_stacks", \.ownerStacks),
            .choice("holds", \.holds), .yesNo("bpf_time", \.bpfTime),
            .words("types", \.filter.types, ContentionFilter.validTypes), .words("locks", \.filter.locks, nil),
            .words("stacks", \.filter.stacks, nil), .words("cgroup", \.cgroups.paths, nil),
        ]
    }

    init() {}

    init(_ config: Config) { self.init(config, module: ContentionModule.moduleName) }
}
