import CLockstat
import Foundation
import LockstatCore
import SystemPackage

/// How long one call of a drop-in module may take (`NAME.timeout`): past it the process is
/// killed and the call fails. A terminating signal that reaches lockstat during a call leaves
/// it `afterSignal` more seconds (a slow presampling still finishes, so its postsampling can put
/// things back), a further one ends it at once: a hung module never holds up a stop.
public struct CallLimit: Sendable {
    public var seconds: Double
    public static let afterSignal = 5.0
    /// `NAME.timeout`'s default and range (seconds).
    public static let defaultSeconds = 60.0
    public static let range = 0.1...86_400.0

    public init(seconds: Double) { self.seconds = seconds }

    /// Waits on descriptors until one is readable or the call's time is up.
    struct Clock {
        let limit: CallLimit
        private var deadline: UInt64
        private var signals: Int32
        private(set) var endedBySignal = false

        init(_ limit: CallLimit) {
            self.limit = limit
            deadline = limit.seconds.isFinite ? ls_monotonic_ns() &+ UInt64(limit.seconds * 1e9) : .max
            signals = ls_signals_count()
        }

        /// The descriptors of `fds` that are readable (or closed), or nil once the time is up.
        /// Wakes at least every 100 ms while it waits, to see a signal that came.
        mutating func wait(_ fds: [Int32]) -> [Int32]? {
            var polled = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            while true {
                let now = ls_monotonic_ns()
                let count = ls_signals_count()
                if count != signals {
                    let again = endedBySignal || count - signals >= 2
                    signals = count
                    endedBySignal = true
                    deadline = min(deadline, again ? now : now &+ UInt64(CallLimit.afterSignal * 1e9))
                }
                guard now < deadline else { return nil }
                let slice = Int32(min((deadline - now) / 1_000_000 + 1, 100))
                let n = poll(&polled, nfds_t(polled.count), slice)
                if n > 0 { return polled.filter { $0.revents != 0 }.map(\.fd) }
            }
        }

        var expiry: String {
            endedBySignal
                ? "still running after lockstat got a terminating signal (\(CallLimit.afterSignal) s, or a second signal): killed"
                : "timed out after \(limit.seconds) s (the module's timeout): killed"
        }
    }
}

/// Runs a helper process once: drop-in modules, doctor's probes, the benchmark's tools: its
/// arguments, stdin from /dev/null, and what it printed on stdout and stderr, both read while it
/// runs so a chatty module cannot stall on a full pipe. It dies with lockstat (PR_SET_PDEATHSIG
/// and the supervisor).
public enum ScriptProcess {
    public struct Outcome {
        /// The exit status, or 128 + N when signal N ended it (as a shell reports it).
        public var status: Int32
        public var stdout: Data
        public var stderr: String
    }

    /// What a module may print before lockstat stops reading (and fails the call).
    static let outputLimit = 1 << 30

    /// Blocks the calling thread until the process has ended, or until `limit` is up (the
    /// process is then killed and the call throws).
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        limit: CallLimit? = nil
    ) throws -> Outcome {
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard null >= 0 else { throw LockstatError("/dev/null: \(SystemPackage.Errno(rawValue: errno).description)") }
        defer { close(null) }
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard ls_pipe(&out) == 0 else {
            throw LockstatError("\(executable): pipe: \(SystemPackage.Errno(rawValue: errno).description)")
        }
        defer { close(out[0]) }
        guard ls_pipe(&err) == 0 else {
            close(out[1])
            throw LockstatError("\(executable): pipe: \(SystemPackage.Errno(rawValue: errno).description)")
        }
        defer { close(err[0]) }
        let pid: pid_t
        do {
            pid = try Helper.spawn(
                executable, arguments: [executable] + arguments,
                environment: environment.map { $0.map { "\($0.key)=\($0.value)" } },
                inputFD: null, outputFD: out[1], errorFD: err[1])
        } catch {
            close(out[1])
            close(err[1])
            throw LockstatError("\(executable): \(error)")
        }
        close(out[1])
        close(err[1])
        var stdout = [UInt8]()
        var stderr = [UInt8]()
        var open = [out[0], err[0]]
        var clock = CallLimit.Clock(limit ?? CallLimit(seconds: .infinity))
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            guard let ready = clock.wait(open) else {
                Helper.kill(pid)
                throw LockstatError("\(executable) \(arguments.first ?? ""): \(clock.expiry)")
            }
            for fd in ready {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    open.removeAll { $0 == fd }
                    continue
                }
                if fd == out[0] { stdout += chunk[0..<n] } else { stderr += chunk[0..<n] }
                if stdout.count + stderr.count > outputLimit {
                    Helper.kill(pid)
                    throw LockstatError("\(executable): printed more than \(outputLimit >> 20) MiB: killed")
                }
            }
        }
        let status = Program.exitStatus(fromWaitStatus: Helper.reap(pid))
        return Outcome(status: status, stdout: Data(stdout), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static var python3: String? { Program.resolve("python3", path: ProcessInfo.processInfo.environment["PATH"]) }
}

