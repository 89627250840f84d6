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
        /// The module's own check (the one `run` and `lockstat modules` make), for modules; the
        /// checks above it explain, this one decides, so doctor and run cannot disagree.
        public var refusal: String??
        public var canRun: Bool { refusal.map { $0 == nil } ?? checks.allSatisfy(\.ok) }
    }

    public let verdicts: [Verdict]

    /// Every module's verdict; `configured` decides which ones the exit status depends on.
    public init(system: SystemRoot = SystemRoot(), configured: [String], modules: ModuleSet) {
        let probe = SystemProbe(system: system, modules: modules)
        func refusal(_ name: String) -> String?? {
            guard let module = modules.modules.first(where: { $0.name == name }) else { return .none }
            return .some(module.unavailableReason(system))
        }
        func verdict(_ name: String, _ checks: [Check]) -> Verdict {
            var checks = checks
            let decided = refusal(name)
            if case .some(let reason?) = decided, checks.allSatisfy(\.ok) {
                checks.append(Check(name: "module's own check", ok: false, detail: reason))
            }
            return Verdict(module: name, checks: checks, inConfig: configured.contains(name), refusal: decided)
        }
        verdicts = [
            verdict("stat", probe.stat()), verdict("diskstats", probe.diskstats()), verdict("lock_stat", probe.lockStat()),
            verdict("contention", probe.contention()), verdict("oprofile", probe.profiler()),
            Verdict(module: "drop-in modules", checks: probe.dropIns(), inConfig: false, refusal: .none),
        ] + modules.modules.compactMap { $0 as? ScriptModule }.map { m in verdict(m.name, probe.dropIn(m)) }
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
