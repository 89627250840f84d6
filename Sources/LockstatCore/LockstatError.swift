/// An error a user can act on: one line, and the exit status lockstat ends with.
public struct LockstatError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    /// Usage and config errors exit with 2, as the command line contract says.
    public static func usage(_ message: String) -> LockstatError { LockstatError(message, exitCode: 2) }

    public var description: String { message }
}
