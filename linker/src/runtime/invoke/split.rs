//! The text of a call cut into its parts before anything is parsed: the
//! target and the arguments (each argument's own span, so an error points
//! into the text the user wrote), and offsets turned into columns.

use super::{InvokeError, WRAPPER};
use std::ops::Range;

/// Splits `component.function(args)` into the trimmed text, the target
/// before `(` and the arguments inside the parentheses.
pub(super) fn split_call(text: &str) -> Result<(&str, &str, &str), InvokeError> {
    let text = text.trim();
    let open = text.find('(').ok_or_else(|| InvokeError::NoArguments {
        text: text.to_string(),
    })?;
    if !text.ends_with(')') {
        return Err(InvokeError::Unclosed {
            text: text.to_string(),
        });
    }
    Ok((text, &text[..open], &text[open + 1..text.len() - 1]))
}

/// A span of `f(args)` as a span of `args`.
pub(super) fn source_of(span: Range<usize>) -> Range<usize> {
    span.start.saturating_sub(WRAPPER.len())..span.end.saturating_sub(WRAPPER.len())
}

/// `text[span]`, or all of `text` when the span does not fit it.
pub(super) fn source_text(span: Range<usize>, text: &str) -> &str {
    text.get(span).unwrap_or(text)
}

/// The 1-based column, in characters, of byte `offset` of `text`.
pub(super) fn column(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].chars().count() + 1
}

/// The top-level arguments of an argument list, trimmed: split at the commas
/// outside brackets, strings, chars and comments. A trailing comma ends the
/// list without an empty last argument. Only used on text wave could not
/// parse, so it recovers from broken literals and brackets as best it can.
pub(super) fn split_arguments(args: &str) -> Vec<Range<usize>> {
    let bytes = args.as_bytes();
    let mut cuts = Vec::new();
    // The closing brackets awaited, innermost last. A closing bracket closes
    // the innermost open one of its kind and any left open inside it
    // (`{y: [2}`); one that matches none is ignored.
    let mut open = Vec::new();
    let mut i = 0;
    // The end of a quoted literal starting at `from` (after the opening
    // quote): after the closing `quote`, or at the end of the line.
    let literal_end = |from: usize, quote: u8| {
        let mut j = from;
        while j < bytes.len() && bytes[j] != b'\n' {
            match bytes[j] {
                b'\\' => j += 2,
                b if b == quote => return j + 1,
                _ => j += 1,
            }
        }
        j.min(bytes.len())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'(' => open.push(b')'),
            b'[' => open.push(b']'),
            b'{' => open.push(b'}'),
            close @ (b')' | b']' | b'}') => {
                if let Some(at) = open.iter().rposition(|t| *t == close) {
                    open.truncate(at);
                }
            }
            b',' if open.is_empty() => cuts.push(i..i + 1),
            b'"' if args[i..].starts_with("\"\"\"") => {
                i = args[i + 3..]
                    .find("\"\"\"")
                    .map_or(args.len(), |at| i + 3 + at + 3);
                continue;
            }
            b'"' => {
                i = literal_end(i + 1, b'"');
                continue;
            }
            // A char is one character or one escape; a lone `'` is skipped.
            b'\'' => {
                let one = args[i + 1..].chars().next().map_or(0, char::len_utf8);
                if bytes.get(i + 1) == Some(&b'\\') {
                    i = literal_end(i + 1, b'\'');
                    continue;
                }
                if one > 0 && bytes.get(i + 1 + one) == Some(&b'\'') {
                    i += one + 2;
                    continue;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = args[i..].find('\n').map_or(args.len(), |at| i + at);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in &cuts {
        pieces.push(start..cut.start);
        start = cut.end;
    }
    pieces.push(start..args.len());
    let trimmed: Vec<Range<usize>> = pieces
        .into_iter()
        .map(|r| {
            let piece = &args[r.clone()];
            let lead = piece.len() - piece.trim_start().len();
            r.start + lead..r.start + lead + piece.trim().len()
        })
        .collect();
    match trimmed.last() {
        // `()` and `(1, 2,)`.
        Some(last) if last.is_empty() && (cuts.is_empty() || trimmed.len() > 1) => {
            trimmed[..trimmed.len() - 1].to_vec()
        }
        _ => trimmed,
    }
}
