//! Storage faults: a read-only database, a full disk, a database from a newer schema version.
//! Each must give a clear error, corrupt nothing, and leave a log that `verify` passes.
//!
//! The read-only and full-disk tests mount file systems (a read-only bind mount, a small tmpfs)
//! and so need root; CI runs as root. Without root the read-only test uses chmod instead, and
//! the full-disk test says loudly that it was skipped (and fails when `CI=true`).

mod reliability_support;

use std::path::Path;

use reliability_support::{
    Mount, Workspace, assert_gapless_and_unique, head_of, is_root, path_str, skipped,
    synthetic_file, writing_commands,
};

fn digest(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the database")
}

#[test]
fn a_read_only_database_gives_a_clear_error_and_still_verifies() {
    let workspace = Workspace::seeded();
    let head = workspace.head();
    let file = workspace.file(
        "ny.jsonl",
        synthetic_file("skrivskydd", 3, "synt").as_bytes(),
    );
    let folder = workspace.dir.path().join("skyddad");
    std::fs::create_dir(&folder).expect("a folder");
    let db = folder.join("logg.db");
    std::fs::rename(&workspace.db, &db).expect("move the log");
    let protected = Workspace::at(db.clone());

    // Root ignores file permissions, so as root the folder is made read-only by a read-only
    // bind mount; otherwise by chmod.
    let _mount;
    let how = if is_root() {
        match Mount::read_only_bind(&folder) {
            Ok(mount) => {
                _mount = Some(mount);
                "a read-only bind mount"
            }
            Err(why) => {
                skipped(
                    "read-only database",
                    &format!("cannot bind-mount read-only as root: {why}"),
                );
                return;
            }
        }
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        _mount = None;
        "chmod 0444 on the file and 0555 on its folder"
    };
    let before = digest(&db);
    for args in writing_commands("Skrivskyddad.", &file) {
        let run = protected.run(&args).failed();
        assert!(
            run.stderr.contains("read-only file system or not writable")
                && run.stderr.contains("nothing was written"),
            "{how}: {args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    // verify reads the same bytes (a copy, as SQLite cannot read a WAL database where it cannot
    // create its -shm file) and passes with the same head.
    let run = protected.run(&["verify"]).ok();
    assert_eq!(head_of(&run.stdout), head, "{how}");
    assert!(run.stderr.contains("verifying a copy"), "{}", run.stderr);
    assert_eq!(digest(&db), before, "{how}: the file changed");
    drop(_mount);
    if !is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    assert_eq!(protected.head(), head);
    eprintln!("read-only database ({how}): append and import refused clearly, verify passed");
}

#[test]
fn a_full_disk_fails_the_import_cleanly_and_a_rerun_after_freeing_space_completes_it() {
    if !is_root() {
        skipped("full disk", "mounting a tmpfs needs root");
        return;
    }
    let outer = Workspace::new();
    let mount_point = outer.dir.path().join("liten");
    let mount = match Mount::tmpfs(&mount_point, "16m") {
        Ok(mount) => mount,
        Err(why) => {
            skipped("full disk", &format!("cannot mount a tmpfs: {why}"));
            return;
        }
    };
    let workspace = Workspace::at(mount.path.join("logg.db"));
    workspace.run(&["init", "--empty"]).ok();
    // Leave about 1.3 MB free; the import needs about 5 MB and its WAL more.
    let filler = mount.path.join("fyllnad");
    std::fs::write(&filler, vec![0u8; 14_700_000]).expect("fill the disk");
    let total = 8_000;
    let file = outer.file(
        "stor.jsonl",
        synthetic_file("fullt", total, "synt").as_bytes(),
    );
    let name = path_str(&file);

    // One transaction: nothing is written.
    let run = workspace.run(&["import", name]).failed();
    assert!(
        run.stderr.contains("database or disk is full")
            && run.stderr.contains("nothing was imported"),
        "{}",
        run.stderr
    );
    workspace.verify();
    assert_eq!(workspace.events().len(), 0);

    // In batches: the batches reported committed stay, the one that hit the full disk does not.
    let run = workspace
        .run(&["import", "--batch-size", "500", name])
        .failed();
    assert!(
        run.stderr.contains("database or disk is full"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("were not imported"), "{}", run.stderr);
    let reported: usize = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("committed lines "))
        .count()
        * 500;
    workspace.verify();
    let rows = workspace.events();
    assert_eq!(rows.len(), reported, "{}", run.stdout);
    assert_gapless_and_unique(&rows);

    // Space again: the same import completes the log.
    std::fs::remove_file(&filler).expect("free the disk");
    workspace.run(&["import", "--batch-size", "500", name]).ok();
    workspace.verify();
    let rows = workspace.events();
    assert_eq!(rows.len(), total);
    assert_gapless_and_unique(&rows);
    eprintln!(
        "full disk (tmpfs 16m, 14.7 MB filler): one-transaction import refused with nothing written; batched import kept {reported} events in whole batches; rerun completed {total}"
    );
}

#[test]
fn a_database_from_a_newer_schema_is_refused_untouched_and_verifies_when_read_by_its_version() {
    let workspace = Workspace::seeded();
    let head = workspace.head();
    let file = workspace.file("ny.jsonl", synthetic_file("framtid", 3, "synt").as_bytes());
    let conn = rusqlite::Connection::open(&workspace.db).expect("open");
    let supported: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("the version");
    conn.pragma_update(None, "user_version", 99)
        .expect("set the version");
    drop(conn);
    let before = digest(&workspace.db);
    let mut commands = writing_commands("Framtid.", &file);
    commands.extend([vec!["log"], vec!["verify"], vec!["export"]]);
    for args in commands {
        let run = workspace.run(&args).failed();
        assert!(
            run.stderr.contains(&format!(
                "the database has schema version 99, newer than this program understands ({supported}); use a newer lagesbild"
            )),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(digest(&workspace.db), before, "the file changed");
    let conn = rusqlite::Connection::open(&workspace.db).expect("open");
    conn.pragma_update(None, "user_version", supported)
        .expect("set the version back");
    drop(conn);
    assert_eq!(workspace.head(), head);
}
