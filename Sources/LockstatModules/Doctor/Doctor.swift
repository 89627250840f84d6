import Foundation
import LockstatCore

/// `lockstat doctor`: module by module, whether it can run here, and if not, what to change.
public struct Doctor {
    public typealias Check = ProbeCheck

    public struct Verdict {
        public var module: String
        public var checks: [Check]
        public var inConfig: Bool
        /// The module's own check (the one `run` and `lockstat modules` make), for modules; the
        /// checks above it explain, this one decides, so doctor and run cannot disagree.
        public var refusal: String??
        /// Whether `modules auto` samples it here (nil: not a module), else why not, in the
        /// words run prints (`automaticRefusal`).
        public var automatic: String??
        public var canRun: Bool { refusal.map { $0 == nil } ?? checks.allSatisfy(\.ok) }
    }

    public let verdicts: [Verdict]

    /// Every module's verdict, the registry's then the drop-ins'; the config's modules (those
    /// `modules auto` chooses, when it says so) decide which ones the exit status depends on.
    public init(system: SystemRoot = SystemRoot(), config: Config, modules: ModuleSet) {
        let configured = AutomaticModules.resolve(config, modules: modules.modules, system: system).config.modules
        func verdict(_ module: any LockstatModule) -> Verdict {
            var checks = module.probe(system)
            let decided = module.unavailableReason(system)
            if let reason = decided, checks.allSatisfy(\.ok) {
                checks.append(Check(name: "module's own check", ok: false, detail: reason))
            }
            return Verdict(
                module: module.name, checks: checks, inConfig: configured.contains(module.name),
                refusal: .some(decided), automatic: .some(module.automaticRefusal(config, system)))
        }
        verdicts =
            modules.registered.map(verdict)
            + [
                Verdict(
                    module: "drop-in modules", checks: Self.dropInChecks(modules), inConfig: false, refusal: .none,
                    automatic: .none)
            ]
            + modules.dropIns.map(verdict)
    }

    /// What every drop-in needs: python3 for `.py` modules, and the folders searched.
    static func dropInChecks(_ modules: ModuleSet) -> [Check] {
        let python = Program.resolve("python3", path: ProcessInfo.processInfo.environment["PATH"])
        var version = "not found"
        if let python, let out = try? SystemFacts.run(python, ["--version"]) {
            version = out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return [
            Check(
                name: "python3", ok: python != nil, detail: python.map { "\(version) at \($0)" } ?? "not found on PATH",
                fix: "apt-get install python3"),
            Check(name: "module path", ok: true, detail: modules.searched.joined(separator: ", ")),
        ]
    }

    /// Everything the effective config asks for can run.
    public var ok: Bool { verdicts.allSatisfy { !$0.inConfig || $0.canRun } }

    public var text: String {
        var lines = [String]()
        for v in verdicts {
            let mark = v.canRun ? "ok" : (v.inConfig ? "NO" : "no")
            lines.append(
                "\(v.module.padding(toLength: 16, withPad: " ", startingAt: 0))\(mark)\(v.inConfig ? "  (in the config)" : "")"
            )
            for c in v.checks {
                lines.append("    \(c.ok ? "✓" : "✗") \(c.name): \(c.detail)")
                if let fix = c.fix, !c.ok { lines.append("      → \(fix)") }
            }
            if case .some(let refusal) = v.automatic {
                lines.append(
                    "    modules \(AutomaticModules.word): " + (refusal.map { "left out: " + $0 } ?? "runs it"))
            }
        }
        lines.append(ok ? "everything in the config can run here" : "some modules in the config cannot run here")
        return lines.joined(separator: "\n") + "\n"
    }

    public var json: String {
        JSON.encode(
            .stringDict([
                ("ok", .bool(ok)),
                (
                    "modules",
                    .list(
                        verdicts.map { v in
                            .stringDict([
                                ("module", .string(v.module)), ("can_run", .bool(v.canRun)),
                                ("in_config", .bool(v.inConfig)),
                                ("auto", v.automatic.map { .bool($0 == nil) } ?? .none),
                                ("auto_left_out", v.automatic.flatMap { $0 }.map(PyValue.string) ?? .none),
                                (
                                    "checks",
                                    .list(
                                        v.checks.map { c in
                                            .stringDict([
                                                ("check", .string(c.name)), ("ok", .bool(c.ok)),
                                                ("detail", .string(c.detail)),
                                                ("fix", c.fix.map(PyValue.string) ?? .none),
                                            ])
                                        })
                                ),
                            ])
                        })
                ),
            ]))
    }
}
