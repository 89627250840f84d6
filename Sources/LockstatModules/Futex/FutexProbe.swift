import Foundation
import LockstatCore

extension FutexModule {
    /// What the module needs: root, the kernel's BTF, the futex system call tracepoints, x86-64,
    /// and libc6-dbg to tell the kinds apart.
    public func probe(_ system: SystemRoot) -> [ProbeCheck] {
        var checks = [ProbeCheck]()
        checks.append(
            ProbeCheck(
                name: "privileges", ok: geteuid() == 0,
                detail: geteuid() == 0 ? "root" : "not root: loading BPF programs needs CAP_BPF and CAP_PERFMON",
                fix: "run lockstat as root"))
        let btf = FileReader.check("/sys/kernel/btf/vmlinux") == nil
        checks.append(
            ProbeCheck(
                name: "BTF", ok: btf, detail: btf ? "/sys/kernel/btf/vmlinux" : "no /sys/kernel/btf/vmlinux",
                fix: "a kernel built with CONFIG_DEBUG_INFO_BTF"))
        let events = Tracefs.candidates.map { system.path($0 + "/events/syscalls") }
        let found = events.first { FileReader.check($0 + "/sys_enter_futex/id") == nil }
        let optional = ["futex_waitv", "futex_wait"].filter { name in
            found.map { FileReader.check($0 + "/sys_enter_\(name)/id") == nil } ?? false
        }
        checks.append(
            ProbeCheck(
                name: "tracepoints", ok: found != nil || Tracefs.mountable(system),
                detail: found.map {
                    "syscalls:sys_enter/exit_futex in \($0)"
                        + (optional.isEmpty ? "" : "; also " + optional.joined(separator: ", "))
                } ?? "syscalls:sys_enter_futex not found (tracefs not mounted, or CONFIG_FTRACE_SYSCALLS off)",
                fix: "a kernel with CONFIG_FTRACE_SYSCALLS; tracefs mounted"))
        #if arch(x86_64)
        checks.append(ProbeCheck(name: "architecture", ok: true, detail: "x86-64"))
        #else
        checks.append(
            ProbeCheck(
                name: "architecture", ok: false, detail: "the BPF programs read x86-64's user registers",
                fix: "x86-64 (other architectures are not done yet)"))
        #endif
        let debug = FileManager.default.fileExists(atPath: "/usr/lib/debug/.build-id")
        checks.append(
            ProbeCheck(
                name: "libc symbols", ok: true,
                detail: debug
                    ? "/usr/lib/debug/.build-id present: glibc's internal wait functions are named, so are the kinds"
                    : "no /usr/lib/debug: glibc's internal frames (__lll_lock_wait, __futex_abstimed_wait_common) are [unknown]; mutex and condvar waits are told apart only through their public callers",
                fix: debug ? nil : "apt install libc6-dbg"))
        // io_uring's futex operations (6.7+) sleep without a futex system call: nothing to trace.
        checks.append(
            ProbeCheck(
                name: "io_uring futex waits", ok: true,
                detail: "not seen: IORING_OP_FUTEX_WAIT/WAITV sleep without a futex system call; "
                    + "waits through futex(2), futex_waitv(2) and futex_wait(2) are"))
        return checks
    }
}
