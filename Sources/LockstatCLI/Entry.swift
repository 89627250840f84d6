import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

/// Runs a command type as the process's main, with lockstat's exit statuses: usage and config
/// errors 2, `lockstat: message` for errors a user can act on, the program's own status for runs.
public enum Entry {
    public static func main(
        _ command: ParsableCommand.Type, arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) -> Never {
        // A reader that went away (a drop-in's python3 that exited, a closed pipe on stdout) is
        // an EPIPE to handle where it happens, never the end of lockstat and of its restores.
        signal(SIGPIPE, SIG_IGN)
        do {
            var parsed = try parse(command, arguments)
            try parsed.run()
            exit(0)
        } catch let error as LockstatError {
            writeText(2, "lockstat: \(error.message)\n")
            exit(error.exitCode)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            let code = command.exitCode(for: error)
            let message = command.fullMessage(for: error)
            if let option = misplacedOption(message) {
                writeText(2, "lockstat: \(option) goes before the test directory: options, then DIRECTORY PROGRAM [ARGS...]\n")
                exit(2)
            }
            if code == .success {
                print(message)
                exit(0)
            }
            writeText(2, message + "\n")
            exit(2)
        }
    }

    /// A known option after the test directory: ArgumentParser says "Unknown option '--x'. Did you
    /// mean '--x'?", which names the right option as wrong. The option, if that is the message.
    static func misplacedOption(_ message: String) -> String? {
        guard let m = message.firstMatch(of: #/Unknown option '(-[^']+)'\. Did you mean '([^']+)'\?/#),
            m.1 == m.2
        else { return nil }
        return String(m.1)
    }

    /// ArgumentParser takes a passthrough argument's elements out of its list one at a time, each
    /// removal moving all the rest: time quadratic in the program's arguments. So the command line
    /// up to PROGRAM (the shortest head that parses) is parsed alone and the rest appended as is.
    static func parse(_ command: ParsableCommand.Type, _ arguments: [String]) throws -> ParsableCommand {
        for end in stride(from: 1, to: min(arguments.count, maxHead), by: 1) {
            guard let head = try? command.parseAsRoot(Array(arguments[..<end])) else { continue }
            guard var run = head as? any PassesProgramArguments, run.programArguments.isEmpty,
                run.program == arguments[end - 1]
            else { break }
            run.programArguments = Array(arguments[end...])
            return run
        }
        return try command.parseAsRoot(arguments)
    }

    /// Longer than any command line before PROGRAM (options, their values, DIR).
    static let maxHead = 64
}

/// A command that ends in `PROGRAM ARGS...`, everything after PROGRAM the program's own.
protocol PassesProgramArguments: ParsableCommand {
    var program: String { get }
    var programArguments: [String] { get set }
}

/// The config in effect and every module it can name: built in, and drop-ins on its module path.
func loadConfig(explicit: String?) throws -> (config: Config, modules: ModuleSet, origin: String) {
    let environment = ProcessInfo.processInfo.environment
    let located = try ConfigSource.locate(explicit: explicit, environment: environment, catalog: BuiltInModules.catalog)
    for warning in try ConfigParser.warnings(located.text, file: located.file, catalog: BuiltInModules.catalog) {
        writeText(2, "lockstat: warning: \(warning)\n")
    }
    let modules = try ModuleSet(config: located, environment: environment)
    for warning in modules.warnings { writeText(2, "lockstat: warning: \(warning)\n") }
    var config = try ConfigParser.parse(located.text, file: located.file, catalog: modules.catalog)
    // Absolute, so the snapshot in the test directory finds the same drop-ins again.
    config.globals["module_path"] = modules.searched
    return (config, modules, located.origin)
}

/// The modules a test directory's config snapshot can name, for parse, graph, report and export.
func modules(ofTestDirectory directory: String) throws -> [any LockstatModule] {
    try ModuleSet(testDirectory: directory, environment: ProcessInfo.processInfo.environment).modules
}
