//! The plugin author's kit: what a project outside this repository builds against.

/// Every file under `dir`, as paths relative to it with their bytes, sorted.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("a readable directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("below the root").to_path_buf();
                found.push((relative, std::fs::read(&path).expect("readable")));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_sdk_ships_the_hosts_wit_byte_for_byte() {
    // The SDK carries the contract so that a plugin project depends on the SDK alone; the
    // copy must never drift from what the host implements. After a change to wit/, copy it:
    // `rm -r plugins/sdk/wit && cp -r wit plugins/sdk/wit`.
    let root = pchost_test_plugins::repo_root();
    let host = files(&root.join("wit"));
    let sdk = files(&root.join("plugins/sdk/wit"));
    let names = |files: &[(std::path::PathBuf, Vec<u8>)]| files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&sdk), names(&host), "the same files");
    for ((path, host), (_, sdk)) in host.iter().zip(&sdk) {
        assert!(
            host == sdk,
            "plugins/sdk/wit/{} differs from wit/{}",
            path.display(),
            path.display()
        );
    }
    assert!(host.len() >= 9, "{} WIT files", host.len());
}
