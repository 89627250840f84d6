import Glibc

/// Finds the config in effect: `--config FILE`, else `$LOCKSTAT_CONFIG`, else the built-in default.
public enum ConfigSource {
    public static func load(explicit: String?, environment: [String: String], catalog: ModuleCatalog) throws -> (Config, origin: String) {
        let path = explicit ?? environment["LOCKSTAT_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        guard let path else {
            return (try ConfigParser.parse(ConfigParser.defaultText, file: "<built-in default>", catalog: catalog), "built-in default")
        }
        switch FileReader.readText(path) {
        case .success(let text): return (try ConfigParser.parse(text, file: path, catalog: catalog), path)
        case .failure(let f): throw LockstatError.usage("\(path): cannot read config: \(f.reason)")
        }
    }
}
