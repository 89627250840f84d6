import Glibc

/// Finds the config in effect, first match wins: `--config FILE`, `$LOCKSTAT_CONFIG`,
/// `~/.config/lockstat/lockstat.config`, `PREFIX/etc/lockstat/lockstat.config` (PREFIX: where
/// the running lockstat is installed), else the built-in default.
public enum ConfigSource {
    /// A config's text and where it came from.
    public struct Located {
        public let text: String
        /// The file name errors name ("<built-in default>" for the default).
        public let file: String
        public let origin: String
        /// The folder of the config file (relative module paths resolve against it); nil for the default.
        public let directory: String?

        public init(text: String, file: String, origin: String, directory: String?) {
            self.text = text
            self.file = file
            self.origin = origin
            self.directory = directory
        }

        public static func file(_ path: String) throws -> Located {
            switch FileReader.readText(path, limit: ConfigParser.maxFileBytes) {
            case .success(let text):
                let absolute = path.hasPrefix("/") ? path : FileReader.currentDirectory + "/" + path
                return Located(
                    text: text, file: path, origin: path, directory: String(absolute[..<absolute.lastIndex(of: "/")!]))
            case .failure(let f): throw LockstatError.usage("\(path): cannot read config: \(f.reason)")
            }
        }
    }

    /// `catalog`: the registry's modules, whose default config is used when no file is found.
    public static func locate(
        explicit: String?, environment: [String: String],
        catalog: ModuleCatalog
    ) throws -> Located {
        if let path = explicit ?? environment["LOCKSTAT_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return try .file(path)
        }
        // A file that exists is used (and an unreadable one is an error); one this user cannot
        // even see (another user's HOME under setpriv or su) is not there for them.
        for path in searchPath(environment: environment) where exists(path) {
            return try .file(path)
        }
        return Located(
            text: ConfigParser.defaultText(catalog), file: "<built-in default>", origin: "built-in default",
            directory: nil)
    }

    public static func load(
        explicit: String?, environment: [String: String], catalog: ModuleCatalog
    ) throws -> (Config, origin: String) {
        let located = try locate(explicit: explicit, environment: environment, catalog: catalog)
        return (try ConfigParser.parse(located.text, file: located.file, catalog: catalog), located.origin)
    }

    /// The files looked for when neither --config nor $LOCKSTAT_CONFIG names one.
    public static func searchPath(environment: [String: String]) -> [String] {
        var paths = [String]()
        if let home = environment["HOME"], !home.isEmpty { paths.append(home + "/.config/lockstat/lockstat.config") }
        if let prefix = installPrefix { paths.append(prefix + "/etc/lockstat/lockstat.config") }
        return paths
    }

    /// PREFIX of the running executable (PREFIX/bin/lockstat), through symlinks.
    public static var installPrefix: String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let parts = exe.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[parts.count - 2] == "bin" else { return nil }
        return parts.dropLast(2).joined(separator: "/")
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

}
