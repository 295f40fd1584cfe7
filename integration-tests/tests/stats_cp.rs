//! `ferry stats` and `ferry cp` end to end: the real CLI and ferryd, containers run by crun,
//! cgroup files of this host, and copies that a hostile container tries to turn against the host.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use ferry_integration_tests::fixtures::PASSWD;
use ferry_integration_tests::{var_tmpdir, wait_until, Env};

/// The cells of the table row whose NAME is `name` (cells are 3+ spaces apart).
fn row(table: &str, name: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.get(1).map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in\n{table}"))
}

fn percent(cell: &str) -> f64 {
    cell.trim_end_matches('%').parse().expect("a percentage")
}

#[test]
fn stats_reports_cpu_memory_limit_and_pids() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        &image,
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    env.ok(&[
        "run", "-d", "--name", "sleeper", "--memory", "64m", &image, "sleep", "1000",
    ]);
    env.ok(&["create", "--name", "idle", &image, "true"]);

    let out = env.ok(&["stats", "--no-stream"]);
    assert!(
        out.starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %"),
        "{out}"
    );
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.contains("NET I/O") && header.ends_with("PIDS"),
        "{out}"
    );
    assert!(
        !out.contains("idle"),
        "only running containers without -a: {out}"
    );
    let busy = row(&out, "busy");
    let sleeper = row(&out, "sleeper");
    assert_eq!(busy.len(), 8, "{busy:?}");
    assert!(percent(&busy[2]) > 10.0, "busy CPU: {out}");
    assert!(percent(&sleeper[2]) < 10.0, "sleeper CPU: {out}");
    for r in [&busy, &sleeper] {
        assert!(!r[3].starts_with("0B "), "memory in use: {out}");
        assert!(r[7].parse::<u64>().expect("PIDS") >= 1, "{out}");
        assert_eq!(r[5], "0B / 0B", "--network none: {out}");
    }
    assert!(sleeper[3].ends_with(" / 64MiB"), "{out}");
    assert!(
        busy[3].ends_with("GiB"),
        "no limit shows the host's memory: {out}"
    );

    let all = env.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
    ]);
    assert!(all.lines().any(|l| l == "idle 0.00% 0B / 0B 0"), "{all}");

    let missing = env.ferry(&["stats", "--no-stream", "nosuch"]);
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(
        missing.stderr.contains("No such container: nosuch"),
        "{missing:?}"
    );

    // Streaming: a round a second until the client goes away.
    let mut child = env
        .daemon()
        .command(&["stats", "busy"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn ferry stats");
    std::thread::sleep(Duration::from_millis(3500));
    child.kill().expect("kill ferry stats");
    let mut streamed = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut streamed)
        .expect("read");
    let _ = child.wait();
    let rounds = streamed.matches("CONTAINER ID").count();
    assert!(rounds >= 2, "{rounds} rounds in 3.5 s:\n{streamed}");
    assert!(!streamed.contains("sleeper"), "{streamed}");
}

