//! How a worker's process is started, kept so that a restart or a live
//! swap's successor starts exactly as the first process did: its command,
//! environment and Landlock policy.

use std::ffi::OsString;
use std::process::Command as Process;

use crate::sandbox::landlock::Policy;

/// How to start a worker again exactly as it was started the first time.
#[derive(Clone)]
pub struct Recipe {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    /// Its Landlock policy; none when its sandbox is off.
    pub policy: Option<Policy>,
}

impl Recipe {
    pub fn of(command: &Process, policy: Option<Policy>) -> Self {
        Self {
            policy,
            program: command.get_program().to_owned(),
            args: command.get_args().map(|a| a.to_owned()).collect(),
            envs: command
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
                .collect(),
        }
    }

    /// The same recipe, with `key` set to `value` in the environment.
    pub fn with_env(&self, key: &str, value: &str) -> Self {
        let mut envs: Vec<_> = self
            .envs
            .iter()
            .filter(|(k, _)| k != key)
            .cloned()
            .collect();
        envs.push((key.into(), Some(value.into())));
        Self {
            program: self.program.clone(),
            args: self.args.clone(),
            envs,
            policy: self.policy.clone(),
        }
    }

    pub fn command(&self) -> Process {
        let mut command = Process::new(&self.program);
        command.args(&self.args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }
}
