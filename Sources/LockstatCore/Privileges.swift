import CLockstat
import Foundation
import Glibc
import SystemPackage

/// Who asked for this run: under sudo (real uid root, SUDO_UID/SUDO_GID set) the user who ran
/// sudo, else the real user.
public struct InvokingUser: Equatable, Sendable {
    public let uid: uid_t
    public let gid: gid_t

    public static var current: InvokingUser {
        let env = ProcessInfo.processInfo.environment
        if getuid() == 0, let uid = env["SUDO_UID"].flatMap(UInt32.init), let gid = env["SUDO_GID"].flatMap(UInt32.init)
        {
            return InvokingUser(uid: uid, gid: gid)
        }
        return InvokingUser(uid: getuid(), gid: getgid())
    }
}

/// Nothing runs as root that does not need root: only sampling does. Reading a test directory
/// (its config, its drop-ins' code, its pickle) happens with the privileges of whoever owns it,
/// so whatever was planted there can do no more than its author could do anyway.
public enum Privileges {
    /// For `parse`, `graph` and `report`: opens DIR and, as root, becomes its owner when that is
    /// not root. A root-owned DIR that others may write into is refused.
    public static func enter(_ dir: TestDirectory) throws {
        try dir.open(create: false)
        guard geteuid() == 0 else { return }
        let owner = try dir.owner()
        if owner.uid != 0 {
            try become(owner.uid, group(of: owner))
        } else {
            try dir.refuseOthersWriting()
        }
    }

    /// At the end of sampling in `run`: a DIR of the invoking user's gets the files this run made
    /// and the rest (parse, plot) runs as that user. A DIR of root's stays root's until the end.
    public static func handOver(_ dir: TestDirectory) throws {
        guard geteuid() == 0 else { return }
        let owner = try dir.owner()
        guard owner.uid != 0 else { return }
        let gid = group(of: owner)
        try dir.giveCreatedFiles(to: owner.uid, gid)
        try become(owner.uid, gid)
    }

    /// After a run as root under sudo: what this run created becomes the invoking user's
    /// (the original's chown -R, now only of our own files).
    public static func giveToInvokingUser(_ dir: TestDirectory) throws {
        let invoker = InvokingUser.current
        guard geteuid() == 0, invoker.uid != 0 else { return }
        try dir.giveCreatedFiles(to: invoker.uid, invoker.gid)
    }

    static func group(of owner: (uid: uid_t, gid: gid_t)) -> gid_t {
        let invoker = InvokingUser.current
        if invoker.uid == owner.uid { return invoker.gid }
        if let entry = getpwuid(owner.uid) { return entry.pointee.pw_gid }
        return owner.gid
    }

    static func become(_ uid: uid_t, _ gid: gid_t) throws {
        let rc = ls_become(uid, gid)
        guard rc == 0 else {
            throw LockstatError(
                "cannot drop root privileges to uid \(uid): \(SystemPackage.Errno(rawValue: -rc).description)")
        }
    }
}

/// Files and folders users other than the owner (and root) may change: group- or world-writable.
public enum OthersMayWrite {
    /// The permission bits, in octal as chmod takes them, when others may write; else nil.
    public static func mode(_ st: stat) -> String? {
        st.st_mode & (S_IWGRP | S_IWOTH) != 0 ? String(st.st_mode & 0o7777, radix: 8) : nil
    }
}

/// Code that runs with root privileges must be root's: the file and every folder above it owned
/// by root and writable by no one else (sshd's StrictModes rule; a sticky folder such as /tmp
/// may be writable by all, since only an entry's owner may then rename it).
public enum TrustedCode {
    /// nil when `path` may run as this process (always, when not root), else why not.
    public static func refusal(_ path: String) -> String? {
        guard geteuid() == 0 else { return nil }
        var chains = [path]
        if let real = realpath(path, nil) {
            chains.append(String(cString: real))
            free(real)
        }
        for start in chains {
            var current = start.hasPrefix("/") ? start : FileReader.currentDirectory + "/" + start
            var isFile = true
            while true {
                var st = stat()
                guard lstat(current, &st) == 0 else {
                    return "\(current): \(SystemPackage.Errno(rawValue: errno).description)"
                }
                let isLink = st.st_mode & S_IFMT == S_IFLNK
                if st.st_uid != 0 {
                    return
                        "\(current) belongs to uid \(st.st_uid): code lockstat runs as root must be root's (chown root \(current))"
                }
                let sticky = st.st_mode & S_ISVTX != 0 && !isFile
                if let mode = OthersMayWrite.mode(st), !sticky && !isLink {
                    return
                        "\(current) is writable by others (mode \(mode)): code lockstat runs as root must be writable by root only (chmod go-w \(current))"
                }
                if current == "/" || current.isEmpty { break }
                current = TestDirectory.parent(of: current)
                if current.isEmpty || current == "." { current = "/" }
                isFile = false
            }
        }
        return nil
    }
}
