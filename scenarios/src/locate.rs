//! Where in a scenario file an error is, and the source snippet that shows it.
//!
//! Syntax errors come with RON's `line:column`; semantic errors (stage two) name a field path
//! such as `protocol.Raft.election_timeout`, `faults.Script[2].do.Crash` or
//! `faults.Script[0].do.Partition.Groups[1][0]`. [`locate_path`] finds that path in the text with
//! a small tokenizer of RON's structure (identifiers, strings, numbers, brackets, `:` and `,`;
//! comments skipped), so that both kinds of error point at the text the way rustc does, with
//! the offending line and a caret under the span ([`snippet`], rendered by annotate-snippets).
//! When a path's last segments are not written in the file (a defaulted field, a tuple
//! variant's positional argument), the longest prefix that is written is shown.

use annotate_snippets::{Level, Renderer, Snippet};
use std::ops::Range;

/// One token of RON structure, with its byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    Identifier(&'a str),
    /// A string, number, character or other literal.
    Literal,
    Open(char),
    Close(char),
    Colon,
    Comma,
}

fn tokens(text: &str) -> Vec<(Token<'_>, Range<usize>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.push((Token::Literal, start..i));
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                out.push((Token::Open(c as char), start..i));
            }
            b')' | b']' | b'}' => {
                i += 1;
                out.push((Token::Close(c as char), start..i));
            }
            b':' => {
                i += 1;
                out.push((Token::Colon, start..i));
            }
            b',' => {
                i += 1;
                out.push((Token::Comma, start..i));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push((Token::Identifier(&text[start..i]), start..i));
            }
            _ => {
                // Numbers, signs, characters and anything else: one literal up to a delimiter.
                i += 1;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\n' | b'\r' | b',' | b')' | b']' | b'}' | b'(' | b'['
                    )
                {
                    i += 1;
                }
                out.push((Token::Literal, start..i));
            }
        }
    }
    out
}

/// One step of a field path.
#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    /// `name` (a field) or `Name` (a variant).
    Name(&'a str),
    /// `[n]`.
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(bracket) => (&part[..bracket], &part[bracket..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Name(name));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            match stripped[..end].parse() {
                Ok(index) => out.push(Segment::Index(index)),
                Err(_) => break,
            }
            rest = &stripped[end + 1..];
        }
    }
    out
}

