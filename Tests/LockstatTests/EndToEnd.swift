import Foundation
import XCTest
@testable import LockstatCore

/// Runs the built `lockstat` and `lockstat-run` executables like a user would.
enum Lockstat {
    static var binaries: String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        if FileManager.default.isExecutableFile(atPath: here + "/lockstat-run") { return here }
        return Fixtures.repository.path + "/.build/debug"
    }

    /// The modules of a run that names none: tests name their modules rather than rely on the
    /// built-in default (`modules auto`, which depends on the machine), so it can change without them.
    static let testModules = ["--modules", "stat,diskstats"]

    /// `testModules` first, unless the arguments name modules or a config of their own.
    static func namingModules(_ arguments: [String]) -> [String] {
        arguments.contains { $0 == "--modules" || $0 == "--config" } ? arguments : testModules + arguments
    }

    static func run(_ arguments: [String], quiet: Bool = true) throws -> (status: Int32, out: String, err: String) {
        try shell([binaries + "/lockstat-run"] + (quiet ? ["--quiet"] : []) + namingModules(arguments))
    }

    static func tool(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try shell([binaries + "/lockstat"] + (arguments.first == "run" ? ["run"] + namingModules(Array(arguments.dropFirst())) : arguments))
    }

    /// Starts lockstat-run in the background.
    static func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binaries + "/lockstat-run")
        p.arguments = ["--quiet"] + namingModules(arguments)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func samples(_ dir: String) throws -> PyValue {
        guard case .success(let bytes) = FileReader.readAll(dir + "/samples.pickle") else { throw LockstatError("no samples.pickle in \(dir)") }
        return try Unpickler.decode(bytes)
    }
}

/// The kernel's own counters, read independently of lockstat.
enum Kernel {
    /// The cpuN line of /proc/stat.
    static func cpuTicks(_ cpu: Int) throws -> [Double] {
        guard case .success(let text) = FileReader.readText("/proc/stat"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu\(cpu) ") }) else { throw LockstatError("no cpu\(cpu)") }
        return line.split(separator: " ").dropFirst().compactMap { Double($0) }
    }

    /// The whole disk that holds `path` (via /sys/dev/block), e.g. "vda".
    static func disk(holding path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw LockstatError("stat \(path)") }
        let major = (st.st_dev >> 8) & 0xfff, minor = (st.st_dev & 0xff) | ((st.st_dev >> 12) & 0xfff00)
        let sys = try FileManager.default.destinationOfSymbolicLink(atPath: "/sys/dev/block/\(major):\(minor)")
        var url = URL(fileURLWithPath: "/sys/dev/block").appendingPathComponent(sys).standardized
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("partition").path) { url = url.deletingLastPathComponent() }
        return url.lastPathComponent
    }

    /// Sectors written by a disk since boot (/sys/block/DISK/stat field 7).
    static func sectorsWritten(_ disk: String) throws -> Double {
        guard case .success(let text) = FileReader.readText("/sys/block/\(disk)/stat") else { throw LockstatError("no stat for \(disk)") }
        return Double(text.split(separator: " ")[6])!
    }
}
