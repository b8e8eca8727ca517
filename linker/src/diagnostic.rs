//! Errors that point at a place: a file, a line and a column.
//!
//! Every error weld reports to a user goes through [`Diagnostic`], so the CLI
//! can print them uniformly and `--json` can emit them as data.

use serde::Serialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in a source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file the position is in.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// The text of the line, for a caret display.
    #[serde(skip)]
    pub line_text: String,
}

impl Location {
    /// Finds the line and column of byte offset `offset` in `source`.
    pub fn from_offset(file: &Path, source: &str, offset: usize) -> Location {
        let offset = offset.min(source.len());
        let before = &source[..floor_char_boundary(source, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        // A line shown under a message must not show a secret a URL on
        // it carries (`nats://user:password@…`), whatever the message is.
        let line_text = crate::wrpc::endpoint::redact_credentials(
            source[line_start..].lines().next().unwrap_or_default(),
        );
        Location {
            file: file.to_path_buf(),
            line,
            column,
            line_text,
        }
    }

    /// Location of the start of a span.
    pub fn from_span(file: &Path, source: &str, span: Range<usize>) -> Location {
        Location::from_offset(file, source, span.start)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What kind of problem a diagnostic reports: what a test or an embedder
/// matches, where the message is for people (and may be reworded).
/// `--json` prints it as `kind`, in kebab case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// Not one of the kinds below (a runtime or I/O failure reported as a
    /// diagnostic).
    Other,
    /// A file cannot be read: missing, too large, not a regular file, not
    /// UTF-8, or a path that cannot be resolved.
    Unreadable,
    /// TOML that does not parse, an unknown key, or a value of the wrong
    /// type.
    Syntax,
    /// A file a manifest names lies outside the folders it may read.
    Confined,
    /// An `include` cycle, or more included files than weld reads.
    Include,
    /// A value of the right type but out of range or of the wrong form (a
    /// deadline, a timeout, a memory cap, `<component>:<interface>`).
    InvalidValue,
    /// A component, host or provider name that breaks the naming rules.
    InvalidName,
    /// Something defined or linked twice, or two things of one name.
    Duplicate,
    /// A link, export or exposed interface names a component or provider
    /// the manifest does not declare.
    UnknownName,
    /// A host's wRPC endpoint is missing or invalid, or two hosts share one.
    Endpoint,
    /// Something placed where it cannot be: components of a link on two
    /// hosts for an in-process transport, a component on a provider's host,
    /// a host with nothing on it.
    Placement,
    /// A provider that exports nothing, or whose WIT cannot be read or does
    /// not define what it says it serves.
    Provider,
    /// The inputs given are not a manifest or component files.
    InvalidInput,
    /// The bytes are not a valid component.
    InvalidComponent,
    /// An import no component, provider or host provides.
    NoExporter,
    /// An import several components export, and no `[[link]]` chooses.
    Ambiguous,
    /// A link names an import its component does not have.
    NoImport,
    /// An import and the export linked to it differ in their types.
    TypeMismatch,
    /// A wRPC link whose functions are not wRPC-safe and that does not
    /// allow traps.
    NotWrpcSafe,
    /// A wRPC link or an exposed interface with what wRPC cannot carry
    /// (resources, streams and futures, async functions).
    WrpcUnsupported,
    /// Something weld does not link (a root function import, an export
    /// that is not an interface).
    Unsupported,
    /// Links that form a cycle.
    Cycle,
    /// A link setting that has no effect on its transport (a warning).
    UnusedSetting,
    /// HTTP ingress that cannot be served: a `route` on a component with
    /// no HTTP handler, several handlers on a host without routes, routes
    /// that overlap, a handler with `instances = "shared"`, an `http`
    /// address on a host with no handler.
    Ingress,
    /// A host capability a component imports that the manifest does not
    /// grant it: outgoing HTTP without `http-out`.
    NotGranted,
    /// A host identity (`tls`) that is missing where a secured transport
    /// needs one, or cannot be used: a file missing, not a regular file,
    /// too large, a private key others may read, PEM that does not parse.
    Identity,
    /// A link refused under strict security: its calls would travel
    /// unencrypted beyond this machine.
    Insecure,
}

/// One error (or note) a user has to act on, with where it comes from and,
/// when weld knows one, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// What kind of problem it is, for code to match.
    pub kind: DiagnosticKind,
    /// What is wrong, naming the component, import and function involved.
    pub message: String,
    /// Where in the manifest the problem was written, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// A suggestion, e.g. the WIT change that makes an interface wRPC-safe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without a location.
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind: DiagnosticKind::Other,
            message: message.into(),
            location: None,
            help: None,
        }
    }

    /// Attaches a location.
    pub fn at(mut self, location: Option<Location>) -> Diagnostic {
        self.location = location;
        self
    }

    /// Says what kind of problem it is.
    pub fn with_kind(mut self, kind: DiagnosticKind) -> Diagnostic {
        self.kind = kind;
        self
    }

    /// Attaches a suggestion.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

/// `text` with control characters other than newline and tab escaped
/// (`\u{1b}`): names and lines quoted from a manifest must not drive the
/// terminal that shows the diagnostic.
pub fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, |c| c == '\n' || c == '\t')
}