/// The index of the token closing the container opened at `open`.
fn matching_close(tokens: &[(Token<'_>, Range<usize>)], open: usize) -> usize {
    let mut depth = 0usize;
    for (index, (token, _)) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Open(_) => depth += 1,
            Token::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

/// The index just inside the container that the value at `at` opens (`Name(` or `(`/`[`).
fn enter(tokens: &[(Token<'_>, Range<usize>)], at: usize) -> Option<usize> {
    let open = match tokens.get(at)? {
        (Token::Identifier(_), _) => at + 1,
        _ => at,
    };
    matches!(tokens.get(open)?.0, Token::Open(_)).then_some(open + 1)
}

/// The items of the container whose contents start at `inside`: the index of each item's first
/// token, at the container's own depth.
fn items(tokens: &[(Token<'_>, Range<usize>)], inside: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut expecting_item = true;
    for (index, (token, _)) in tokens.iter().enumerate().skip(inside) {
        match token {
            Token::Close(_) if depth == 0 => break,
            Token::Comma if depth == 0 => expecting_item = true,
            _ => {
                if expecting_item && depth == 0 {
                    out.push(index);
                    expecting_item = false;
                }
                match token {
                    Token::Open(_) => depth += 1,
                    Token::Close(_) => depth -= 1,
                    _ => {}
                }
            }
        }
    }
    out
}

/// The byte range of the value starting at token `at`: a name and its parentheses, a
/// container, or one literal.
fn value_range(tokens: &[(Token<'_>, Range<usize>)], at: usize) -> Range<usize> {
    let start = tokens[at].1.start;
    let last = match (&tokens[at].0, tokens.get(at + 1)) {
        (Token::Identifier(_), Some((Token::Open(_), _))) => matching_close(tokens, at + 1),
        (Token::Open(_), _) => matching_close(tokens, at),
        _ => at,
    };
    start..tokens[last].1.end
}

/// The byte range of the value at `path` in `text`, or of its longest prefix that the text
/// writes; `None` when not even the first segment is there.
pub fn locate_path(text: &str, path: &str) -> Option<Range<usize>> {
    let tokens = tokens(text);
    // The top-level value: `Scenario(...)` or `(...)`.
    let mut at = 0;
    tokens.first()?;
    let mut found: Option<usize> = None;
    for segment in segments(path) {
        let next = match segment {
            Segment::Name(name) => {
                if matches!(tokens.get(at), Some((Token::Identifier(id), _)) if *id == name)
                    && found.is_some()
                {
                    // A variant: the value at hand is `Name(...)` itself.
                    Some(at)
                } else {
                    let inside = enter(&tokens, at)?;
                    items(&tokens, inside).into_iter().find_map(|item| {
                        match (&tokens[item].0, tokens.get(item + 1), tokens.get(item + 2)) {
                            // A field: `name: value`.
                            (Token::Identifier(id), Some((Token::Colon, _)), Some(_))
                                if *id == name =>
                            {
                                Some(item + 2)
                            }
                            // A variant inside a variant: `Partition(Groups(...))`.
                            (Token::Identifier(id), _, _) if *id == name => Some(item),
                            _ => None,
                        }
                    })
                }
            }
            Segment::Index(index) => {
                let mut inside = enter(&tokens, at);
                // `Script([...])`: the list inside the variant.
                if let (Some(first), Some((Token::Identifier(_), _))) = (inside, tokens.get(at)) {
                    if matches!(tokens.get(first), Some((Token::Open('['), _))) {
                        inside = Some(first + 1);
                    }
                }
                inside.and_then(|inside| items(&tokens, inside).get(index).copied())
            }
        };
        match next {
            Some(next) => {
                at = next;
                found = Some(next);
            }
            None => break,
        }
    }
    found.map(|at| value_range(&tokens, at))
}

/// The byte range of the token at `offset`: a string to its closing quote, a word, or one
/// character.
pub fn token_at(text: &str, offset: usize) -> Range<usize> {
    let rest = &text[offset.min(text.len())..];
    let length = match rest.chars().next() {
        None => 0,
        Some('"') => rest[1..].find('"').map_or(rest.len(), |end| end + 2),
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(rest.len()),
        Some(c) => c.len_utf8(),
    };
    offset..offset + length
}

/// 1-based `(line, column)` of a byte offset, columns in characters.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = 1 + before.matches('\n').count();
    let column = 1 + before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count());
    (line, column)
}

/// The source lines around `span` with a caret under it, the way rustc shows them: ` --> origin:
/// line:column`, the line, and `^^^` under the span labelled `label`. Empty for an empty text.
pub fn snippet(text: &str, origin: &str, span: Range<usize>, label: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let end = span.end.min(text.len());
    let start = span.start.min(end);
    // One line at most: a multi-line value is marked on its first line.
    let line_end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    let span = start..end.min(line_end).max(start);
    let message = Level::Error.title("").snippet(
        Snippet::source(text)
            .line_start(1)
            .origin(origin)
            .fold(true)
            .annotation(Level::Error.span(span).label(label)),
    );
    let rendered = Renderer::plain().render(message).to_string();
    // The first line is the (empty) title: the caller's message already says what is wrong.
    rendered
        .split_once('\n')
        .map_or(String::new(), |(_, rest)| rest.to_string())
}

/// The byte offset of the opening quote of the first string literal that starts before
/// `before` and runs over a line end. Scenario strings (durations, ratios, names) are one line,
/// so such a string lost its closing quote: RON reads on to the next quote and reports an error
/// lines later, where nothing is wrong. Comments (`//`, `/* */`) are skipped.
pub fn string_across_lines(text: &str, before: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() && index <= before {
        match bytes[index] {
            b'/' if bytes.get(index + 1) == Some(&b'/') => {
                index = text[index..].find('\n').map_or(bytes.len(), |n| index + n);
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = text[index + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| index + 2 + n + 2);
            }
            b'"' => {
                let open = index;
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    match bytes[index] {
                        b'\\' => index += 2,
                        b'\n' => return Some(open),
                        _ => index += 1,
                    }
                }
                index += 1;
            }
            _ => index += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_across_lines_is_found_at_its_opening_quote() {
        let text = "Scenario(\n  name: \"abc,\n  duration: \"10s\",\n)";
        assert_eq!(string_across_lines(text, text.len()), Some(18));
        // Closed strings, escaped quotes and quotes in comments are not.
        let fine = "// a \"quote\n(name: \"a\\\"b\", /* \" */ d: \"1s\")";
        assert_eq!(string_across_lines(fine, fine.len()), None);
        // Only strings that open before the error count.
        assert_eq!(string_across_lines(text, 10), None);
    }

    const TEXT: &str = r#"// a comment with Raft( in it
Scenario(
    protocol: Raft(election_timeout: ("10ms", "5ms"), heartbeat: "50ms"),
    nodes: 0,
    faults: Script([
        (at: "1s", do: Crash(7)),
        (at: "2s", do: Partition(Groups([[0, 1], [1, 2]]))),
    ]),
)"#;

    fn at(path: &str) -> &'static str {
        let range = locate_path(TEXT, path).unwrap_or_else(|| panic!("{path} not found"));
        &TEXT[range]
    }

    #[test]
    fn paths_are_found_where_the_file_writes_them() {
        assert_eq!(at("nodes"), "0");
        assert_eq!(at("protocol.Raft.election_timeout"), r#"("10ms", "5ms")"#);
        assert_eq!(at("protocol.Raft.heartbeat"), r#""50ms""#);
        assert_eq!(at("faults.Script[0].do.Crash"), "Crash(7)");
        // A positional argument has no name in the text: its variant is shown.
        assert_eq!(at("faults.Script[0].do.Crash.node"), "Crash(7)");
        assert_eq!(at("faults.Script[1].do.Partition.Groups[1][0]"), "1");
        // A defaulted field is not in the text: the longest written prefix is shown.
        assert_eq!(
            locate_path(TEXT, "protocol.Raft.pre_vote"),
            locate_path(TEXT, "protocol.Raft")
        );
        assert_eq!(locate_path(TEXT, "clients.count"), None);
    }

    #[test]
    fn a_snippet_shows_the_line_and_a_caret_under_the_span() {
        let range = locate_path(TEXT, "nodes").unwrap();
        let (line, column) = line_column(TEXT, range.start);
        assert_eq!((line, column), (4, 12));
        let text = snippet(TEXT, "t.ron", range, "expected 1 to 64");
        assert!(text.contains("t.ron:4:12"), "{text}");
        assert!(text.contains("    nodes: 0,"), "{text}");
        assert!(text.contains("^ expected 1 to 64"), "{text}");
        assert_eq!(token_at(TEXT, TEXT.find("\"50ms\"").unwrap()).len(), 6);
    }
}
