import Foundation
import LockstatCore
import Subprocess
import SystemPackage

/// Runs a helper process once (swift-subprocess): drop-in modules, doctor's probes, the benchmark's tools: its arguments, an empty stdin, and what it
/// printed on stdout and stderr, both read while it runs so a chatty module cannot stall on a
/// full pipe.
public enum ScriptProcess {
    public struct Outcome {
        /// The exit status, or 128 + N when signal N ended it (as a shell reports it).
        public var status: Int32
        public var stdout: Data
        public var stderr: String
    }

    /// What a module may print before lockstat stops reading (and fails the call).
    static let outputLimit = 1 << 30

    /// Blocks the calling thread (a sampling thread, the main thread: never a task of the
    /// concurrency pool) until the process has ended.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Outcome {
        let outcome = Box()
        let done = DispatchSemaphore(value: 0)
        let env: Subprocess.Environment = environment.map { e in .custom(e.map { Array("\($0.key)=\($0.value)".utf8) }) } ?? .inherit
        Task {
            do {
                let r = try await Subprocess.run(.path(FilePath(executable)), arguments: Arguments(arguments), environment: env,
                                                 input: .none, output: .data(limit: outputLimit), error: .data(limit: outputLimit))
                let status: Int32
                switch r.terminationStatus {
                case .exited(let code): status = code
                case .signaled(let signal): status = 128 + signal
                }
                outcome.result = .success(Outcome(status: status, stdout: Data(r.standardOutput), stderr: String(decoding: r.standardError, as: UTF8.self)))
            } catch {
                outcome.result = .failure(LockstatError("\(executable): \(error)"))
            }
            done.signal()
        }
        done.wait()
        return try outcome.result!.get()
    }

    private final class Box: @unchecked Sendable { var result: Result<Outcome, Error>? }

    static var python3: String? { Program.resolve("python3", path: ProcessInfo.processInfo.environment["PATH"]) }
}

/// A long-lived python3 for the sampling phase: one interpreter per module, commands on its
/// stdin, answers on its stdout (see PythonRunner).
final class PythonSession {
    private let process = Process()
    private let commands = Pipe()
    private let answers = Pipe()
    private var buffer = [UInt8]()

    init(python: String, file: String, testDirectory: String, output: FileHandle) throws {
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = PythonRunner.arguments("session", file, testDirectory)
        process.standardInput = commands
        process.standardOutput = answers
        process.standardError = output
        try process.run()
        let first = readLine()
        guard first == "ready" else {
            process.waitUntilExit()
            if let first, first.hasPrefix("failed ") { throw LockstatError(String(first.dropFirst(7))) }
            throw LockstatError("\(file): could not be loaded by python3 (exit \(process.terminationStatus))")
        }
    }

    /// Sends one command; nil when it went well, else the traceback.
    func call(_ command: String) -> String? {
        writeText(commands.fileHandleForWriting.fileDescriptor, command + "\n")
        guard let answer = readLine() else { return "python3 ended (exit \(process.isRunning ? -1 : process.terminationStatus))" }
        if answer == "ok" { return nil }
        let parts = answer.split(separator: " ")
        guard parts.count == 2, parts[0] == "error", let n = Int(parts[1]) else { return "unexpected answer: \(answer)" }
        return String(decoding: read(n), as: UTF8.self)
    }

    func close() {
        writeText(commands.fileHandleForWriting.fileDescriptor, "quit\n")
        try? commands.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        // Signals (lockstat's own wake-ups, SIGCHLD) interrupt the read: retried.
        let descriptor = FileDescriptor(rawValue: answers.fileHandleForReading.fileDescriptor)
        guard let n = try? chunk.withUnsafeMutableBytes({ try descriptor.read(into: $0) }), n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }

    private func readLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            guard fill() else { return nil }
        }
    }

    private func read(_ n: Int) -> [UInt8] {
        while buffer.count < n { guard fill() else { break } }
        let take = min(n, buffer.count)
        defer { buffer.removeSubrange(..<take) }
        return Array(buffer[..<take])
    }
}
