//! A process that enters a real sandbox (its seccomp filter, as a worker
//! does) records what was refused as the violations of the processor it
//! was calling, through the functions the worker executables interpose.
//! One test in its own process: the filter stays for the process's life.

use std::ffi::c_char;

use ipc_schemas::sandbox::{env, Permissions, SandboxMode, WorkerSandbox};
use worker_sandbox::interpose::{net, spawn};
use worker_sandbox::violations;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

#[test]
fn what_the_sandbox_refuses_is_told_once_as_the_calling_processor_s() {
    let sandbox = WorkerSandbox {
        mode: SandboxMode::Strict,
        processors: [
            ("probe".to_string(), Permissions::default()),
            ("other".to_string(), Permissions::default()),
        ]
        .into(),
    };
    std::env::set_var(env::SANDBOX, sandbox.to_json());
    worker_sandbox::enter(worker_sandbox::WorkerKind::Native)
        .expect("entering the sandbox")
        .expect("a sandbox");

    {
        let _current = violations::current("probe");
        for _ in 0..2 {
            assert_eq!(net::socket(libc::AF_INET, libc::SOCK_STREAM, 0), -1);
            assert_eq!(errno(), libc::EACCES, "errno survives the recording");
        }
        let argv: [*const c_char; 2] = [c"sh".as_ptr(), std::ptr::null()];
        let mut pid = 0;
        // SAFETY: valid, NUL-terminated program and argument vector.
        let spawned = unsafe {
            spawn::posix_spawn(
                false,
                &mut pid,
                c"/bin/sh".as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                argv.as_ptr(),
                argv.as_ptr().add(1),
            )
        };
        assert_eq!(spawned, libc::EPERM);
    }
    // Outside any processor call: all of the worker's processors.
    assert_eq!(spawn::fork(), -1);
    assert_eq!(errno(), libc::EPERM);

    let told: Vec<String> = violations::drain()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        told,
        [
            "processor `probe` may not connect to the network: not in its permissions",
            "processor `probe` may not start /bin/sh: spawning processes is not in its permissions",
            "processor `other, probe` may not start a child process: spawning processes is not in its permissions",
        ]
    );
    assert_eq!(violations::unreported(), 1);
    assert!(violations::drain().is_empty());
}
