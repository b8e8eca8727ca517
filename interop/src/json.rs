//! Just enough JSON output for one-line reports, without pulling in serde.

/// `s` as a JSON string literal, quotes included.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints `{"func":…,"result":…}` where `result` is already JSON.
pub fn result(func: &str, result: &str) {
    println!("{{\"func\":{},\"result\":{result}}}", string(func));
}

/// Prints `{"func":…,"ok":true}` or `{"func":…,"ok":false,"detail":…}`.
pub fn verdict(func: &str, failure: Option<&str>) {
    match failure {
        None => println!("{{\"func\":{},\"ok\":true}}", string(func)),
        Some(detail) => println!(
            "{{\"func\":{},\"ok\":false,\"detail\":{}}}",
            string(func),
            string(detail)
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::string("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\u0001é""#);
    }
}
