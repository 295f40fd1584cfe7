//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`),
//! rendered for the capabilities the container actually gets, as moby's
//! `seccomp.setupSeccomp` does: a syscall group gated on a cap is allowed
//! only when that cap is granted, and the `clone` namespace-flag filter and
//! `clone3 → ENOSYS` apply only without `CAP_SYS_ADMIN`.
//!
//! Everything in the profile is expressed, including the argument filters
//! (`socket` without `AF_VSOCK`, the five allowed `personality` values, the
//! s390 `clone` argument order) and the per-arch extras for the arch we are
//! built for. The `minKernel: 4.8` gate on `ptrace` is treated as met: Ferry
//! needs `openat2` (Linux 5.6) anyway. Unknown names for an old libseccomp are
//! skipped by runc with a warning, as for Docker.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator,
    LinuxSyscall,
};

use super::caps::default_capabilities;

/// `CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET`: `clone` is
/// allowed only with none of these set unless `CAP_SYS_ADMIN` is granted.
const CLONE_NS_FLAGS: u64 = 0x7E02_0000;

/// Syscalls every container may make.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "add_key", "adjtimex", "alarm", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
    "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "ipc", "keyctl", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv",
    "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
    "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read",
    "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
    "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "removexattrat", "rename",
    "renameat", "renameat2", "request_key", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
    "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
    "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
    "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
    "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
    "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
    "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
    "wait4", "waitid", "waitpid", "write", "writev",
    // Gated on kernel >= 4.8 in the profile; always true for Ferry.
    "process_vm_readv", "process_vm_writev", "ptrace",
];

/// Syscall groups allowed only when the named capability is granted.
#[rustfmt::skip]
const CAP_GATED: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_ADMIN", &[
        "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
        "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
        "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
        "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
    ]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &[
        "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace",
    ]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The profile for Docker's default capability set.
pub fn default_seccomp() -> LinuxSeccomp {
    seccomp_for_caps(&default_capabilities())
}

/// The profile for a container granted `caps` (`CAP_X` names).
pub fn seccomp_for_caps(caps: &[String]) -> LinuxSeccomp {
    let has = |cap: &str| caps.iter().any(|c| c == cap);
    let mut syscalls = vec![allow(ALLOWED)];
    syscalls.push(allow_if(
        &["socket"],
        0,
        40,
        LinuxSeccompOperator::ScmpCmpNe,
    ));
    for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(allow_if(
            &["personality"],
            0,
            persona,
            LinuxSeccompOperator::ScmpCmpEq,
        ));
    }
    syscalls.extend(arch_extras().into_iter().map(allow));
    for (cap, names) in CAP_GATED {
        if has(cap) {
            syscalls.push(allow(names));
        }
    }
    if !has("CAP_SYS_ADMIN") {
        let clone_flags_arg = if cfg!(target_arch = "s390x") { 1 } else { 0 };
        let masked = LinuxSeccompOperator::ScmpCmpMaskedEq;
        syscalls.push(allow_if(
            &["clone"],
            clone_flags_arg,
            CLONE_NS_FLAGS,
            masked,
        ));
        syscalls.push(errno(&["clone3"], libc::ENOSYS as u32));
    }
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(libc::EPERM as u32));
    profile.set_architectures(architectures());
    profile.set_syscalls(Some(syscalls));
    profile
}

/// The profile's `archMap` entry for the arch we run on.
fn architectures() -> Option<Vec<Arch>> {
    if cfg!(target_arch = "x86_64") {
        Some(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32,
        ])
    } else if cfg!(target_arch = "aarch64") {
        Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm])
    } else if cfg!(target_arch = "s390x") {
        Some(vec![Arch::ScmpArchS390x, Arch::ScmpArchS390])
    } else if cfg!(target_arch = "riscv64") {
        Some(vec![Arch::ScmpArchRiscv64])
    } else {
        None
    }
}

/// The profile's `includes.arches` groups that match the arch we run on.
fn arch_extras() -> Vec<&'static [&'static str]> {
    if cfg!(target_arch = "x86_64") {
        vec![&["arch_prctl", "modify_ldt"]]
    } else if cfg!(any(target_arch = "aarch64", target_arch = "arm")) {
        vec![&[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ]]
    } else if cfg!(target_arch = "s390x") {
        vec![&[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ]]
    } else if cfg!(target_arch = "riscv64") {
        vec![&["riscv_flush_icache"]]
    } else if cfg!(target_arch = "powerpc64") {
        vec![&["sync_file_range2", "swapcontext"]]
    } else {
        Vec::new()
    }
}

fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut syscall = LinuxSyscall::default();
    syscall.set_names(names.iter().map(|n| (*n).to_owned()).collect());
    syscall.set_action(action);
    syscall
}

fn allow(names: &[&str]) -> LinuxSyscall {
    rule(names, LinuxSeccompAction::ScmpActAllow)
}

fn errno(names: &[&str], errno: u32) -> LinuxSyscall {
    let mut syscall = rule(names, LinuxSeccompAction::ScmpActErrno);
    syscall.set_errno_ret(Some(errno));
    syscall
}

/// Allow `names` when argument `index` compares true against `value` (for
/// `MASKED_EQ`, `value` is the mask and the expected result is 0).
fn allow_if(names: &[&str], index: usize, value: u64, op: LinuxSeccompOperator) -> LinuxSyscall {
    let arg = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op)
        .build()
        .expect("every LinuxSeccompArg field has a default");
    let mut syscall = allow(names);
    syscall.set_args(Some(vec![arg]));
    syscall
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed_unconditionally(profile: &LinuxSeccomp, name: &str) -> bool {
        profile.syscalls().iter().flatten().any(|s| {
            s.action() == LinuxSeccompAction::ScmpActAllow
                && s.args().is_none()
                && s.names().iter().any(|n| n == name)
        })
    }

    #[test]
    fn default_profile_denies_with_eperm() {
        let profile = default_seccomp();
        assert_eq!(profile.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(profile.default_errno_ret(), Some(1));
        assert!(allowed_unconditionally(&profile, "read"));
        assert!(
            allowed_unconditionally(&profile, "chroot"),
            "CAP_SYS_CHROOT is a default"
        );
        for denied in ["mount", "unshare", "setns", "reboot", "clone3", "bpf"] {
            assert!(!allowed_unconditionally(&profile, denied), "{denied}");
        }
        #[cfg(target_arch = "x86_64")]
        assert!(allowed_unconditionally(&profile, "arch_prctl"));
    }

    #[test]
    fn clone_is_filtered_without_sys_admin() {
        let profile = default_seccomp();
        let clone = profile
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &["clone".to_string()])
            .unwrap();
        let arg = clone.args().as_ref().unwrap()[0];
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(arg.value(), 2114060288);
        let clone3 = profile
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &["clone3".to_string()]);
        assert_eq!(clone3.unwrap().errno_ret(), Some(38));
    }

    #[test]
    fn granted_caps_open_their_groups() {
        let mut caps = default_capabilities();
        caps.push("CAP_SYS_ADMIN".into());
        caps.push("CAP_SYS_PTRACE".into());
        let profile = seccomp_for_caps(&caps);
        for name in [
            "mount", "umount2", "unshare", "setns", "clone", "clone3", "kcmp",
        ] {
            assert!(allowed_unconditionally(&profile, name), "{name}");
        }
        let errno_rules = profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.errno_ret().is_some());
        assert_eq!(
            errno_rules.count(),
            0,
            "no clone3 ENOSYS rule with CAP_SYS_ADMIN"
        );
    }
}