/// `text` with every control character escaped, newline, carriage return
/// and NUL included: for a string from a peer or a file put into one log
/// line, which must not be able to forge another line or colour it.
///
/// ```
/// use weld_linker::diagnostic::one_line;
/// assert_eq!(one_line("a\nINFO forged\u{1b}[31m"), "a\\u{a}INFO forged\\u{1b}[31m");
/// assert_eq!(one_line("plain"), "plain");
/// ```
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, |_| false)
}

fn escape_controls(text: &str, keep: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    let escape = |c: char| c.is_control() && !keep(c);
    if !text.chars().any(escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Characters of a source line shown around the caret: a line of any
/// length (a minified manifest, a 70 000-character string) is cut to a
/// window so the caret display stays one screen wide.
const EXCERPT_CHARS: usize = 100;

/// The part of `line` shown under a diagnostic and the caret's offset in it
/// (0-based characters) for 1-based `column`: the whole line when it is
/// short, otherwise a window of [`EXCERPT_CHARS`] around the column with
/// `…` where text was cut.
fn excerpt(line: &str, column: usize) -> (String, usize) {
    let chars = line.chars().count();
    let at = column.saturating_sub(1).min(chars);
    if chars <= EXCERPT_CHARS {
        return (line.to_string(), at);
    }
    let start = at.saturating_sub(EXCERPT_CHARS / 2);
    let end = (start + EXCERPT_CHARS).min(chars);
    let mut text = String::new();
    let mut caret = at - start;
    if start > 0 {
        text.push('…');
        caret += 1;
    }
    text.extend(line.chars().skip(start).take(end - start));
    if end < chars {
        text.push('…');
    }
    (text, caret)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", escaped(&self.message))?;
        if let Some(loc) = &self.location {
            write!(f, "\n  --> {}", escaped(&loc.to_string()))?;
            if !loc.line_text.is_empty() {
                let gutter = loc.line.to_string().len();
                let (text, caret) = excerpt(&loc.line_text, loc.column);
                write!(
                    f,
                    "\n {:gutter$} |\n {} | {}\n {:gutter$} | {}^",
                    "",
                    loc.line,
                    escaped(&text),
                    "",
                    " ".repeat(caret),
                )?;
            }
        }
        if let Some(help) = &self.help {
            for (i, line) in escaped(help).lines().enumerate() {
                if i == 0 {
                    write!(f, "\n  = help: {line}")?;
                } else {
                    write!(f, "\n          {line}")?;
                }
            }
        }
        Ok(())
    }
}

/// Names in backquotes, comma-separated: "`a`, `b`" — how every weld
/// message lists components, hosts, interfaces and functions.
pub fn quoted<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A count and its noun, singular for one: `plural(1, "link")` is
/// "1 link", `plural(4, "link")` "4 links" — how every weld message counts
/// things. The plural adds an `s`, right for every noun weld counts.
///
/// ```
/// use weld_linker::diagnostic::plural;
/// assert_eq!(plural(1, "component"), "1 component");
/// assert_eq!(plural(0, "error"), "0 errors");
/// ```
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// An error and every cause under it, joined by `: ` — how weld shows an
/// error on one line (a message names what failed; its source says why).
///
/// ```
/// # use weld_linker::diagnostic::chain;
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot read `x`")]
/// struct Read(#[source] std::io::Error);
/// assert_eq!(chain(&Read(io)), "cannot read `x`: gone");
/// ```
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// All the diagnostics of one run; weld reports every error at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let src = "a = 1\nbb = 2\n";
        let loc = Location::from_offset(Path::new("w.toml"), src, 7);
        assert_eq!((loc.line, loc.column), (2, 2));
        assert_eq!(loc.line_text, "bb = 2");
        assert_eq!(loc.to_string(), "w.toml:2:2");
    }

    #[test]
    fn a_column_past_any_width_is_shown_in_a_window() {
        // Column 70 004 once panicked: a format width is at most 65 535.
        let src = format!("a = \"{}\n", "x".repeat(70_000));
        let loc = Location::from_offset(Path::new("m.toml"), &src, 70_004);
        assert_eq!(loc.column, 70_005);
        let shown = Diagnostic::new("bad").at(Some(loc)).to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() < 130), "{shown}");
        // The caret sits under the character the column names.
        let text = lines[3].split_once(" | ").unwrap().1;
        let caret = lines[4].split_once(" | ").unwrap().1;
        assert_eq!(caret.chars().count(), text.chars().count());
        assert!(text.starts_with('…') && !text.ends_with('…'), "{text}");
        let short = Diagnostic::new("bad")
            .at(Some(Location::from_offset(
                Path::new("m.toml"),
                "ab = 1\n",
                3,
            )))
            .to_string();
        assert!(short.ends_with(" |    ^"), "{short}");
    }

    #[test]
    fn offsets_past_the_end_do_not_panic() {
        let loc = Location::from_offset(Path::new("w.toml"), "é", 1);
        assert_eq!(loc.line, 1);
        let loc = Location::from_offset(Path::new("w.toml"), "", 10);
        assert_eq!((loc.line, loc.column), (1, 1));
    }
}
