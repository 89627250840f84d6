/// Go's runtime calls the futex system call itself (runtime.futex, no libc), for two things only
/// (runtime/lock_futex.go): the runtime's internal mutex and its one-shot notes.
extension FutexKind {
    /// `frames` lowercased, innermost first; the innermost frame naming one of these decides.
    /// - runtime.lock2 sleeps on a runtime-internal `mutex` (sched.lock, a semaphore table's
    ///   lock, a channel's lock): a holder keeps it from running, contention.
    /// - runtime.notesleep, notetsleep and notetsleepg (and notetsleep_internal under them)
    ///   wait on a note: an M with no goroutine to run parked (stopm, mPark), sysmon between
    ///   checks, a timer or signal thread: `idle`, no lock held by anyone. Called from
    ///   stopTheWorldWithSema or forEachP, the note is the world stop's wait for every P to
    ///   stop or pass a safe point: a `barrier`.
    /// sync.Mutex, RWMutex and channel waits park the goroutine in the scheduler (gopark), no
    /// futex per wait: at most the M left with nothing to run sleeps here, as `idle`.
    static func goKind(_ frames: [String]) -> FutexKind? {
        let notes = ["runtime.notesleep", "runtime.notetsleep", "runtime.notetsleepg", "runtime.notetsleep_internal"]
        for (i, n) in frames.enumerated() {
            if isGoFunction(n, "runtime.lock2") { return .mutex }
            if notes.contains(where: { isGoFunction(n, $0) }) {
                let caller = frames[(i + 1)...].first { f in !notes.contains { isGoFunction(f, $0) } } ?? ""
                let worldStop = ["runtime.stoptheworldwithsema", "runtime.foreachp"]
                return worldStop.contains { isGoFunction(caller, $0) } ? .barrier : .idle
            }
        }
        return nil
    }

    /// Whether `frame` is the Go function `name`, or an ABI wrapper (`.abi0`) or closure of it.
    private static func isGoFunction(_ frame: String, _ name: String) -> Bool {
        frame == name || frame.hasPrefix(name + ".")
    }
}

extension FutexAnalysis {
    /// Go's runtime functions that make its futex calls for a runtime mutex or a note
    /// (runtime/lock_futex.go), as libc's do for C: a call site is the frame that called them
    /// (runtime.semrelease1, runtime.stopm, runtime.sysmon; runtime.startm as a waker), not
    /// runtime.futex, which every Go wait and wake passes through.
    static func isGoRuntimeFutexFrame(_ symbol: String) -> Bool {
        let name = symbol.hasSuffix(".abi0") ? String(symbol.dropLast(5)) : symbol
        return goRuntimeFutexFunctions.contains(name)
    }

    private static let goRuntimeFutexFunctions: Set<String> = [
        "runtime.futex", "runtime.futexsleep", "runtime.futexwakeup", "runtime.lock", "runtime.lockWithRank",
        "runtime.lock2", "runtime.unlock", "runtime.unlockWithRank", "runtime.unlock2", "runtime.notesleep",
        "runtime.notetsleep", "runtime.notetsleep_internal", "runtime.notetsleepg", "runtime.notewakeup",
    ]
}