/// A process lockstat starts for a module (or the benchmark starts beside its workload): registered
/// with the supervisor from before its exec until it is reaped, so it never outlives lockstat (not
/// even a kill -9 of it). Program.spawn alone is for the measured program.
public enum Helper {
    public static func spawn(
        _ executable: String, arguments: [String], environment: [String]? = nil,
        inputFD: Int32, outputFD: Int32, errorFD: Int32
    ) throws -> pid_t {
        var registered: pid_t = 0
        do {
            return try Program.spawn(
                executable, arguments: arguments, environment: environment, inputFD: inputFD,
                outputFD: outputFD, errorFD: errorFD
            ) { pid in
                registered = pid
                ls_supervise(pid)
            }
        } catch {
            if registered > 0 { ls_unsupervise(registered) }
            throw error
        }
    }

    /// Waits for it and forgets it; the raw wait status.
    @discardableResult
    public static func reap(_ pid: pid_t) -> Int32 {
        let status = ls_wait(pid)
        ls_unsupervise(pid)
        return status
    }

    @discardableResult
    static func kill(_ pid: pid_t) -> Int32 {
        _ = Glibc.kill(pid, SIGKILL)
        return reap(pid)
    }
}

/// A long-lived python3 for the sampling phase: one interpreter per module, commands on its
/// stdin, answers on its stdout (see PythonRunner); every call bounded by the module's limit.
final class PythonSession {
    private let pid: pid_t
    private var commands: Int32
    private let answers: Int32
    private let limit: CallLimit
    private var buffer = [UInt8]()
    /// The wait status once the interpreter is reaped.
    private var ended: Int32?

    init(python: String, file: String, testDirectory: String, output: FileHandle, limit: CallLimit) throws {
        self.limit = limit
        var input: [Int32] = [-1, -1]
        var answer: [Int32] = [-1, -1]
        guard ls_pipe(&input) == 0 else {
            throw LockstatError("python3: pipe: \(SystemPackage.Errno(rawValue: errno).description)")
        }
        guard ls_pipe(&answer) == 0 else {
            Glibc.close(input[0])
            Glibc.close(input[1])
            throw LockstatError("python3: pipe: \(SystemPackage.Errno(rawValue: errno).description)")
        }
        do {
            pid = try Helper.spawn(
                python, arguments: [python] + PythonRunner.arguments("session", file, testDirectory),
                inputFD: input[0], outputFD: answer[1], errorFD: output.fileDescriptor)
        } catch {
            input.forEach { Glibc.close($0) }
            answer.forEach { Glibc.close($0) }
            throw error
        }
        Glibc.close(input[0])
        Glibc.close(answer[1])
        commands = input[1]
        answers = answer[0]
        var clock = CallLimit.Clock(limit)
        let first = readLine(&clock)
        guard first == "ready" else {
            let expired = first == nil && ended == nil
            let status = expired ? Helper.kill(pid) : (ended ?? Helper.reap(pid))
            ended = status
            if let first, first.hasPrefix("failed ") { throw LockstatError(String(first.dropFirst(7))) }
            if expired { throw LockstatError("\(file): loading it \(clock.expiry)") }
            throw LockstatError(
                "\(file): could not be loaded by python3 (exit \(Program.exitStatus(fromWaitStatus: status)))")
        }
    }

    deinit {
        if ended == nil { Helper.kill(pid) }
        if commands >= 0 { Glibc.close(commands) }
        Glibc.close(answers)
    }

    /// Sends one command; nil when it went well, else the traceback.
    func call(_ command: String) -> String? {
        if let ended { return "python3 ended (exit \(Program.exitStatus(fromWaitStatus: ended)))" }
        _ = writeText(commands, command + "\n")
        var clock = CallLimit.Clock(limit)
        guard let answer = readLine(&clock) else {
            if ended == nil {
                ended = Helper.kill(pid)
                return "python3 \(clock.expiry)"
            }
            return "python3 ended (exit \(Program.exitStatus(fromWaitStatus: ended!)))"
        }
        if answer == "ok" { return nil }
        let parts = answer.split(separator: " ")
        guard parts.count == 2, parts[0] == "error", let n = Int(parts[1]) else {
            return "unexpected answer: \(answer)"
        }
        return String(decoding: read(n, &clock), as: UTF8.self)
    }

    func close() {
        guard ended == nil else { return }
        _ = writeText(commands, "quit\n")
        Glibc.close(commands)
        commands = -1
        // It exits at the end of its input; one that does not within the limit is killed.
        var clock = CallLimit.Clock(limit)
        while ended == nil {
            guard clock.wait([answers]) != nil else {
                ended = Helper.kill(pid)
                break
            }
            if !fill() { break }
        }
        if ended == nil { ended = Helper.reap(pid) }
    }

    /// One read of what is there; false at the end of the answers (the interpreter is then reaped).
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(answers, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if ended == nil { ended = Helper.reap(pid) }
                return false
            }
            buffer += chunk[0..<n]
            return true
        }
    }

    /// A line of answers; nil when the interpreter ended or the time is up (then `ended` is still nil).
    private func readLine(_ clock: inout CallLimit.Clock) -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            guard clock.wait([answers]) != nil, fill() else { return nil }
        }
    }

    private func read(_ n: Int, _ clock: inout CallLimit.Clock) -> [UInt8] {
        while buffer.count < n { guard clock.wait([answers]) != nil, fill() else { break } }
        let take = min(n, buffer.count)
        defer { buffer.removeSubrange(..<take) }
        return Array(buffer[..<take])
    }
}
