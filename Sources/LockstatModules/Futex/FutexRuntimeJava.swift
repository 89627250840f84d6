/// Kinds of the waits of a HotSpot JVM (OpenJDK), told from libjvm's frames (its .symtab names
/// them) and, where a perf map names JIT-compiled code, from java.util.concurrent's methods.
extension FutexKind {
    /// `frames` lowercased, innermost first.
    /// - A `synchronized` block waits in ObjectMonitor::enter/EnterI (and ReenterI, taking the
    ///   monitor back after Object.wait()) on its own park event's condition variable: `monitor`.
    /// - Object.wait() sleeps in ObjectMonitor::wait: a condition variable's wait.
    /// - LockSupport.park (Unsafe_Park, Parker::park) is how a ReentrantLock waits, but also
    ///   Condition.await, idle pool threads and futures: `park`, unless a named Java frame tells
    ///   which (`javaParkKind`).
    static func javaKind(_ frames: [String]) -> FutexKind? {
        for (i, n) in frames.enumerated() {
            if n.hasPrefix("objectmonitor::enter") || n.hasPrefix("objectmonitor::reenteri") { return .monitor }
            if n.hasPrefix("objectmonitor::wait(") { return .condvar }
            if n == "unsafe_park" || n.hasPrefix("parker::park(") { return javaParkKind(frames[(i + 1)...]) }
        }
        return nil
    }

    /// The innermost Java frame of java.util.concurrent that says what a park waits for (names as
    /// a perf map writes them: `void java.util.concurrent.locks.ReentrantLock.lock()`); else `park`.
    /// JIT inlining often leaves none of them a frame of its own.
    static func javaParkKind(_ callers: ArraySlice<String>) -> FutexKind {
        let rules: [(String, FutexKind)] = [
            ("java.util.concurrent.locks.abstractqueuedsynchronizer$conditionobject.await", .condvar),
            ("java.util.concurrent.locks.reentrantreadwritelock", .rwlock),
            ("java.util.concurrent.locks.reentrantlock", .mutex),
            ("java.util.concurrent.semaphore.", .semaphore),
        ]
        for n in callers {
            if let rule = rules.first(where: { n.contains($0.0) }) { return rule.1 }
        }
        return .park
    }
}
