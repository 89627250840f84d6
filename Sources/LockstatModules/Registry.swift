import LockstatCore

/// Every built-in module, in the order `lockstat modules` lists them.
public enum BuiltInModules {
    public static let all: [any LockstatModule] = [StatModule(), DiskstatsModule(), LockStatModule(), ContentionModule(), ProfileModule()]
}