/// A tar of `entries` (raw names, so `../x` can be written), for `cp -`.
fn tar_of(entries: &[(&[u8], tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, body) in entries {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        if *kind == tar::EntryType::Symlink {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.linkname[..body.len()].copy_from_slice(body);
            h.set_size(0);
            h.set_cksum();
            b.append(&h, &[][..]).expect("append");
        } else {
            h.set_size(body.len() as u64);
            h.set_cksum();
            b.append(&h, *body).expect("append");
        }
    }
    b.into_inner().expect("tar")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[test]
fn cp_copies_files_and_directories_both_ways_and_stays_in_the_container() {
    let env = Env::builder().with_busybox().build();
    let image = env.busybox();
    let id = env.ok(&["run", "-d", "--name", "box", &image, "sleep", "1000"]);
    let id = id.trim();
    env.ok(&["exec", "box", "sh", "-c", "mkdir -p /data/sub && echo hi > /data/sub/f && ln -s /etc/passwd /tmp/evil && ln -s /etc /tmp/etcl"]);
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    assert_ne!(
        host_passwd, PASSWD,
        "the test needs a host passwd unlike the image's"
    );
    let tmp = var_tmpdir("ferry-cp");
    let t = |p: &str| tmp.path().join(p).display().to_string();

    // Out: a file, Ferry's /etc/hostname, a directory as a new name and into a directory.
    env.ok(&["cp", "box:/etc/passwd", &t("passwd")]);
    assert_eq!(read(&tmp.path().join("passwd")), PASSWD);
    env.ok(&["cp", "box:/etc/hostname", &t("hostname")]);
    assert_eq!(
        read(&tmp.path().join("hostname")),
        format!("{}\n", &id[..12])
    );
    env.ok(&["cp", "box:/data", &t("newdir")]);
    assert_eq!(read(&tmp.path().join("newdir/sub/f")), "hi\n");
    std::fs::create_dir(tmp.path().join("existing")).expect("mkdir");
    env.ok(&["cp", "box:/data", &t("existing")]);
    assert_eq!(read(&tmp.path().join("existing/data/sub/f")), "hi\n");

    // Symlinks: archived as links, followed only with -L and only inside the container.
    env.ok(&["cp", "box:/tmp/evil", &t("link")]);
    let link = tmp.path().join("link");
    assert!(std::fs::symlink_metadata(&link)
        .expect("lstat")
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_link(&link).expect("readlink"),
        Path::new("/etc/passwd")
    );
    env.ok(&["cp", "-L", "box:/tmp/evil", &t("followed")]);
    assert_eq!(read(&tmp.path().join("followed")), PASSWD);
    env.ok(&["cp", "box:/tmp/etcl/passwd", &t("through")]);
    assert_eq!(read(&tmp.path().join("through")), PASSWD);
    env.ok(&["cp", "box:/../../../../etc/passwd", &t("dotdot")]);
    assert_eq!(read(&tmp.path().join("dotdot")), PASSWD);

    // Out to stdout: a tar with one entry.
    let (code, tar_bytes, err) = env.ferry_stdin(&["cp", "box:/etc/passwd", "-"], b"");
    assert_eq!(code, Some(0), "{err}");
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut entries = archive.entries().expect("tar");
    let mut e = entries.next().expect("one entry").expect("entry");
    assert_eq!(e.path().expect("path"), Path::new("passwd"));
    let mut body = String::new();
    e.read_to_string(&mut body).expect("body");
    assert_eq!(body, PASSWD);

    // In: a file into a directory, as a new name, a directory, and a tar from stdin.
    std::fs::write(tmp.path().join("local.txt"), "local\n").expect("write");
    env.ok(&["cp", &t("local.txt"), "box:/tmp/"]);
    assert_eq!(env.ok(&["exec", "box", "cat", "/tmp/local.txt"]), "local\n");
    env.ok(&["cp", &t("local.txt"), "box:/tmp/renamed.txt"]);
    assert_eq!(
        env.ok(&["exec", "box", "cat", "/tmp/renamed.txt"]),
        "local\n"
    );
    env.ok(&["cp", &t("newdir"), "box:/srv"]);
    assert_eq!(env.ok(&["exec", "box", "cat", "/srv/sub/f"]), "hi\n");
    let owner = env.ok(&["exec", "box", "stat", "-c", "%u:%g %a", "/tmp/local.txt"]);
    assert_eq!(owner.split(' ').next(), Some("0:0"), "{owner}");
    let tar = tar_of(&[(b"fromstdin.txt", tar::EntryType::Regular, b"stdin\n")]);
    let (code, _, err) = env.ferry_stdin(&["cp", "-", "box:/tmp"], &tar);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        env.ok(&["exec", "box", "cat", "/tmp/fromstdin.txt"]),
        "stdin\n"
    );

    // Hostile tars: `..` is refused, a symlink to / stays inside the destination.
    let bundle = env.daemon().exec_root().join("containers").join(id);
    let tar = tar_of(&[(b"../escape", tar::EntryType::Regular, b"x\n")]);
    let (code, _, err) = env.ferry_stdin(&["cp", "-", "box:/tmp"], &tar);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("Error response from daemon: "), "{err}");
    assert_ne!(
        env.ferry(&["exec", "box", "test", "-e", "/escape"]).code,
        Some(0)
    );
    assert!(!bundle.join("escape").exists());
    let tar = tar_of(&[
        (b"up", tar::EntryType::Symlink, b"/"),
        (b"up/escape2", tar::EntryType::Regular, b"y\n"),
    ]);
    let (code, _, err) = env.ferry_stdin(&["cp", "-", "box:/tmp"], &tar);
    assert_eq!(code, Some(0), "{err}");
    assert!(!Path::new("/escape2").exists(), "wrote on the host");
    assert!(!bundle.join("escape2").exists(), "wrote beside the root");
    assert_eq!(env.ok(&["exec", "box", "cat", "/tmp/escape2"]), "y\n");

    // Errors: a missing path, as Docker words it.
    let out = env.ferry(&["cp", "box:/nope", &t("nope")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        "Error response from daemon: Could not find the file /nope in container box\n"
    );
    let out = env.ferry(&["cp", &t("local.txt"), "box:/nodir/x/"]);
    assert_eq!(out.code, Some(1), "{out:?}");

    // A stopped container's files are still there.
    env.ok(&["kill", "box"]);
    assert!(wait_until(Duration::from_secs(10), || env
        .ok(&["ps", "-a", "--filter", "name=box", "--format", "{{.State}}"])
        .trim()
        == "exited"));
    env.ok(&["cp", "box:/tmp/renamed.txt", &t("from-stopped")]);
    assert_eq!(read(&tmp.path().join("from-stopped")), "local\n");
}
