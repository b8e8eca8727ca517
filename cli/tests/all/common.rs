//! What several CLI test modules share.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `program` with `args`, `stdin` written to it, weld's compile cache
/// off; its exit status and output.
pub fn run_with_stdin(program: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("WELD_CACHE_DIR", "off")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The `weld` executable under test.
pub fn weld_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weld"))
}

/// Runs `weld` with `args` (stdin and the environment inherited); its exit
/// status and output.
pub fn weld(args: &[&str]) -> Output {
    Command::new(weld_exe())
        .args(args)
        .output()
        .expect("run weld")
}

/// [`weld`] with the compile cache off.
pub fn weld_uncached(args: &[&str]) -> Output {
    Command::new(weld_exe())
        .args(args)
        .env("WELD_CACHE_DIR", "off")
        .output()
        .expect("run weld")
}

/// Output bytes as text (lossy).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One line of a child's output (without its `\n`), read byte by byte: a
/// `BufReader` dropped afterwards would keep what follows the line (a
/// second server's ready line, when both come at once), and a caller
/// reading on would wait for it forever.
pub fn first_line(out: &mut impl std::io::Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}
