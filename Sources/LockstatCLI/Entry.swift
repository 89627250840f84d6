import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

/// Runs a command type as the process's main, with lockstat's exit statuses: usage and config
/// errors 2, `lockstat: message` for errors a user can act on, the program's own status for runs.
public enum Entry {
    public static func main(_ command: ParsableCommand.Type, arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        // A reader that went away (a drop-in's python3 that exited, a closed pipe on stdout) is
        // an EPIPE to handle where it happens, never the end of lockstat and of its restores.
        signal(SIGPIPE, SIG_IGN)
        do {
            var parsed = try command.parseAsRoot(arguments)
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
            if code == .success {
                print(message)
                exit(0)
            }
            writeText(2, message + "\n")
            exit(2)
        }
    }
}

/// The config in effect and every module it can name: built in, and drop-ins on its module path.
func loadConfig(explicit: String?) throws -> (config: Config, modules: ModuleSet, origin: String) {
    let environment = ProcessInfo.processInfo.environment
    let located = try ConfigSource.locate(explicit: explicit, environment: environment)
    for warning in ConfigParser.warnings(located.text, file: located.file) { writeText(2, "lockstat: warning: \(warning)\n") }
    let modules = try ModuleSet(config: located, environment: environment)
    for warning in modules.warnings { writeText(2, "lockstat: warning: \(warning)\n") }
    var config = try ConfigParser.parse(located.text, file: located.file, catalog: modules.catalog)
    // Absolute, so the snapshot in the test directory finds the same drop-ins again.
    config.globals["module_path"] = modules.searched
    return (config, modules, located.origin)
}

/// The modules a test directory's config snapshot names, for parse, graph and report.
func modules(ofTestDirectory directory: String) throws -> [any LockstatModule] {
    let located = try ConfigSource.Located.file(directory + "/lockstat.config")
    return try ModuleSet(config: located, environment: ProcessInfo.processInfo.environment).modules
}
