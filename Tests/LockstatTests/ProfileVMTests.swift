import Foundation
import XCTest
@testable import LockstatCore

/// The config's `vmlinux` key on a real kernel image: Tests/vm/build-vmlinux.sh builds the
/// ../shared/vm kernel with its vmlinux (.ci/run does); lockstat profiles inside that kernel
/// under qemu, naming kernel frames from the vmlinux, and the names must be the ones the same
/// kernel's kallsyms gives.
final class ProfileVMTests: XCTestCase {
    static let build = ProcessInfo.processInfo.environment["LOCKSTAT_VMLINUX_BUILD"] ?? "/var/tmp/lockstat-vmlinux/build"

    func testVmlinuxNamesKernelFramesAsKallsymsDoes() throws {
        let vmlinux = Self.build + "/vmlinux", kernel = Self.build + "/arch/x86/boot/bzImage"
        guard FileManager.default.fileExists(atPath: vmlinux), FileManager.default.fileExists(atPath: kernel) else {
            throw XCTSkip("SKIPPED: no vmlinux at \(Self.build): Tests/vm/build-vmlinux.sh builds it (.ci/run does)")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") else {
            throw XCTSkip("SKIPPED: qemu-system-x86 is not installed (.ci/run installs it)")
        }
        let out = temporaryDirectory()
        try "modules oprofile\nvmlinux \(vmlinux)\n".write(toFile: out + "/vm.config", atomically: true, encoding: .utf8)
        let vm = try shell([LockStatVMTests.vm.appendingPathComponent("run-in-vm.sh").path, "--timeout", "300", "--quiet", "--kernel", kernel, out, "--",
                            Lockstat.binaries + "/lockstat-run", "--quiet", "--config", out + "/vm.config", out + "/run",
                            "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=300000"])
        XCTAssertEqual(vm.status, 0, "VM: \(vm.err) \(vm.out)")
        func kernelRows(_ dir: String) throws -> (rows: [String: Double], images: Set<String>) {
            let rows = try Lockstat.samples(dir)["oprofile"]!["rows"]!.listItems!.filter { $0["kind"]!.string == "kernel" }
            return (Dictionary(rows.map { ($0["symbol"]!.string!, $0["samples"]!.number!) }, uniquingKeysWith: +), Set(rows.map { $0["image"]!.string! }))
        }
        let fromVmlinux = try kernelRows(out + "/run")
        XCTAssertEqual(fromVmlinux.images, ["vmlinux"])
        XCTAssertGreaterThanOrEqual(fromVmlinux.rows.count, 5, "\(fromVmlinux.rows)")
        XCTAssertNil(fromVmlinux.rows["[unknown]"])

        // The same raw samples parsed on the host without the key: the guest's kallsyms (kept in
        // the raw log) names every kernel frame the same.
        XCTAssertEqual(try shell(["cp", "-r", out + "/run", out + "/kallsyms"]).status, 0)
        let config = try String(contentsOfFile: out + "/kallsyms/lockstat.config", encoding: .utf8)
        try config.split(separator: "\n").filter { !$0.hasPrefix("vmlinux") }.joined(separator: "\n")
            .write(toFile: out + "/kallsyms/lockstat.config", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Lockstat.tool(["parse", out + "/kallsyms"]).status, 0)
        let fromKallsyms = try kernelRows(out + "/kallsyms")
        XCTAssertEqual(fromKallsyms.images, ["[kernel.kallsyms]"])
        XCTAssertEqual(fromKallsyms.rows, fromVmlinux.rows)

        // That vmlinux is not this machine's kernel: refused by build ID, kallsyms used.
        let host = try Lockstat.run(["--config", out + "/vm.config", out + "/host", "true"])
        XCTAssertEqual(host.status, 0, host.err)
        XCTAssertTrue(host.err.contains("vmlinux \(vmlinux) is not the kernel that ran (build ID "), host.err)
    }
}
