import Foundation
import LockstatCore

/// Runs a drop-in's process once: arguments, the module's output file for its stderr, and
/// what it printed on stdout.
enum ScriptProcess {
    struct Outcome {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Read both while it runs, so a chatty module cannot fill a pipe and stall.
        let errData = ErrorCollector()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData.data = Self.readToEnd(err.fileHandleForReading.fileDescriptor)
            group.leave()
        }
        let outData = Self.readToEnd(out.fileHandleForReading.fileDescriptor)
        group.wait()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: outData, stderr: String(decoding: errData.data, as: UTF8.self))
    }

    private final class ErrorCollector: @unchecked Sendable { var data = Data() }

    /// read(2) to EOF, retried on EINTR: lockstat's sampling threads are woken by signals, and
    /// Foundation's readDataToEndOfFile turns an interrupted read into a crash.
    static func readToEnd(_ fd: Int32) -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return data }
            data.append(contentsOf: chunk[0..<n])
        }
    }

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
        var n: Int
        repeat {
            // Signals (lockstat's own wake-ups, SIGCHLD) interrupt the read: retry.
            n = chunk.withUnsafeMutableBytes { Glibc.read(answers.fileHandleForReading.fileDescriptor, $0.baseAddress, $0.count) }
        } while n < 0 && errno == EINTR
        guard n > 0 else { return false }
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
