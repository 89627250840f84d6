import ArgumentParser
import CLockstat
import Foundation
import LockstatCore
import LockstatModules

/// `lockstat top`: a live view of what a module measures each interval (README: Live view: `lockstat top`).
struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract:
            "A live view of lock contention, system-wide, for -p PID[,PID] or for -- COMMAND ARGS (keys: c l t o g group kernel locks, u w user-space locks, s sort, enter stack, q quit)."
    )

    @Option(name: .shortAndLong, help: ArgumentHelp("Seconds between refreshes.", valueName: "seconds"))
    var interval = "1"

    @Option(name: [.customShort("n"), .customLong("iterations")], help: "Stop after N intervals.")
    var iterations: Int?

    @Option(
        name: [.customShort("p"), .customLong("pid")],
        help: ArgumentHelp("Only these processes and their descendants (also those forked later).", valueName: "pid,pid"))
    var pids: String?

    @Argument(
        parsing: .postTerminator,
        help: ArgumentHelp(
            "After --: a command to run; top shows it and its children and ends with it.",
            valueName: "command"))
    var command: [String] = []

    /// Plain mode's rows per interval.
    static let plainRows = 20

    func run() throws {
        guard let seconds = Double(interval), seconds.isFinite, seconds >= 0.05, seconds <= 3600 else {
            throw LockstatError.usage("--interval: expected seconds from 0.05 to 3600, got '\(interval)'")
        }
        if let iterations, iterations < 1 {
            throw LockstatError.usage("--iterations: must be at least 1, got \(iterations)")
        }
        let scope: LiveScope
        if let pids {
            guard command.isEmpty else {
                throw LockstatError.usage("--pid and a command (after --) exclude each other")
            }
            scope = .processes(try Self.processes(pids))
        } else {
            scope = command.isEmpty ? .system : .program
        }
        let system = SystemRoot("/")
        let modules = BuiltInModules.all.compactMap { $0 as? any LiveModule }
        guard let module = modules.first else { throw LockstatError("top: no module has a live view") }
        if let reason = module.liveRefusal(system) { throw LockstatError("top: \(reason)") }
        var executable: String?
        if !command.isEmpty {
            executable = Program.resolve(command[0], path: ProcessInfo.processInfo.environment["PATH"])
            guard executable != nil else { throw LockstatError("\(command[0]): command not found", exitCode: 127) }
        }
        ls_signals_install()
        // The first module's view decides whether top runs; the others (user-space locks) join
        // where they can run here, and one that cannot load is said before the screen is set up.
        var sources = [try module.live(system, scope: scope)]
        for other in modules.dropFirst() where other.liveRefusal(system) == nil {
            do {
                sources.append(try other.live(system, scope: scope))
            } catch {
                let why = (error as? LockstatError)?.message ?? "\(error)"
                writeText(2, "lockstat: top: \(other.name) left out: \(why)\n")
            }
        }
        let source = CombinedLiveSource(sources)
        defer { source.stop() }
        let environment = ProcessInfo.processInfo.environment
        let plain =
            isatty(0) == 0 || isatty(1) == 0 || environment["TERM"] == "dumb"
            || !(environment["NO_COLOR"] ?? "").isEmpty
        var view = TopView(source: source, interval: seconds, iterations: iterations, plain: plain, scope: scope)
        if let executable {
            // The program's output would draw over the screen: /dev/null there, stderr in plain mode.
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            defer { close(null) }
            view.child = try Program.spawn(
                executable, arguments: command, inputFD: null, outputFD: plain ? 2 : null
            ) { source.follow($0) }
            ls_signals_set_child(view.child!)
        }
        throw ExitCode(try view.run())
    }

    /// `--pid`'s list: each a process that exists.
    static func processes(_ text: String) throws -> [pid_t] {
        let pids = try text.split(separator: ",", omittingEmptySubsequences: false).map { word in
            guard let pid = pid_t(word), pid > 0 else {
                throw LockstatError.usage("--pid: expected process ids separated by commas, got '\(text)'")
            }
            return pid
        }
        for pid in pids where kill(pid, 0) != 0 && errno != EPERM {
            throw LockstatError("--pid: no process \(pid)")
        }
        return pids
    }
}

