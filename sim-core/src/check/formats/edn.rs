//! Knossos/Jepsen EDN histories: one vector or list of operation maps, or a plain sequence of
//! maps. Maps whose `:process` is not an integer (the nemesis) are skipped. A CAS register of
//! Knossos starts at 0.
//!
//! A file whose first line is the comment [`NATIVE_SEMANTICS_LINE`] (what `faultline run --out`
//! writes to `history.edn`) keeps faultline's own semantics instead: objects start absent (nil)
//! and a read of nil saw the absent value, so it reads back with the verdict of the run.

use super::{infer_model, ParseError, ParsedHistory, SourcePosition};
use crate::check::{Dialect, Model};
use crate::history::{EventType, Function, HistoryEvent, Value};

/// The first line of an EDN history written by faultline: read with native semantics.
pub const NATIVE_SEMANTICS_LINE: &str =
    ";; faultline-semantics: native (objects start as nil; a read of nil saw the absent value)";

/// Nesting deeper than this is rejected (no history needs it; it bounds the recursion).
const DEPTH_MAX: usize = 64;

/// An EDN value with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    line: usize,
    kind: Edn,
}

#[derive(Clone, Debug, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// A number we do not interpret (float, ratio, big integer).
    Number(String),
    Str(String),
    Keyword(String),
    Symbol(String),
    Char(char),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: message.into(),
        }
    }

    fn skip_space(&mut self) {
        while self.at < self.text.len() {
            match self.text[self.at] {
                b'\n' => {
                    self.line += 1;
                    self.at += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.at += 1,
                b';' => {
                    while self.at < self.text.len() && self.text[self.at] != b'\n' {
                        self.at += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn is_delimiter(byte: u8) -> bool {
        matches!(
            byte,
            b' ' | b'\t'
                | b'\r'
                | b'\n'
                | b','
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'"'
                | b';'
        )
    }

    fn token(&mut self) -> String {
        let start = self.at;
        while self.at < self.text.len() && !Self::is_delimiter(self.text[self.at]) {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.text[start..self.at]).into_owned()
    }

    fn sequence(&mut self, close: u8, depth: usize) -> Result<Vec<Node>, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.at >= self.text.len() {
                return Err(self.error(format!(
                    "unexpected end of input: missing {:?}",
                    close as char
                )));
            }
            if self.text[self.at] == close {
                self.at += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > DEPTH_MAX {
            return Err(self.error("nesting too deep"));
        }
        self.skip_space();
        let line = self.line;
        let Some(&byte) = self.text.get(self.at) else {
            return Err(self.error("unexpected end of input"));
        };
        let kind = match byte {
            b'[' | b'(' => {
                self.at += 1;
                Edn::Seq(self.sequence(if byte == b'[' { b']' } else { b')' }, depth)?)
            }
            b'{' => {
                self.at += 1;
                let items = self.sequence(b'}', depth)?;
                if items.len() % 2 != 0 {
                    return Err(ParseError {
                        line,
                        message: "a map needs an even number of forms".into(),
                    });
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Edn::Map(pairs)
            }
            b'#' => {
                self.at += 1;
                match self.text.get(self.at) {
                    Some(b'{') => {
                        self.at += 1;
                        Edn::Seq(self.sequence(b'}', depth)?)
                    }
                    Some(b'_') => {
                        self.at += 1;
                        self.value(depth + 1)?; // discarded form
                        return self.value(depth + 1);
                    }
                    _ => {
                        // A tagged literal: #tag value; the tag is ignored.
                        let _tag = self.token();
                        return self.value(depth + 1);
                    }
                }
            }
            b')' | b']' | b'}' => return Err(self.error(format!("unexpected {:?}", byte as char))),
            b'"' => {
                self.at += 1;
                let mut bytes = Vec::new();
                loop {
                    let Some(&c) = self.text.get(self.at) else {
                        return Err(ParseError {
                            line,
                            message: "unterminated string".into(),
                        });
                    };
                    self.at += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let Some(&escaped) = self.text.get(self.at) else {
                                return Err(ParseError {
                                    line,
                                    message: "unterminated string".into(),
                                });
                            };
                            self.at += 1;
                            bytes.push(match escaped {
                                b'n' => b'\n',
                                b't' => b'\t',
                                b'r' => b'\r',
                                other => other,
                            });
                        }
                        b'\n' => {
                            self.line += 1;
                            bytes.push(c);
                        }
                        _ => bytes.push(c),
                    }
                }
                Edn::Str(String::from_utf8_lossy(&bytes).into_owned())
            }
            b'\\' => {
                self.at += 1;
                let token = self.token();
                let mut chars = token.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Edn::Char(c),
                    (None, _) => {
                        // `\` followed by a delimiter: that character itself.
                        let c = self.text.get(self.at).copied().unwrap_or(b' ') as char;
                        self.at += 1;
                        Edn::Char(c)
                    }
                    _ => Edn::Symbol(token),
                }
            }
            b':' => {
                // `"index":0`: a JSON object where EDN was expected (EDN has no `:` after a
                // string; its keys are keywords).
                if self.at > 0 && self.text[self.at - 1] == b'"' {
                    return Err(self.error("`\"name\":value` is JSON, not EDN (whose keys are keywords: `:process 0`): read a JSON history as --format native, one object per line"));
                }
                self.at += 1;
                let name = self.token();
                if name.is_empty() {
                    return Err(self.error("empty keyword"));
                }
                Edn::Keyword(name)
            }
            _ => {
                let token = self.token();
                if token.is_empty() {
                    return Err(self.error(format!("unexpected character {:?}", byte as char)));
                }
                match token.as_str() {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ => {
                        let first = token.as_bytes()[0];
                        let numeric = first.is_ascii_digit()
                            || ((first == b'-' || first == b'+')
                                && token.len() > 1
                                && token.as_bytes()[1].is_ascii_digit());
                        // Clojure writes a big integer with an `N` suffix (`5N`); one that
                        // fits in 64 bits is an integer like any other, a wider one is refused
                        // rather than read as something else.
                        let digits = token.strip_suffix('N').unwrap_or(&token);
                        let integer = digits.bytes().skip(1).all(|b| b.is_ascii_digit());
                        if numeric {
                            match digits.parse::<i64>() {
                                Ok(v) => Edn::Int(v),
                                Err(_) if integer => {
                                    return Err(self.error(format!(
                                        "integer {token} is outside the signed 64-bit range (faultline reads integers from -2^63 to 2^63 - 1)"
                                    )))
                                }
                                Err(_) => Edn::Number(token),
                            }
                        } else {
                            Edn::Symbol(token)
                        }
                    }
                }
            }
        };
        Ok(Node { line, kind })
    }
}

fn to_value(node: &Node) -> Result<Value, ParseError> {
    Ok(match &node.kind {
        Edn::Nil => Value::Null,
        Edn::Int(v) => Value::Int(*v),
        Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) | Edn::Number(s) => Value::Str(s.clone()),
        Edn::Bool(b) => Value::Str(b.to_string()),
        Edn::Char(c) => Value::Str(c.to_string()),
        Edn::Seq(items) => Value::List(items.iter().map(to_value).collect::<Result<_, _>>()?),
        Edn::Map(_) => {
            return Err(ParseError {
                line: node.line,
                message: "a map is not a supported operation value".into(),
            })
        }
    })
}

fn field<'a>(pairs: &'a [(Node, Node)], name: &str) -> Option<&'a Node> {
    pairs
        .iter()
        .find(|(k, _)| matches!(&k.kind, Edn::Keyword(n) if n == name))
        .map(|(_, v)| v)
}

