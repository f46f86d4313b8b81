//! Writing an export to a file with nothing half-written: the lines go to a
//! temporary file beside it, which is flushed to disk and only then takes
//! the file's name. A failure (or an interruption) leaves no file, or the
//! one that was there.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A file being written; it appears under its name at [`Output::finish`].
pub struct Output {
    path: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
    replace: bool,
}

impl Output {
    /// Starts writing `path`; an existing file is refused unless `replace`.
    pub fn create(path: &Path, replace: bool) -> anyhow::Result<Output> {
        if !replace && path.exists() {
            anyhow::bail!(
                "{} already exists (use --force to replace it)",
                path.display()
            );
        }
        let name = path
            .file_name()
            .with_context(|| format!("{} is not a file name", path.display()))?;
        let mut hidden = std::ffi::OsString::from(".");
        hidden.push(name);
        hidden.push(format!(".partial-{}", std::process::id()));
        let temporary = path.with_file_name(hidden);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .with_context(|| format!("cannot create {}", temporary.display()))?;
        Ok(Output {
            path: path.to_owned(),
            temporary,
            writer: Some(BufWriter::new(file)),
            replace,
        })
    }

    pub fn writer(&mut self) -> &mut dyn Write {
        self.writer
            .as_mut()
            .expect("an output is written only until it is finished")
    }

    /// Flushes the lines to disk (fsync), then gives them the file's name
    /// (and flushes the directory, so the name survives a crash too).
    pub fn finish(mut self) -> anyhow::Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let file = writer
            .into_inner()
            .map_err(|error| error.into_error())
            .with_context(|| format!("cannot write {}", self.temporary.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot flush {} to disk", self.temporary.display()))?;
        drop(file);
        if self.replace {
            std::fs::rename(&self.temporary, &self.path)
        } else {
            // A link fails if the name was taken meanwhile; a rename would
            // replace what is there.
            std::fs::hard_link(&self.temporary, &self.path)
                .and_then(|()| std::fs::remove_file(&self.temporary))
        }
        .with_context(|| format!("cannot write {}", self.path.display()))?;
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(directory)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot flush {} to disk", directory.display()))?;
        Ok(())
    }
}

impl Drop for Output {
    /// An output dropped unfinished leaves nothing behind.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_appears_only_when_finished_and_is_not_replaced_unasked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut output = Output::create(&path, false).unwrap();
        output.writer().write_all(b"one\n").unwrap();
        assert!(!path.exists());
        output.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        let error = Output::create(&path, false).err().unwrap().to_string();
        assert!(error.contains("already exists (use --force"), "{error}");
        // Dropped unfinished: the old file stands, no temporary is left.
        let mut output = Output::create(&path, true).unwrap();
        output.writer().write_all(b"two\n").unwrap();
        drop(output);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let mut output = Output::create(&path, true).unwrap();
        output.writer().write_all(b"two\n").unwrap();
        output.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
    }
}
