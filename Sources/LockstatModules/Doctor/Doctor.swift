import Foundation
import LockstatCore

/// `lockstat doctor`: module by module, whether it can run here, and if not, what to change.
public struct Doctor {
    public struct Check {
        public var name: String
        public var ok: Bool
        public var detail: String
        /// What to change, when not ok.
        public var fix: String?
    }

    public struct Verdict {
        public var module: String
        public var checks: [Check]
        public var inConfig: Bool
        public var canRun: Bool { checks.allSatisfy(\.ok) }
    }

    public let verdicts: [Verdict]

    /// Every module's verdict; `configured` decides which ones the exit status depends on.
    public init(system: SystemRoot = SystemRoot(), configured: [String], modules: ModuleSet) {
        let probe = SystemProbe(system: system, modules: modules)
        verdicts = [
            ("stat", probe.stat()), ("diskstats", probe.diskstats()), ("lock_stat", probe.lockStat()),
            ("contention", probe.contention()), ("oprofile", probe.profiler()), ("drop-in modules", probe.dropIns()),
        ].map { Verdict(module: $0.0, checks: $0.1, inConfig: configured.contains($0.0)) }
            + modules.modules.compactMap { $0 as? ScriptModule }.map { m in
                Verdict(module: m.name, checks: probe.dropIn(m), inConfig: configured.contains(m.name))
            }
    }

    /// Everything the effective config asks for can run.
    public var ok: Bool { verdicts.allSatisfy { !$0.inConfig || $0.canRun } }

    public var text: String {
        var lines = [String]()
        for v in verdicts {
            let mark = v.canRun ? "ok" : (v.inConfig ? "NO" : "no")
            lines.append("\(v.module.padding(toLength: 16, withPad: " ", startingAt: 0))\(mark)\(v.inConfig ? "  (in the config)" : "")")
            for c in v.checks {
                lines.append("    \(c.ok ? "✓" : "✗") \(c.name): \(c.detail)")
                if let fix = c.fix, !c.ok { lines.append("      → \(fix)") }
            }
        }
        lines.append(ok ? "everything in the config can run here" : "some modules in the config cannot run here")
        return lines.joined(separator: "\n") + "\n"
    }

    public var json: String {
        JSON.encode(.stringDict([
            ("ok", .bool(ok)),
            ("modules", .list(verdicts.map { v in
                .stringDict([
                    ("module", .string(v.module)), ("can_run", .bool(v.canRun)), ("in_config", .bool(v.inConfig)),
                    ("checks", .list(v.checks.map { c in
                        .stringDict([("check", .string(c.name)), ("ok", .bool(c.ok)), ("detail", .string(c.detail)),
                                     ("fix", c.fix.map(PyValue.string) ?? .none)])
                    })),
                ])
            })),
        ]))
    }
}
