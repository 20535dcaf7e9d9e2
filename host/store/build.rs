//! Turns on the PostgreSQL runs of the domain test suite when a server URL is given: without
//! `PCHOST_TEST_POSTGRES_URL` they are reported as ignored, with the reason, so a laptop
//! without PostgreSQL still passes and the log says what did not run.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=PCHOST_TEST_POSTGRES_URL");
    if std::env::var_os("PCHOST_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
