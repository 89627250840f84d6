import Foundation
import XCTest
@testable import LockstatCore

/// `make install` / `make uninstall`, the config search, sudo ownership, and `lockstat doctor`.
final class InstallTests: XCTestCase {
    func files(under root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
    }

    func testInstallRunFromAnywhereAndThroughASymlinkThenUninstall() throws {
        let destdir = temporaryDirectory(), prefix = "/opt/lockstat-test"
        let root = destdir + prefix
        let make = { (target: String) in try shell(["make", "-C", Fixtures.repository.path, target, "BUILT=\(Lockstat.binaries)",
                                                   "PREFIX=\(prefix)", "DESTDIR=\(destdir)"]) }
        // Installed and uninstalled untouched: nothing at all is left behind.
        XCTAssertEqual(try make("install").status, 0)
        XCTAssertEqual(try make("uninstall").status, 0)
        XCTAssertEqual(files(under: destdir), [])
        let installed = try make("install")
        XCTAssertEqual(installed.status, 0, installed.err)
        for f in ["bin/lockstat", "bin/lockstat-run", "share/man/man1/lockstat.1", "share/man/man1/lockstat-run.1",
                  "share/bash-completion/completions/lockstat", "share/zsh/site-functions/_lockstat-run",
                  "share/fish/vendor_completions.d/lockstat.fish", "etc/lockstat/lockstat.config",
                  "share/lockstat/modules/meminfo.py", "share/lockstat/modules/loadavg"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: root + "/" + f)[.size] as? Int) ?? 0
            XCTAssertGreaterThan(size ?? 0, 0, f)
        }
        XCTAssertEqual(try String(contentsOfFile: root + "/etc/lockstat/lockstat.config", encoding: .utf8), ConfigParser.defaultText)
        // serve's unit names the installed binary by PREFIX (not DESTDIR), and is only installed.
        let unit = try String(contentsOfFile: root + "/lib/systemd/system/lockstat-serve.service", encoding: .utf8)
        XCTAssertTrue(unit.contains("\nExecStart=\(prefix)/bin/lockstat serve --listen 127.0.0.1:9464\n"), unit)
        XCTAssertTrue(unit.contains("\nWantedBy=multi-user.target\n"), unit)

        // The installed config is in effect for the installed tool, from any directory and
        // through a symlink (HOME points at an empty folder, so no ~/.config file interferes).
        let home = temporaryDirectory(), elsewhere = temporaryDirectory()
        try "modules stat\nintervall 0.25\n".write(toFile: root + "/etc/lockstat/lockstat.config", atomically: true, encoding: .utf8)
        let link = elsewhere + "/lsrun"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: root + "/bin/lockstat-run")
        for tool in [root + "/bin/lockstat-run", link] {
            let r = try shell(["sh", "-c", "cd / && HOME=\(home) \(tool) --quiet run-\(tool.hasSuffix("lsrun") ? "link" : "direct") sleep 0.6"],
                              environment: nil)
            XCTAssertEqual(r.status, 0, r.err)
        }
        for run in ["/run-direct", "/run-link"] {
            let config = try String(contentsOfFile: run + "/lockstat.config", encoding: .utf8)
            XCTAssertTrue(config.contains("intervall 0.25\n") && config.contains("modules stat\n"), config)
            try FileManager.default.removeItem(atPath: run)
        }
        let shown = try shell(["env", "HOME=\(home)", root + "/bin/lockstat", "config"])
        XCTAssertTrue(shown.out.hasPrefix("# in effect: \(root)/etc/lockstat/lockstat.config\n"), shown.out)
        // The installed examples are on the installed tool's default module path.
        let listed = try shell(["env", "HOME=\(home)", root + "/bin/lockstat", "modules"])
        XCTAssertTrue(listed.out.contains("meminfo    available") && listed.out.contains("loadavg    available"), listed.out)

        // A second install keeps the edited config; uninstall keeps it too, and removes the rest.
        XCTAssertEqual(try make("install").status, 0)
        XCTAssertEqual(try String(contentsOfFile: root + "/etc/lockstat/lockstat.config", encoding: .utf8), "modules stat\nintervall 0.25\n")
        let removed = try make("uninstall")
        XCTAssertEqual(removed.status, 0, removed.err)
        XCTAssertTrue(removed.out.contains("keeping \(root)/etc/lockstat/lockstat.config: it was edited"), removed.out)
        XCTAssertEqual(files(under: destdir), ["opt", "opt/lockstat-test", "opt/lockstat-test/etc", "opt/lockstat-test/etc/lockstat",
                                               "opt/lockstat-test/etc/lockstat/lockstat.config"])
    }

    func testConfigSearchOrder() throws {
        let home = temporaryDirectory(), other = temporaryDirectory() + "/other.config"
        try FileManager.default.createDirectory(atPath: home + "/.config/lockstat", withIntermediateDirectories: true)
        try "modules stat\nintervall 0.3\n".write(toFile: home + "/.config/lockstat/lockstat.config", atomically: true, encoding: .utf8)
        try "modules diskstats\n".write(toFile: other, atomically: true, encoding: .utf8)
        let fromHome = try shell(["env", "HOME=\(home)", Lockstat.binaries + "/lockstat", "config"])
        XCTAssertTrue(fromHome.out.hasPrefix("# in effect: \(home)/.config/lockstat/lockstat.config\n"), fromHome.out)
        XCTAssertTrue(fromHome.out.contains("intervall 0.3\n"))
        let fromEnv = try shell(["env", "HOME=\(home)", "LOCKSTAT_CONFIG=\(other)", Lockstat.binaries + "/lockstat", "config"])
        XCTAssertTrue(fromEnv.out.hasPrefix("# in effect: \(other)\n"), fromEnv.out)
        let explicit = try shell(["env", "HOME=\(home)", "LOCKSTAT_CONFIG=\(other)", Lockstat.binaries + "/lockstat", "config", "--config", home + "/.config/lockstat/lockstat.config"])
        XCTAssertTrue(explicit.out.contains("intervall 0.3\n"))
        let printed = try Lockstat.tool(["config", "--default"])
        XCTAssertEqual(printed.out, ConfigParser.defaultText)
    }

    /// Under sudo (SUDO_UID/SUDO_GID, root), the test directory ends up the invoking user's.
    func testSudoGivesTheDirectoryToTheInvokingUser() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: needs root to change ownership") }
        let dir = temporaryDirectory() + "/mine"
        let r = try shell(["env", "SUDO_UID=65534", "SUDO_GID=65534", Lockstat.binaries + "/lockstat-run", "--quiet", dir, "true"])
        XCTAssertEqual(r.status, 0, r.err)
        for f in ["", "/samples", "/samples/stat.log", "/samples.pickle", "/stat_cpu_all.svg", "/output"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + f)
            XCTAssertEqual(attributes[.ownerAccountID] as? Int, 65534, f)
        }
    }

    func testDoctorAsRootAndAsAnUnprivilegedUser() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: needs root to compare root's verdicts with an unprivileged user's") }
        func verdicts(_ r: (status: Int32, out: String, err: String)) throws -> [String: Bool] {
            let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            let modules = json?["modules"] as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: modules.map { ($0["module"] as! String, $0["can_run"] as! Bool) })
        }
        let lockStatHere = FileReader.check("/proc/lock_stat") == nil
        let root = try Lockstat.tool(["doctor", "--json"])
        XCTAssertEqual(root.status, 0, "the default config's modules can run: \(root.out)")
        let asRoot = try verdicts(root)
        XCTAssertEqual(asRoot["stat"], true)
        XCTAssertEqual(asRoot["diskstats"], true)
        XCTAssertEqual(asRoot["lock_stat"], lockStatHere)
        XCTAssertEqual(asRoot["oprofile"], true, "root may open perf events system-wide")
        XCTAssertEqual(asRoot["contention"], true, "5.19+ kernel with tracepoints, root")
        let config = temporaryDirectory() + "/lock.config"
        try "modules stat lock_stat\n".write(toFile: config, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Lockstat.tool(["doctor", "--config", config]).status, lockStatHere ? 0 : 1)

        let nobody = try shell(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", Lockstat.binaries + "/lockstat", "doctor", "--json"])
        let asNobody = try verdicts(nobody)
        XCTAssertEqual(asNobody["stat"], true)
        XCTAssertEqual(asNobody["contention"], false, nobody.out)
        XCTAssertEqual(asNobody["oprofile"], false, nobody.out)
        XCTAssertTrue(nobody.out.contains("needs root or perf_event_paranoid <= -1"), nobody.out)
        let text = try shell(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", Lockstat.binaries + "/lockstat", "doctor"])
        XCTAssertTrue(text.out.contains("lock_stat") && text.out.contains("CONFIG_LOCK_STAT"), text.out)
    }
}

