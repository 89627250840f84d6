import Foundation
import LockstatCore

/// Drop-in modules: the original's promise, "copy the script to this directory and add the
/// module name to the config file". `module_path DIR...` in the config (relative paths against
/// the config file's folder); by default `modules/` next to the config file, then
/// ~/.config/lockstat/modules (and PREFIX/share/lockstat/modules, where install puts the
/// examples). `NAME.py` is a Python 3 module; an executable `NAME` is any other language.
public struct ModuleSet {
    /// The registry's modules, then the drop-ins.
    public let modules: [any LockstatModule]
    /// The modules of the registry this set was made with.
    public let registered: [any LockstatModule]
    /// The drop-in modules found on the module path, in the order found.
    public var dropIns: [any LockstatModule] { Array(modules.dropFirst(registered.count)) }
    /// The folders searched, absolute, in order.
    public let searched: [String]
    /// Entries of those folders that are not modules (a folder), each said once.
    public let warnings: [String]

    public var catalog: ModuleCatalog {
        var c = ModuleCatalog(modules)
        c.searched = searched
        return c
    }

    /// The registry's modules and the drop-ins on the config's module path. A drop-in file or
    /// folder that others than its owner and root may write is refused (lockstat runs as root).
    public init(
        config: ConfigSource.Located, environment: [String: String],
        registry: [any LockstatModule] = BuiltInModules.all
    ) throws {
        searched = Self.searchPath(config: config, environment: environment)
        registered = registry
        var found = registry
        var named = Set(found.map(\.name))
        var warnings = [String]()
        for dir in searched {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            try Self.refuseIfOthersMayWrite(dir, what: "module folder")
            for entry in entries.sorted() where !entry.hasPrefix(".") {
                let path = dir + "/" + entry
                let name = entry.hasSuffix(".py") ? String(entry.dropLast(3)) : entry
                guard !named.contains(name), !name.isEmpty else { continue }
                guard name != AutomaticModules.word else {
                    warnings.append("\(path): '\(name)' is the config's word for every module that can run; skipped")
                    continue
                }
                // A folder is never a module (python3 makes __pycache__ beside the modules it loads).
                var st = stat()
                if stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR {
                    if entry != "__pycache__" { warnings.append("\(path): a folder, not a module; skipped") }
                    continue
                }
                if entry.hasSuffix(".py") {
                    found.append(ScriptModule(name: name, file: path, kind: .python))
                } else if FileManager.default.isExecutableFile(atPath: path), !entry.contains(".") {
                    found.append(ScriptModule(name: name, file: path, kind: .executable))
                } else {
                    continue
                }
                named.insert(name)
            }
        }
        modules = found
        self.warnings = warnings
    }

    /// The modules a test directory's config snapshot can name: the registry's, and the drop-ins
    /// on its module path. Without the snapshot (a samples.pickle copied alone) the registry's
    /// only: the core's steps say what they need of it (loadModels reads such a pickle with the
    /// default config; parse and export need the snapshot).
    public init(
        testDirectory: String, environment: [String: String],
        registry: [any LockstatModule] = BuiltInModules.all
    ) throws {
        let snapshot = testDirectory + "/lockstat.config"
        if FileReader.check(snapshot) == .missing {
            self.init(registryOnly: registry)
        } else {
            try self.init(config: try .file(snapshot), environment: environment, registry: registry)
        }
    }

    private init(registryOnly registry: [any LockstatModule]) {
        (modules, registered, searched, warnings) = (registry, registry, [], [])
    }

    /// Checks the drop-ins a config names before anything runs.
    public func checkFiles(of names: [String]) throws {
        for case let m as ScriptModule in modules where names.contains(m.name) {
            try Self.refuseIfOthersMayWrite(m.file, what: "module \(m.name)")
            if let reason = ScriptModule.notRegular(m.file) ?? TrustedCode.refusal(m.file) {
                throw LockstatError.usage("module \(m.name): refused: \(reason)")
            }
        }
    }

    static func searchPath(config: ConfigSource.Located, environment: [String: String]) -> [String] {
        if let given = ModuleCatalog.modulePath(in: config.text) {
            return given.map { $0.hasPrefix("/") ? $0 : (config.directory ?? FileReader.currentDirectory) + "/" + $0 }
        }
        var paths = [String]()
        if let dir = config.directory { paths.append(dir + "/modules") }
        if let home = environment["HOME"], !home.isEmpty { paths.append(home + "/.config/lockstat/modules") }
        if let prefix = ConfigSource.installPrefix { paths.append(prefix + "/share/lockstat/modules") }
        return paths
    }

    static func refuseIfOthersMayWrite(_ path: String, what: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        if let mode = OthersMayWrite.mode(st) {
            throw LockstatError.usage(
                "\(path): refusing \(what): mode \(mode) lets users other than its owner and root change what lockstat (often root) runs; chmod go-w \(path)"
            )
        }
    }
}
