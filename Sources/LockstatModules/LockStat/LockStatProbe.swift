import LockstatCore

extension LockStatModule {
    /// The file, and when it is absent, whether the kernel's config confirms why.
    public func probe(_ system: SystemRoot) -> [ProbeCheck] {
        let path = system.path(Self.file)
        switch FileReader.check(path) {
        case nil:
            return [ProbeCheck(name: Self.file, ok: true, detail: "present and readable")]
        case .permissionDenied:
            return [
                ProbeCheck(
                    name: Self.file, ok: false, detail: "present, readable by root only",
                    fix: "run lockstat as root (sudo)")
            ]
        default:
            let release = SystemFacts.release
            let (source, setting) = SystemFacts.kernelConfig(system, "CONFIG_LOCK_STAT")
            let detail =
                "absent: the running kernel \(release) is built without CONFIG_LOCK_STAT"
                + (source.map { " (\($0) says \(setting ?? "nothing"))" }
                    ?? " (no /proc/config.gz or /boot/config-\(release) to confirm)")
            return [
                ProbeCheck(
                    name: Self.file, ok: false, detail: detail,
                    fix: "build a kernel with CONFIG_LOCK_STAT=y, which selects CONFIG_LOCKDEP, CONFIG_DEBUG_SPINLOCK, "
                        + "CONFIG_DEBUG_MUTEXES and CONFIG_DEBUG_LOCK_ALLOC: lockdep checks every lock operation, so locking gets "
                        + "several times slower and the kernel bigger; keep that kernel for measuring "
                        + "(make tinyconfig plus LOCK_STAT is a minimal one for a VM)")
            ]
        }
    }
}