/// doctor and run make the same check: for every built-in module, as root and as nobody,
/// doctor's verdict is whether `run` samples it (run.json lists it as sampled, else skipped).
final class DoctorAgreesWithRunTests: XCTestCase {
    func testDoctorsVerdictIsWhetherRunSamplesIt() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: needs root to compare root with an unprivileged user") }
        let base = temporaryDirectory()
        chmod(base, 0o755)
        let config = base + "/c.config"
        try "modules stat\nintervall 0.1\n".write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o644)
        let modules = ["stat", "diskstats", "lock_stat", "contention", "oprofile"]
        for user in ["root", "nobody"] {
            let prefix = user == "root" ? [] : ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            let doctor = try shell(prefix + [Lockstat.binaries + "/lockstat", "doctor", "--json", "--config", config])
            let json = try JSONSerialization.jsonObject(with: Data(doctor.out.utf8)) as? [String: Any]
            let verdicts = Dictionary(uniqueKeysWithValues: (json?["modules"] as? [[String: Any]] ?? []).map { ($0["module"] as! String, $0["can_run"] as! Bool) })
            for module in modules {
                let dir = base + "/\(user)-\(module)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
                if user == "nobody" { XCTAssertEqual(chown(dir, 65534, 65534), 0) }
                let r = try shell(prefix + [Lockstat.binaries + "/lockstat-run", "--quiet", "--config", config, "--modules", module, dir + "/run", "sleep", "0.3"])
                XCTAssertEqual(r.status, 0, "\(user) \(module): \(r.err)")
                let run = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run/run.json"))) as? [String: Any]
                let sampled = (run?["modules"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == module }
                XCTAssertEqual(verdicts[module], sampled, "\(user), \(module): doctor says \(verdicts[module].map(String.init) ?? "nothing"), run \(sampled ? "sampled it" : "skipped it: \(r.err)")")
            }
        }
    }
}
