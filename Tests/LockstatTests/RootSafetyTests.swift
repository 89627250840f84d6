import Foundation
import XCTest
@testable import LockstatCore

/// lockstat as root against files an unprivileged user (`nobody`, through setpriv) planted:
/// the victims' contents, owners and listings stay as they were, and lockstat either refuses
/// with one line or does its job safely.
final class RootSafetyTests: XCTestCase {
    static let nobody: uid_t = 65534
    /// A python3 nobody may run (root's may live under /root).
    static let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: these attacks are on root; run the tests as root") }
        guard (try? shell(["setpriv", "--version"]))?.status == 0 else { throw XCTSkip("SKIPPED: setpriv (util-linux) not installed") }
    }

    /// Runs a command as nobody.
    @discardableResult
    func asNobody(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try shell(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + arguments)
    }

    /// A folder nobody owns (mode 755), the kind a user makes in /tmp before calling sudo.
    func nobodysDirectory(_ name: String = #function) throws -> String {
        let dir = temporaryDirectory(name) + "/demo"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        XCTAssertEqual(chown(dir, Self.nobody, Self.nobody), 0)
        return dir
    }

    /// Root's files that an attack would like to change: a folder of them and one more.
    struct Victims {
        let folder: String
        let file: String
        var state: [String: String] { Self.describe([folder, file] + ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { folder + "/" + $0 }) }

        static func describe(_ paths: [String]) -> [String: String] {
            var result = [String: String]()
            for p in paths {
                var st = stat()
                guard lstat(p, &st) == 0 else { result[p] = "missing"; continue }
                let contents = (try? String(contentsOfFile: p, encoding: .utf8)) ?? ""
                result[p] = "\(st.st_uid):\(st.st_gid) \(String(st.st_mode, radix: 8)) \(st.st_size) \(contents)"
            }
            return result
        }
    }

    func victims(_ name: String = #function) throws -> Victims {
        let base = temporaryDirectory(name + "victims")
        let folder = base + "/roots-folder"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        for f in ["a", "b", "c.svg"] {
            try "root's \(f)\n".write(toFile: folder + "/" + f, atomically: false, encoding: .utf8)
            chmod(folder + "/" + f, 0o600)
        }
        try "root's secret\n".write(toFile: base + "/secret", atomically: false, encoding: .utf8)
        chmod(base + "/secret", 0o600)
        return Victims(folder: folder, file: base + "/secret")
    }

    func sudo(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try shell(["env", "SUDO_UID=65534", "SUDO_GID=65534", Lockstat.binaries + "/lockstat-run", "--quiet"] + arguments)
    }

    /// Attacks 1 and 2: symlinks in the invoking user's own DIR, under sudo, to root's files.
    func testSymlinksPlantedInTheUsersDirectoryAreReplacedNeverFollowed() throws {
        let dir = try nobodysDirectory(), v = try victims()
        let before = v.state
        for name in ["lockstat.config", "cmd", "output", "samples.pickle", "samples.json", ".lockstat-files", "stat_cpu_all.svg",
                     "lockstat.config.tmp", "cmd.tmp", "samples.pickle.tmp", "samples.json.tmp", ".lockstat-files.tmp", "stat_cpu_all.svg.tmp"] {
            try asNobody(["ln", "-s", v.file, dir + "/" + name])
        }
        try asNobody(["ln", "-s", v.folder, dir + "/samples"])
        let r = try sudo(["--modules", "stat,diskstats", "--interval", "0.1", dir, "sh", "-c", "echo program output; sleep 0.3"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(v.state, before, "root's files and folder are untouched")
        XCTAssertEqual(try String(contentsOfFile: dir + "/output", encoding: .utf8), "program output\n")
        for name in ["lockstat.config", "cmd", "output", "samples.pickle", "samples.json", ".lockstat-files", "stat_cpu_all.svg"] {
            var st = stat()
            XCTAssertEqual(lstat(dir + "/" + name, &st), 0, name)
            XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG, "\(name) is lockstat's own file now")
            XCTAssertEqual(st.st_uid, Self.nobody, "\(name) belongs to the invoking user")
        }
        var st = stat()
        XCTAssertEqual(lstat(dir + "/samples", &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFDIR)
        XCTAssertEqual(st.st_mode & 0o777, 0o700, "raw logs (kernel addresses, other processes' maps) are private")
        XCTAssertEqual(try Lockstat.samples(dir)["stat"]?["time"]?.series?.isEmpty, false)
    }

    func testALockFileSymlinkIsRefused() throws {
        let dir = try nobodysDirectory(), v = try victims()
        let before = v.state
        try asNobody(["ln", "-s", v.folder + "/created-by-root", dir + "/.lockstat.lock"])
        let r = try sudo([dir, "true"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.err, "lockstat: \(dir)/.lockstat.lock: is a symlink; remove it\n")
        XCTAssertEqual(v.state, before)
    }

    /// Without sudo, root refuses a DIR another user owns: its names are theirs to point anywhere.
    func testRootRefusesADirectoryAnotherUserOwns() throws {
        let dir = try nobodysDirectory()
        let r = try Lockstat.run([dir, "touch", dir + "/../ran"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.err, "lockstat: \(dir): belongs to uid 65534, not to root or to you: lockstat refuses to write into a directory someone else controls; choose a directory of your own\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/../ran"), "nothing ran")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    /// Attack 3: DIR itself a symlink to root's folder.
    func testADirectoryThatIsASymlinkIsRefused() throws {
        let v = try victims(), link = temporaryDirectory() + "/link"
        let before = v.state
        XCTAssertEqual(symlink(v.folder, link), 0)
        let r = try sudo([link, "true"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.err, "lockstat: \(link): is a symlink; lockstat writes only into a real directory (give the path it points to)\n")
        XCTAssertEqual(v.state, before)
    }

    func testADirectoryOthersMayWriteIsRefused() throws {
        let dir = temporaryDirectory() + "/shared"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        chmod(dir, 0o777)
        let r = try Lockstat.run([dir, "true"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.hasPrefix("lockstat: \(dir): other users may write into it (mode 777)"), r.err)
    }

    /// Attack 7: under sudo only what this run created changes owner; a DIR of root's that
    /// existed before keeps its owner and so does everything that was in it.
    func testSudoChownsOnlyWhatTheRunCreated() throws {
        let dir = temporaryDirectory() + "/roots"
        try FileManager.default.createDirectory(atPath: dir + "/sub/deeper", withIntermediateDirectories: true)
        try "secret\n".write(toFile: dir + "/sub/deeper/secret", atomically: false, encoding: .utf8)
        chmod(dir + "/sub/deeper/secret", 0o600)
        let r = try sudo(["--modules", "stat", dir, "true"])
        XCTAssertEqual(r.status, 0, r.err)
        func owner(_ p: String) -> uid_t { var st = stat(); lstat(p, &st); return st.st_uid }
        XCTAssertEqual(owner(dir), 0)
        XCTAssertEqual(owner(dir + "/sub"), 0)
        XCTAssertEqual(owner(dir + "/sub/deeper/secret"), 0)
        XCTAssertEqual(owner(dir + "/samples.pickle"), Self.nobody)
        XCTAssertEqual(owner(dir + "/samples/stat.log"), Self.nobody)
    }

    /// Attack 4: `parse` and `graph` of a directory nobody prepared run its modules as nobody.
    func testParseAndGraphOfAnotherUsersDirectoryRunItsCodeAsThatUser() throws {
        let base = temporaryDirectory()
        let witness = base + "/witness"
        try FileManager.default.createDirectory(atPath: witness, withIntermediateDirectories: false)
        chmod(witness, 0o1777)
        let dir = try nobodysDirectory()
        XCTAssertEqual(try Lockstat.run(["--modules", "stat", base + "/template", "true"]).status, 0)
        XCTAssertEqual(try shell(["cp", "-r", base + "/template/samples", dir + "/samples"]).status, 0)
        // A raw log for the planted module, so that parse calls it.
        XCTAssertEqual(try shell(["cp", dir + "/samples/stat.log", dir + "/samples/evil.log"]).status, 0)
        XCTAssertEqual(try shell(["chown", "-R", "nobody:nogroup", dir + "/samples"]).status, 0)
        try asNobody(["mkdir", dir + "/modules"])
        let evil = """
        import os
        def parse(test_dir):
            open("\(witness)/parse-" + str(os.getuid()), "w").close()
            return 1
        def plot(test_dir, data, interval):
            open("\(witness)/plot-" + str(os.getuid()), "w").close()
        """
        try asNobody(["sh", "-c", "cat > \(dir)/modules/evil.py <<'EOF'\n\(evil)\nEOF"])
        try asNobody(["sh", "-c", "printf 'modules stat evil\\nmodule_path \(dir)/modules\\n' > \(dir)/lockstat.config"])
        let parse = try Lockstat.tool(["parse", dir])
        XCTAssertEqual(parse.status, 0, parse.err)
        let graph = try Lockstat.tool(["graph", dir])
        XCTAssertEqual(graph.status, 0, graph.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: witness).sorted(), ["parse-65534", "plot-65534"])
        var st = stat()
        XCTAssertEqual(lstat(dir + "/samples.pickle", &st), 0)
        XCTAssertEqual(st.st_uid, Self.nobody, "parse wrote as the directory's owner")
    }

    /// Code run as root must be root's and writable by root only, wherever it is started.
    func testRootRunsNoModuleOthersCanChange() throws {
        let base = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: base + "/mods", withIntermediateDirectories: false)
        let module = "import os\ndef parse(test_dir):\n    open('\(base)/ran', 'w').close()\n    return 1\n"
        try module.write(toFile: base + "/mods/w.py", atomically: false, encoding: .utf8)
        try "modules stat w\nmodule_path \(base)/mods\n".write(toFile: base + "/c.config", atomically: false, encoding: .utf8)
        XCTAssertEqual(try Lockstat.run(["--config", base + "/c.config", base + "/run", "true"]).status, 0)
        try FileManager.default.removeItem(atPath: base + "/ran")
        // Made world-writable after the run: parse (as root, the directory is root's) refuses it.
        chmod(base + "/mods/w.py", 0o666)
        let parse = try Lockstat.tool(["parse", base + "/run"])
        XCTAssertTrue(parse.err.contains("module w: refused: \(base)/mods/w.py is writable by others (mode 666)"), parse.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: base + "/ran"))
        // Under sudo, the invoking user's own module does not run as root either.
        chmod(base + "/mods/w.py", 0o644)
        XCTAssertEqual(chown(base + "/mods/w.py", Self.nobody, Self.nobody), 0)
        let run = try sudo(["--config", base + "/c.config", base + "/run2", "true"])
        XCTAssertEqual(run.status, 2)
        XCTAssertEqual(run.err, "lockstat: module w: refused: \(base)/mods/w.py belongs to uid 65534: code lockstat runs as root must be root's (chown root \(base)/mods/w.py)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: base + "/ran"))
    }

    /// Attack 5: a crafted samples.pickle in a directory nobody owns; with only root's shipped
    /// meminfo.py configured, `graph` hands it to Python. Its payload can run as nobody at most.
    func testACraftedPickleRunsNothingAsRoot() throws {
        let base = temporaryDirectory()
        let witness = base + "/witness"
        try FileManager.default.createDirectory(atPath: witness, withIntermediateDirectories: false)
        chmod(witness, 0o1777)
        let dir = try nobodysDirectory()
        let craft = """
        import os, pickle, sys
        class Payload:
            def __reduce__(self):
                return (os.system, ("id -u > \(witness)/uid",))
        pickle.dump({"meminfo": Payload()}, open(sys.argv[1] + "/samples.pickle", "wb"))
        open(sys.argv[1] + "/lockstat.config", "w").write("modules meminfo\\nmodule_path \(Fixtures.repository.path)/modules\\n")
        """
        XCTAssertEqual(try asNobody([Self.python, "-c", craft, dir]).status, 0)
        _ = try Lockstat.tool(["graph", dir])
        let uid = try? String(contentsOfFile: witness + "/uid", encoding: .utf8)
        XCTAssertTrue(uid == nil || uid == "65534\n", "the payload ran as \(uid ?? "nobody")")
    }

    /// Attack 6: Python starts isolated; a json.py in the current directory is not imported.
    func testTheCurrentDirectoryIsNotOnTheDropInsPythonPath() throws {
        let base = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: base + "/cwd", withIntermediateDirectories: false)
        try "open('\(base)/imported', 'w').close()\n".write(toFile: base + "/cwd/json.py", atomically: false, encoding: .utf8)
        let config = base + "/c.config"
        try "modules meminfo\nmodule_path \(Fixtures.repository.path)/modules\nintervall 0.1\n".write(toFile: config, atomically: false, encoding: .utf8)
        let run = try shell(["sh", "-c", "cd \(base)/cwd && PYTHONPATH=\(base)/cwd \(Lockstat.binaries)/lockstat-run --quiet --config \(config) \(base)/run sleep 0.3"])
        XCTAssertEqual(run.status, 0, run.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: base + "/imported"), "json.py from the current directory was imported")
        XCTAssertNotEqual(try Lockstat.samples(base + "/run")["meminfo"], PyValue.none, "the module itself ran and imported the real json")
    }

    /// lockstat's own unpickler: a 2^62 length and nesting a million deep are clear errors.
    func testHostilePicklesAreClearErrors() throws {
        let dir = temporaryDirectory()
        XCTAssertEqual(try Lockstat.run(["--modules", "stat", dir + "/run", "true"]).status, 0)
        var huge: [UInt8] = [0x80, 4, 0x8D]   // PROTO 4, BINUNICODE8
        huge += withUnsafeBytes(of: UInt64(1 << 62).littleEndian, Array.init) + [0x2E]
        var deep: [UInt8] = [0x80, 4]
        deep += [UInt8](repeating: 0x5D, count: 1_000_000)   // EMPTY_LIST a million times
        deep += [UInt8](repeating: 0x61, count: 999_999) + [0x2E]   // APPEND into each other
        for (name, bytes, message) in [("huge", huge, "pickle: truncated"), ("deep", deep, "pickle: nested deeper than 100 levels")] {
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/run/samples.pickle"))
            for command in ["report", "graph"] {
                let r = try Lockstat.tool([command, dir + "/run"])
                XCTAssertEqual(r.status, 1, "\(name) \(command): \(r.err)")
                XCTAssertEqual(r.err, "lockstat: \(dir)/run/samples.pickle: \(message)\n", "\(name) \(command)")
            }
        }
    }
}
