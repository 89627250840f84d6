import ArgumentParser
import Foundation
import LockstatCore

/// Runs a command type as the process's main, with lockstat's exit statuses: usage and config
/// errors 2, `lockstat: message` for errors a user can act on, the program's own status for runs.
public enum Entry {
    public static func main(_ command: ParsableCommand.Type, arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        do {
            var parsed = try command.parseAsRoot(arguments)
            try parsed.run()
            exit(0)
        } catch let error as LockstatError {
            FileHandle.standardError.write(Data("lockstat: \(error.message)\n".utf8))
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
            FileHandle.standardError.write(Data((message + "\n").utf8))
            exit(2)
        }
    }
}



