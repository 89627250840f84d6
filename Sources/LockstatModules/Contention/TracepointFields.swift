/// Where lock:contention_begin and contention_end keep their fields when tracefs's format files
/// do not say (include/trace/events/lock.h): after the 8-byte common header (common_type,
/// common_flags, common_preempt_count, common_pid), the `lock_addr` pointer, then begin's
/// `flags` (unsigned int) or end's `ret` (int).
enum TracepointFields {
    static let lockAddress = 8
    static let flags = 16
    static let ret = 16
}
