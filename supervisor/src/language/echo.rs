//! A fourth language that exists only in tests, to prove that adding a
//! language is this one module plus its line in [`super::ALL`]: its
//! processors are shell scripts (`entry: run.sh`), provisioned with
//! nothing, started with `/bin/sh`, packed as `*.sh`. No worker speaks the
//! plexus protocol for it, so it is never run; everything before that is.

use std::path::{Path, PathBuf};
use std::process::Command;

use ipc_schemas::{Entry, Permissions};

use super::{
    entry_paths, nothing_verbatim, relative_path, Declared, Hosted, Language, Launch,
    ProcessorFile, SharedMemory, Template,
};

pub struct Echo;

impl Language for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn entry_fits(&self, entry: &str) -> bool {
        relative_path(entry) && entry.ends_with(".sh")
    }

    fn entry_form(&self) -> &'static str {
        "a `.sh` file inside the package"
    }

    fn resolve(&self, declared: &Declared) -> Result<Entry, String> {
        let script = declared.dir.join(declared.entry);
        if !script.is_file() {
            return Err(format!("`{}` is not in the package", declared.entry));
        }
        // A real language adds its own variant to `ipc_schemas::Entry`.
        Ok(Entry::Builtin)
    }

    fn provision(&self, processors: &mut [Hosted]) -> anyhow::Result<Box<dyn Launch>> {
        Ok(Box::new(Shell {
            hosted: processors.len(),
        }))
    }

    fn packs(&self, name: &str) -> bool {
        name.ends_with(".sh")
    }

    fn archive_holds(&self, dir: &Path, entry: &str) -> bool {
        dir.join(entry).is_file()
    }

    fn template(&self) -> Template {
        Template {
            title: "shell",
            entry: "run.sh",
            build: None,
            processor: ProcessorFile {
                path: "run.sh",
                effect: "#!/bin/sh\n# {{name}}: {{class}}\n",
                source: "#!/bin/sh\n# {{name}}: a source, {{class}}\n",
            },
            files: &[],
            verbatim: nothing_verbatim,
            reserved_names: &[],
        }
    }
}

struct Shell {
    /// How many processors were provisioned, for the test to see.
    hosted: usize,
}

impl Launch for Shell {
    fn command(
        &self,
        entries: &[&Entry],
        _permissions: Option<&Permissions>,
    ) -> anyhow::Result<Command> {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(format!(
            "echo {} of {} processors",
            entries.len(),
            self.hosted
        ));
        Ok(command)
    }

    fn needs(&self, entries: &[&Entry]) -> Vec<PathBuf> {
        entry_paths(entries)
    }

    fn shared_memory(&self) -> SharedMemory {
        SharedMemory::Direct
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::language::by_name;
    use crate::load::load_plan;
    use crate::package::pack::pack;
    use crate::run::Launcher;
    use crate::scaffold;

    /// Every step before a worker runs works for a language that is only
    /// registered: manifest, plan, provisioning, launching, pack, `new`.
    #[test]
    fn a_registered_language_is_planned_launched_packed_and_scaffolded() {
        let root = tempfile::tempdir().unwrap();
        let package = root.path().join("shout");
        std::fs::create_dir(&package).unwrap();
        std::fs::write(
            package.join("plexus.yaml"),
            "package: { name: acme.shout, version: 1.0.0 }\nprocessors:\n  - { name: acme.say, language: echo, entry: run.sh, mode: manual, outputs: [{ name: out, schema: bytes }] }\n  - { name: acme.shout, language: echo, entry: run.sh, mode: reactive, inputs: [{ name: in, schema: any }] }\n",
        )
        .unwrap();
        std::fs::write(package.join("run.sh"), "echo hi\n").unwrap();
        std::fs::write(package.join("notes.txt"), "not packed\n").unwrap();
        let pipeline = root.path().join("pipeline.yaml");
        std::fs::write(
            &pipeline,
            "name: shout\npackages: [shout]\nprocessors:\n  say: { type: acme.say }\n  loud: { type: acme.shout }\nconnections:\n  - say.out -> loud.in\n",
        )
        .unwrap();

        let mut plan = load_plan(&pipeline).unwrap();
        let worker = plan.workers.iter().find(|w| w.name == "loud").unwrap();
        assert_eq!(worker.language.name(), "echo");
        let launcher = Launcher::prepare(&mut plan).unwrap();
        let worker = plan.workers.iter().find(|w| w.name == "loud").unwrap();
        let command = launcher.command(&plan, worker).unwrap();
        assert_eq!(command.get_program(), Path::new("/bin/sh"));
        let script: Vec<_> = command.get_args().collect();
        assert_eq!(script[1], "echo 1 of 2 processors");

        let packed = pack(&package).unwrap();
        let archive = zip::ZipArchive::new(std::io::Cursor::new(packed.bytes)).unwrap();
        let mut names: Vec<String> = archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["SHA256SUMS", "plexus.yaml", "run.sh"]);

        let echo = by_name("echo").unwrap();
        let created =
            scaffold::create(echo, scaffold::Kind::Effect, "acme.hello", root.path()).unwrap();
        let manifest = std::fs::read_to_string(created.join("plexus.yaml")).unwrap();
        assert!(manifest.contains("language: echo"), "{manifest}");
        assert!(manifest.contains("entry: run.sh"), "{manifest}");
        assert_eq!(
            std::fs::read_to_string(created.join("run.sh")).unwrap(),
            "#!/bin/sh\n# acme.hello: Hello\n"
        );
    }
}
