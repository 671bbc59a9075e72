//! `serve`'s settings: flags > `DIALPLANE_*` variables > a TOML file (`--config`) > defaults, and
//! `--print-config`.

use crate::cli::{Server, BIN};
use std::path::Path;

/// `dialplane serve ARGS --print-config` in `dir` with `envs`: (success, stdout, stderr).
async fn print_config(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let out = tokio::process::Command::new(BIN)
        .arg("serve")
        .args(args)
        .arg("--print-config")
        .env_remove("DIALPLANE_DATABASE_URL")
        .env_remove("DIALPLANE_CONFIG")
        .envs(envs.iter().copied())
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `setting` in `--print-config`'s output.
fn line<'a>(printed: &'a str, setting: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{setting} = ")))
        .unwrap_or_else(|| panic!("no {setting} in:\n{printed}"))
}

#[tokio::test]
async fn flags_beat_variables_which_beat_the_file_which_beats_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dialplane.toml");
    std::fs::write(
        &file,
        "max-body-bytes = 2048\nrate-limit-per-minute = 5\nlisten = \"127.0.0.1:7000\"\n\
         llm-models = [\"gpt-4o\", \"gpt-5\"]\n\
         database = \"postgres://u:hunter2@db.internal/dialplane\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let (ok, out, err) = print_config(
        dir.path(),
        &["--config", config, "--listen", "127.0.0.1:7001"],
        &[("DIALPLANE_RATE_LIMIT_PER_MINUTE", "9")],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        line(&out, "max-body-bytes"),
        "max-body-bytes = \"2048\"  # file"
    );
    assert_eq!(
        line(&out, "rate-limit-per-minute"),
        "rate-limit-per-minute = \"9\"  # environment (DIALPLANE_RATE_LIMIT_PER_MINUTE)"
    );
    assert_eq!(line(&out, "listen"), "listen = \"127.0.0.1:7001\"  # flag");
    assert_eq!(
        line(&out, "llm-models"),
        "llm-models = [\"gpt-4o\", \"gpt-5\"]  # file"
    );
    assert_eq!(
        line(&out, "max-agent-bytes"),
        "max-agent-bytes = \"2097152\"  # default"
    );
    assert!(
        line(&out, "database").contains("postgres://u:***@db.internal/dialplane"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "a password is printed:\n{out}");
    // The file named by the variable instead of the flag.
    let (ok, out, err) = print_config(dir.path(), &[], &[("DIALPLANE_CONFIG", config)]).await;
    assert!(ok, "{err}");
    assert_eq!(line(&out, "listen"), "listen = \"127.0.0.1:7000\"  # file");
}

#[tokio::test]
async fn a_settings_file_with_an_unknown_key_or_a_bad_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    for (text, says) in [
        ("max-body-byte = 10\n", "\"max-body-byte\" is not a setting"),
        ("max-header-bytes = 5\n", "max-header-bytes"),
        ("listen = \"nowhere\"\n", "listen"),
        ("max-body-bytes = {a = 1}\n", "max-body-bytes"),
        (
            "max-body-bytes = 2048.0\n",
            "a float is not a setting's value",
        ),
        (
            "listen = [\"127.0.0.1:1\"]\n",
            "listen: takes one value, not a list",
        ),
        (
            "llm-models = [\"gpt-4o\", 5]\n",
            "llm-models: a list of strings",
        ),
        ("not toml at all [\n", "not valid TOML"),
    ] {
        std::fs::write(&file, text).unwrap();
        let (ok, _, err) =
            print_config(dir.path(), &["--config", file.to_str().unwrap()], &[]).await;
        assert!(!ok, "{text:?} was accepted");
        assert!(err.contains(says), "{text:?}: {err}");
    }
    let (ok, _, err) = print_config(dir.path(), &["--config", "missing.toml"], &[]).await;
    assert!(!ok && err.contains("missing.toml"), "{err}");
}

#[tokio::test]
async fn a_setting_from_the_file_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.toml"), "max-body-bytes = 64\n").unwrap();
    let mut server = Server::start_with(
        dir.path(),
        &["--config", "d.toml", "--database", "sqlite://./cli.db"],
        &[],
    )
    .await;
    let key = server.bootstrap_key().await;
    let big = reqwest::Client::new()
        .post(server.url("/api/public/v1/agents"))
        .header("x-api-key", &key)
        .json(&crate::cli::minimal())
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let (status, _, _) = server.stop().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_database_url_with_a_password_is_never_echoed_by_errors_or_help() {
    let dir = tempfile::tempdir().unwrap();
    // A mistyped scheme: refused, and the refusal shows no password.
    let (ok, out, err) = print_config(
        dir.path(),
        &["--database", "postgress://admin:hunter2@db/x"],
        &[],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(err.contains("unsupported database URL"), "{err}");
    assert!(
        !err.contains("hunter2") && !out.contains("hunter2"),
        "{err}"
    );
    // A URL from the settings file is not shown as a default by --help.
    let file = dir.path().join("secret.toml");
    std::fs::write(
        &file,
        "database = \"postgres://u:hunter2@db/x\"\nredis-url = \"redis://:hunter3@r:6379\"\n",
    )
    .unwrap();
    let help = tokio::process::Command::new(BIN)
        .args(["serve", "--config", file.to_str().unwrap(), "--help"])
        .env_remove("DIALPLANE_DATABASE_URL")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success() && text.contains("--database"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("hunter3"),
        "{text}"
    );
}

#[tokio::test]
async fn output_into_a_pipe_that_closes_early_is_no_error() {
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;
    let mut child = tokio::process::Command::new(BIN)
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then close the pipe, as `| head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).await.unwrap();
    drop(stdout);
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

#[tokio::test]
async fn print_config_refuses_what_serve_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = print_config(dir.path(), &["--llm-models", " , "], &[]).await;
    assert!(!ok, "printed settings serve refuses: {out}");
    assert!(err.contains("--llm-models names no model"), "{err}");
    let (ok, out, _) = print_config(dir.path(), &["--llm-models", "gpt-4o"], &[]).await;
    assert!(ok && out.contains("gpt-4o"), "{out}");
}
