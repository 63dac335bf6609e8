//! The report templates a server renders with: compiled once per format and kept, and read
//! again from their folder (`serve --templates DIR`) when a file in it changes, so that an
//! operator's edit shows without a restart while no request compiles templates it has compiled
//! before.
//!
//! The folder is looked at when a request asks for the templates, at most once every
//! [`CHECK_EVERY`]: the names, sizes and modification times of its files (a `read_dir` and a
//! `stat` per file, microseconds), not their contents. Only when those changed are the
//! templates read, and only when their digest changed are they compiled, every format at once;
//! a set that does not read or compile is refused whole (the error, naming the file, is logged)
//! and the one in use stays. We poll rather than use `notify` (inotify): a poll on the request
//! path needs no thread of its own, behaves the same on every file system (inotify sees nothing
//! on network file systems and misses a folder replaced by a rename), and costs one look a
//! second at most; a change shows on the first request a second after it.
//!
//! Trust: a published edition is never served from these templates. Its page is the edition
//! cache's bytes checked against the digests its event recorded, or a rebuild with the set its
//! event names by digest, compared byte for byte (`publish::view`); so a reload changes what a
//! preview or the next publication renders, never which bytes pass as a published edition.
//! Each request takes one [`Loaded`] and uses it throughout, so a publication renders, records
//! the digest of and is checked against one and the same set even while a reload happens. What
//! a reload does change: an edition published with the folder's earlier contents is looked up
//! by digest among the embedded, the released and the current set only, so it is shown as not
//! reproduced (never as reproduced, never from the new templates) until its set is given
//! again, as after a restart with a changed folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use lagesbild_render::report::{ReportFormat, ReportRenderer, TemplateError, TemplateSet};

/// How often at most the folder is looked at for changes.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// One set of templates, its digest, and its formats compiled on first use.
pub(crate) struct Loaded {
    set: TemplateSet,
    digest: String,
    renderers: Mutex<HashMap<&'static str, Arc<ReportRenderer>>>,
}

impl Loaded {
    fn new(set: TemplateSet) -> Loaded {
        Loaded {
            digest: set.digest(),
            set,
            renderers: Mutex::default(),
        }
    }

    /// The set with every format it has compiled now: what a reload checks before it takes it.
    fn compiled(set: TemplateSet) -> Result<Loaded, TemplateError> {
        let loaded = Loaded::new(set);
        for format in loaded.set.formats() {
            loaded.compile(format)?;
        }
        Ok(loaded)
    }

    pub(crate) fn set(&self) -> &TemplateSet {
        &self.set
    }

    /// The templates compiled for `format`: compiled once, then kept.
    pub(crate) fn renderer(
        &self,
        format: ReportFormat,
    ) -> Result<Arc<ReportRenderer>, TemplateError> {
        let kept = self
            .renderers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(format.name())
            .cloned();
        match kept {
            Some(renderer) => Ok(renderer),
            None => self.compile(format),
        }
    }

    fn compile(&self, format: ReportFormat) -> Result<Arc<ReportRenderer>, TemplateError> {
        let renderer = Arc::new(ReportRenderer::new(self.set.clone(), format)?);
        self.renderers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(format.name(), Arc::clone(&renderer));
        Ok(renderer)
    }
}

/// What the folder looked like: each file's name, size and modification time, in name order;
/// or why it could not be looked at.
type Stamp = Result<Vec<(std::ffi::OsString, u64, Option<SystemTime>)>, String>;

fn stamp(folder: &Path) -> Stamp {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let meta = entry.metadata().map_err(|e| e.to_string())?;
        files.push((entry.file_name(), meta.len(), meta.modified().ok()));
    }
    files.sort();
    Ok(files)
}

struct Checked {
    at: Instant,
    stamp: Stamp,
}

/// The templates in use, and the folder they are read again from when it changes.
pub(crate) struct Templates {
    folder: Option<PathBuf>,
    current: RwLock<Arc<Loaded>>,
    checked: Mutex<Checked>,
}

impl Templates {
    /// `set`, read from `folder` when one is given (watched from now on), else fixed.
    pub(crate) fn new(set: TemplateSet, folder: Option<PathBuf>) -> Templates {
        let stamp = folder.as_deref().map_or_else(|| Ok(Vec::new()), stamp);
        Templates {
            folder,
            current: RwLock::new(Arc::new(Loaded::new(set))),
            checked: Mutex::new(Checked {
                at: Instant::now(),
                stamp,
            }),
        }
    }