/// Reads a Knossos/Jepsen EDN history.
///
/// # Errors
/// The first malformed form or operation map.
pub fn read(text: &str) -> Result<ParsedHistory, ParseError> {
    let mut parser = Parser {
        text: text.as_bytes(),
        at: 0,
        line: 1,
    };
    let mut forms = Vec::new();
    loop {
        parser.skip_space();
        if parser.at >= parser.text.len() {
            break;
        }
        forms.push(parser.value(0)?);
    }
    let records: Vec<Node> = match forms.as_slice() {
        [Node {
            kind: Edn::Seq(items),
            ..
        }] => items.clone(),
        _ => forms,
    };
    let mut events = Vec::new();
    let mut positions = Vec::new();
    // The last `:index` given and its line. Knossos's histories have none (operations are
    // numbered by position, as here); where they are given they must increase, as Jepsen's do.
    let mut last_index: Option<(i64, usize)> = None;
    for (ordinal, record) in records.iter().enumerate() {
        let line = record.line;
        let error = |message: String| ParseError { line, message };
        let Edn::Map(pairs) = &record.kind else {
            return Err(error("expected an operation map".into()));
        };
        match field(pairs, "index").map(|n| &n.kind) {
            None | Some(Edn::Nil) => {}
            Some(Edn::Int(index)) => {
                match last_index {
                    Some((previous, previous_line)) if *index == previous => {
                        return Err(error(format!(
                            ":index {index} again (line {previous_line} has it too): every operation needs its own index"
                        )))
                    }
                    Some((previous, previous_line)) if *index < previous => {
                        return Err(error(format!(
                            ":index {index} after :index {previous} (line {previous_line}): indices increase down the file, in real-time order"
                        )))
                    }
                    _ => {}
                }
                last_index = Some((*index, line));
            }
            Some(other) => {
                return Err(error(format!(
                    "expected an integer :index, found {other:?}"
                )))
            }
        }
        let process = match field(pairs, "process").map(|n| &n.kind) {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            Some(Edn::Int(p)) => return Err(error(format!("negative process {p}"))),
            Some(_) => continue, // the nemesis, or another non-client process
            None => return Err(error("operation without :process".into())),
        };
        let kind = match field(pairs, "type").map(|n| &n.kind) {
            Some(Edn::Keyword(t)) if t == "invoke" => EventType::Invoke,
            Some(Edn::Keyword(t)) if t == "ok" => EventType::Ok,
            Some(Edn::Keyword(t)) if t == "fail" => EventType::Fail,
            Some(Edn::Keyword(t)) if t == "info" => EventType::Info,
            other => {
                return Err(error(format!(
                    "expected :type :invoke, :ok, :fail or :info, found {other:?}"
                )))
            }
        };
        let f = match field(pairs, "f").map(|n| &n.kind) {
            Some(Edn::Keyword(f)) => match f.as_str() {
                "read" | "get" => Function::Read,
                "write" | "put" => Function::Write,
                "cas" => Function::Cas,
                "add" => Function::Add,
                "append" => Function::Append,
                "acquire" => Function::Acquire,
                "release" => Function::Release,
                "txn" => Function::Txn,
                other => return Err(error(format!("unknown operation :{other}"))),
            },
            other => return Err(error(format!("expected :f keyword, found {other:?}"))),
        };
        let value = match field(pairs, "value") {
            Some(node) => to_value(node)?,
            None => Value::Null,
        };
        let key = match field(pairs, "key").map(|n| &n.kind) {
            None | Some(Edn::Nil) => None,
            Some(Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s)) => Some(s.clone()),
            Some(Edn::Int(k)) => Some(k.to_string()),
            Some(other) => return Err(error(format!("unsupported :key {other:?}"))),
        };
        let time = match field(pairs, "time").map(|n| &n.kind) {
            Some(Edn::Int(t)) if *t >= 0 => *t as u64,
            _ => events.len() as u64,
        };
        let token = match field(pairs, "token").map(|n| &n.kind) {
            Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
            _ => None,
        };
        positions.push(SourcePosition { line, ordinal });
        events.push(HistoryEvent {
            index: events.len() as u64,
            time,
            process,
            kind,
            f,
            key,
            value,
            token,
        });
    }
    let default_model = match infer_model(&events) {
        Model::Kv if events.iter().any(|e| matches!(e.value, Value::Str(_))) => Model::KvAppend,
        model => model,
    };
    let native = text
        .lines()
        .next()
        .is_some_and(|line| line.trim_end() == NATIVE_SEMANTICS_LINE);
    let (dialect, initial) = if native {
        (Dialect::Native, Value::Null)
    } else {
        (Dialect::Knossos, Value::Int(0))
    };
    Ok(ParsedHistory {
        events,
        positions,
        dialect,
        default_model,
        initial,
    })
}
