import LockstatCore

extension ScriptModule {
    /// Can lockstat run this drop-in: is the file safe, is its interpreter there?
    func probe(_ system: SystemRoot) -> [ProbeCheck] {
        var checks = [ProbeCheck]()
        do {
            try ModuleSet.refuseIfOthersMayWrite(file, what: "module \(name)")
            if let reason = Self.notRegular(file) { throw LockstatError("module \(name): refused: \(reason)") }
            checks.append(
                ProbeCheck(name: file, ok: true, detail: kind == .python ? "Python 3 module" : "executable module"))
        } catch let e as LockstatError {
            checks.append(ProbeCheck(name: file, ok: false, detail: "would be refused", fix: e.message))
        } catch {}
        // A file that is no regular file already said why; the interpreter check would only repeat it.
        if Self.notRegular(file) == nil, let reason = unavailableReason(system) {
            checks.append(ProbeCheck(name: "interpreter", ok: false, detail: reason, fix: "apt-get install python3"))
        }
        return checks
    }
}
