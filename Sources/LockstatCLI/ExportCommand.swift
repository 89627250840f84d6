import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

extension ExportStep.Format: ExpressibleByArgument {}

/// `lockstat export DIR --format pprof|openmetrics|csv`: a finished run for other tools.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a finished run as pprof profiles (\(stackModules)), OpenMetrics text or CSV tables.")

    /// The registry's modules that record call stacks, for the help.
    static let stackModules = BuiltInModules.all.filter { $0.analysisParts.contains(.stacks) }.map(\.name)
        .joined(separator: ", ")

    @Argument(help: "Test directory of an earlier run.") var directory: String

    @Option(
        help: ArgumentHelp(
            "pprof: a .pb.gz per call-stack profile (\(stackModules)); openmetrics: lockstat.om (the totals serve "
                + "would expose); csv: one file per table."))
    var format: ExportStep.Format

    @Option(
        help: ArgumentHelp(
            "Folder to write into (default DIR/export); - writes OpenMetrics to standard output.", valueName: "DIR"))
    var output: String?

    func run() throws {
        let dir = TestDirectory(directory)
        try Privileges.enter(dir)
        let modules = try modules(ofTestDirectory: directory)
        if output == "-" {
            guard format == .openmetrics else {
                throw LockstatError.usage("--output -: only --format openmetrics is text for standard output")
            }
            print(try ExportStep.openMetrics(dir, modules: modules), terminator: "")
            return
        }
        let files = try ExportStep.files(dir, format: format, modules: modules)
        let path = output ?? directory + "/export"
        let out = TestDirectory(path)
        try out.prepareForOutput(kind: "export-" + format.rawValue)
        for file in files { try out.write(file.name, file.bytes) }
        try out.addToManifest(files.map(\.name))
        try Privileges.giveToInvokingUser(out)
        writeText(2, "lockstat: wrote in \(path): " + files.map(\.name).joined(separator: " ") + "\n")
    }
}
