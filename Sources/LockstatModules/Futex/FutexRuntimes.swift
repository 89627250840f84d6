/// Kinds told from the frames of runtimes whose locks sleep in futex waits of their own or
/// behind glibc's: `FutexKind.classify` asks these rules before glibc's.
extension FutexKind {
    /// `frames` lowercased, innermost first.
    /// - Rust's std::sync::Mutex (futex-based since Rust 1.62) sleeps in `<std's futex
    ///   module>::Mutex::lock_contended`: its own word, no glibc mutex. The module path differs
    ///   between releases and the name may be v0-mangled (`…5futexNtB2_5Mutex14lock_contended`)
    ///   or demangled: the two words name it in every form.
    /// - CPython's `take_gil` waits on the GIL's condition variable and mutex, `drop_gil` on the
    ///   mutex and (forced switching) until another thread took the GIL: a wait anywhere inside
    ///   them is time lost to the GIL, whatever glibc function it sleeps in. Named only where
    ///   the interpreter's symbols name its static functions.
    static func runtimeKind(_ frames: [String]) -> FutexKind? {
        if let kind = goKind(frames) { return kind }
        if let kind = javaKind(frames) { return kind }
        for n in frames {
            if n.contains("mutex") && n.contains("lock_contended") { return .mutex }
            if ["take_gil", "drop_gil"].contains(where: { n == $0 || n.hasPrefix($0 + ".") }) { return .gil }
        }
        return nil
    }
}