/// The refresh loop: waits for the interval's end, a key, a resize, the program's exit or a
/// terminating signal, whichever comes first, without sleeping past any of them.
struct TopView {
    let source: any LiveSource
    let interval: Double
    let iterations: Int?
    let plain: Bool
    let scope: LiveScope
    var child: pid_t?
    var grouping: Character = "c"
    var sort = 0
    var detail = false
    var message = ""

    init(source: any LiveSource, interval: Double, iterations: Int?, plain: Bool, scope: LiveScope) {
        self.source = source
        self.interval = interval
        self.iterations = iterations
        self.plain = plain
        self.scope = scope
        grouping = source.groupings.first?.key ?? "c"
    }

    /// Returns the exit status: the program's when there is one, else 0.
    mutating func run() throws -> Int32 {
        ls_terminal_watch_signals()
        if !plain {
            let r = ls_terminal_enter(0, 1)
            guard r == 0 else { throw LockstatError("top: the terminal cannot be set up (errno \(-r))") }
        }
        defer { ls_terminal_leave() }
        var status: Int32 = 0
        var last = ls_monotonic_ns()
        var due = last + UInt64(interval * 1e9)
        var done = 0
        var table: LiveTable?
        var resizes = ls_terminal_resizes()
        if !plain { draw(nil) }
        while true {
            var ended = false
            if let pid = child, let exited = Self.reap(pid) {
                status = exited
                child = nil
                ended = true
            }
            if case .processes(let pids) = scope, !pids.contains(where: { kill($0, 0) == 0 || errno == EPERM }) {
                ended = true
            }
            let now = ls_monotonic_ns()
            if ended || now >= due {
                source.advance(seconds: Double(now - last) / 1e9)
                last = now
                due = max(due + UInt64(interval * 1e9), now + 1)
                done += 1
                table = source.table(grouping: grouping, sort: sort)
                if plain { writeText(1, LiveScreen.plain(table!, rows: TopCommand.plainRows)) } else { draw(table) }
                if ended || done == iterations { break }
            }
            if ls_signals_first() != 0 { break }
            if !plain, ls_terminal_resizes() != resizes {
                resizes = ls_terminal_resizes()
                draw(table)
            }
            var fds = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0)]
            let wait = Int32(clamping: (due - min(due, ls_monotonic_ns())) / 1_000_000 + 1)
            let ready = poll(&fds, plain ? 0 : 1, wait)
            guard !plain, ready > 0, fds[0].revents & Int16(POLLIN) != 0 else { continue }
            var key: UInt8 = 0
            guard read(0, &key, 1) == 1 else { break }
            if key == UInt8(ascii: "q") || key == 3 { break }
            handle(key)
            if let table { draw(table) }
        }
        if let pid = child {
            // top ended first: the program ends with it, as a run's program ends with a SIGTERM.
            kill(pid, SIGTERM)
            kill(pid, SIGCONT)
            status = Program.exitStatus(fromWaitStatus: ls_wait(pid))
        }
        ls_terminal_leave()
        if plain { writeText(1, source.totalsLine + "\n") }
        return status
    }

    /// The program's exit status once it has ended (nil while it runs).
    static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r == pid else { return nil }
        return Program.exitStatus(fromWaitStatus: status)
    }

    mutating func handle(_ key: UInt8) {
        message = ""
        let character = Character(Unicode.Scalar(key))
        if let g = source.groupings.first(where: { $0.key == character }) {
            if let why = g.unavailable { message = why } else { grouping = g.key }
        } else if character == "s" {
            sort = (sort + 1) % max(1, source.sortKeys.count)
        } else if key == 13 || key == 10 {
            detail.toggle()
        }
    }

    func draw(_ table: LiveTable?) {
        var columns: Int32 = 80
        var rows: Int32 = 24
        _ = ls_terminal_size(1, &columns, &rows)
        let keys = source.groupings.map { String($0.key) }.joined(separator: " ")
        let name = source.groupings.first { $0.key == grouping }?.name ?? ""
        let sortKey = source.sortKeys.isEmpty ? "" : source.sortKeys[sort % source.sortKeys.count]
        let status =
            message.isEmpty
            ? "by \(name) (\(keys)), sorted by \(sortKey) (s), enter: stack, q: quit" : message
        let shown =
            table ?? LiveTable(header: "waiting for the first interval (\(interval) s)", columns: [], rows: [])
        let lines = LiveScreen.lines(shown, status: status, detail: detail, width: Int(columns), height: Int(rows))
        writeText(1, "\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J")
    }
}
