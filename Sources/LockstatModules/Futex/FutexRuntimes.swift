/// Kinds told from the frames of runtimes whose locks sleep in futex waits of their own, without
/// glibc's synchronisation functions: `FutexKind.classify` asks these rules first for each frame.
extension FutexKind {
    /// `name` lowercased. Rust's std::sync::Mutex (futex-based since Rust 1.62) sleeps in
    /// `<std's futex module>::Mutex::lock_contended`: its own word, no glibc mutex. The module
    /// path differs between releases and the name may be v0-mangled
    /// (`…5futexNtB2_5Mutex14lock_contended`) or demangled: the two words name it in every form.
    static func runtimeKind(frame name: String) -> FutexKind? {
        if name.contains("mutex") && name.contains("lock_contended") { return .mutex }
        return nil
    }
}