    /// The templates to use for one request (the newest that compiled).
    pub(crate) fn current(&self) -> Arc<Loaded> {
        if let Some(folder) = &self.folder {
            self.refresh(folder);
        }
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn refresh(&self, folder: &Path) {
        // A request that finds another one looking goes on with what is loaded.
        let Ok(mut checked) = self.checked.try_lock() else {
            return;
        };
        if checked.at.elapsed() < CHECK_EVERY {
            return;
        }
        checked.at = Instant::now();
        let now = stamp(folder);
        if now == checked.stamp {
            return;
        }
        // Remembered whether it loads or not: a broken set is reported once, and read again
        // only when the folder changes again.
        checked.stamp = now.clone();
        if let Err(reason) = now {
            tracing::error!(
                folder = %folder.display(),
                %reason,
                "cannot look at the report template folder; the templates in use stay"
            );
            return;
        }
        let set = match TemplateSet::from_dir(folder) {
            Ok(set) => set,
            Err(error) => {
                tracing::error!(
                    folder = %folder.display(),
                    %error,
                    "the report templates cannot be read again; the templates in use stay"
                );
                return;
            }
        };
        let digest = set.digest();
        let in_use = Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner));
        if digest == in_use.digest {
            return;
        }
        match Loaded::compiled(set) {
            Ok(loaded) => {
                tracing::info!(folder = %folder.display(), %digest, "report templates read again");
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
            }
            Err(error) => {
                tracing::error!(
                    file = %file_of(folder, &error),
                    %error,
                    "a report template does not compile; the templates in use stay"
                );
            }
        }
    }
}

/// The file a template error is about, as the operator names it: in the folder.
fn file_of(folder: &Path, error: &TemplateError) -> String {
    match error {
        TemplateError::Syntax { name, .. } | TemplateError::Render { name, .. } => {
            folder.join(name).display().to_string()
        }
        TemplateError::Read { path, .. } => path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(folder: &Path, name: &str, text: &str) {
        std::fs::write(folder.join(name), text).expect("writes");
    }

    /// Waits until the next look at the folder is due.
    fn wait_for_check() {
        std::thread::sleep(CHECK_EVERY + Duration::from_millis(50));
    }

    #[test]
    fn a_changed_folder_is_read_again_and_a_broken_set_keeps_the_one_in_use() {
        let dir = tempfile::tempdir().expect("temp dir");
        let embedded = TemplateSet::embedded();
        embedded.write_to(dir.path()).expect("writes the templates");
        let templates = Templates::new(
            TemplateSet::from_dir(dir.path()).expect("reads"),
            Some(dir.path().to_owned()),
        );
        let first = templates.current();
        assert_eq!(first.digest, embedded.digest());
        // Within the second nothing is looked at; the same set, compiled once, is shared.
        assert!(Arc::ptr_eq(&first, &templates.current()));
        let html = embedded.get("report.html").expect("the HTML template");
        write(
            dir.path(),
            "report.html.hbs",
            &format!("{html}<!-- ändrad -->"),
        );
        wait_for_check();
        let second = templates.current();
        assert!(
            second
                .set
                .get("report.html")
                .expect("present")
                .ends_with("<!-- ändrad -->")
        );
        assert!(Arc::ptr_eq(&second, &templates.current()));
        // A template that does not compile: the set in use stays, and the error names the file.
        write(dir.path(), "report.html.hbs", "{{#if}} ofullständig");
        wait_for_check();
        assert!(Arc::ptr_eq(&second, &templates.current()));
        let error = Loaded::compiled(TemplateSet::from_dir(dir.path()).expect("reads"))
            .err()
            .expect("does not compile");
        assert_eq!(
            file_of(dir.path(), &error),
            dir.path().join("report.html.hbs").display().to_string(),
            "{error}"
        );
        // The template put back and a file that is no template added: the folder changed, the
        // set is the one in use, and nothing is compiled again.
        write(
            dir.path(),
            "report.html.hbs",
            &format!("{html}<!-- ändrad -->"),
        );
        write(dir.path(), "LÄSMIG.txt", "anteckningar");
        wait_for_check();
        assert!(Arc::ptr_eq(&second, &templates.current()));
    }

    #[test]
    fn a_set_without_a_folder_is_never_looked_at_again() {
        let templates = Templates::new(TemplateSet::embedded(), None);
        let first = templates.current();
        assert!(Arc::ptr_eq(&first, &templates.current()));
        assert!(first.renderer(ReportFormat::Html).is_ok());
    }
}
