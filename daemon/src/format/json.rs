//! A byte-level JSON prefix matcher driven by a compiled [`Schema`]: `feed` accepts a byte
//! only when the text so far can still become a valid document. The token constraint tries
//! each vocabulary entry's bytes on a copy of the state.

use std::sync::Arc;

use super::schema::{Node, NodeId, Schema};

/// Most whitespace bytes in a row: enough for pretty-printing, but a model cannot stall in
/// whitespace forever.
const MAX_WS: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjState {
    /// After `{`: a key or `}`.
    Start,
    /// After `,`: a key.
    Key,
    /// After a key: `:`.
    Colon(Option<usize>),
    /// After a value: `,` or `}`.
    Next,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrState {
    Start,
    Value,
    Next,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumState {
    Sign,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl NumState {
    fn terminal(self) -> bool {
        matches!(self, NumState::Zero | NumState::Int | NumState::Frac | NumState::ExpDigits)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// A value of this node is expected.
    Value(NodeId),
    Obj { node: NodeId, state: ObjState, seen: u64 },
    /// Inside a key of the object below it on the stack.
    Key { buf: Vec<u8>, escape: u8 },
    Arr { node: NodeId, state: ArrState },
    /// Inside a string; `buf` only when an enum limits it.
    Str { choices: Option<NodeId>, buf: Vec<u8>, escape: u8 },
    Num { integer: bool, state: NumState },
    Lit { rest: &'static [u8] },
}

/// The matcher state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Matcher {
    schema: Arc<Schema>,
    stack: Vec<Frame>,
    ws: u8,
    done: bool,
}

impl Matcher {
    /// A matcher expecting one document of `schema`.
    pub fn new(schema: Arc<Schema>) -> Matcher {
        Matcher { schema, stack: vec![Frame::Value(0)], ws: 0, done: false }
    }

    /// True when a whole document has been read.
    pub fn is_complete(&self) -> bool {
        self.done || matches!(self.stack.as_slice(), [Frame::Num { state, .. }] if state.terminal())
    }

    /// Feeds a byte; false (state unchanged or garbage) when it cannot continue a document.
    pub fn feed(&mut self, b: u8) -> bool {
        if self.done {
            return false;
        }
        let Some(top) = self.stack.last_mut() else { return false };
        let is_ws = matches!(b, b' ' | b'\n' | b'\t' | b'\r');
        let between = matches!(top, Frame::Value(_) | Frame::Obj { .. } | Frame::Arr { .. });
        if between && is_ws {
            self.ws += 1;
            return self.ws <= MAX_WS;
        }
        self.ws = 0;
        match top.clone() {
            Frame::Value(node) => self.start_value(node, b),
            Frame::Obj { node, state, seen } => self.obj(node, state, seen, b),
            Frame::Key { buf, escape } => self.key(buf, escape, b),
            Frame::Arr { node, state } => self.arr(node, state, b),
            Frame::Str { choices, buf, escape } => self.string(choices, buf, escape, b),
            Frame::Num { integer, state } => self.num(integer, state, b),
            Frame::Lit { rest } => match rest.split_first() {
                Some((&c, tail)) if c == b => {
                    if tail.is_empty() {
                        self.complete();
                    } else {
                        self.replace(Frame::Lit { rest: tail });
                    }
                    true
                }
                _ => false,
            },
        }
    }

    fn replace(&mut self, f: Frame) {
        if let Some(top) = self.stack.last_mut() {
            *top = f;
        }
    }

    /// The value on top is finished: pop it and advance its container.
    fn complete(&mut self) {
        self.stack.pop();
        match self.stack.last_mut() {
            None => self.done = true,
            Some(Frame::Obj { state, .. }) => *state = ObjState::Next,
            Some(Frame::Arr { state, .. }) => *state = ArrState::Next,
            Some(_) => {}
        }
    }

    fn start_value(&mut self, node: NodeId, b: u8) -> bool {
        let Some(frame) = self.open(node, b) else { return false };
        self.replace(frame);
        true
    }

    /// The frame a value of `node` starting with `b` opens.
    fn open(&self, node: NodeId, b: u8) -> Option<Frame> {
        let any_obj = || Frame::Obj { node: usize::MAX, state: ObjState::Start, seen: 0 };
        match self.schema.nodes.get(node).unwrap_or(&Node::Any) {
            Node::Union(alts) => alts.iter().find_map(|a| self.open(*a, b)),
            Node::Any => match b {
                b'{' => Some(any_obj()),
                b'[' => Some(Frame::Arr { node: usize::MAX, state: ArrState::Start }),
                b'"' => Some(Frame::Str { choices: None, buf: Vec::new(), escape: 0 }),
                b'-' | b'0'..=b'9' => Some(num_start(false, b)),
                b't' => Some(Frame::Lit { rest: b"rue" }),
                b'f' => Some(Frame::Lit { rest: b"alse" }),
                b'n' => Some(Frame::Lit { rest: b"ull" }),
                _ => None,
            },
            Node::Object { .. } if b == b'{' => Some(Frame::Obj { node, state: ObjState::Start, seen: 0 }),
            Node::Array(_) if b == b'[' => Some(Frame::Arr { node, state: ArrState::Start }),
            Node::Str(choices) if b == b'"' => Some(Frame::Str {
                choices: choices.as_ref().map(|_| node),
                buf: Vec::new(),
                escape: 0,
            }),
            Node::Number(integer) if b == b'-' || b.is_ascii_digit() => Some(num_start(*integer, b)),
            Node::Bool if b == b't' => Some(Frame::Lit { rest: b"rue" }),
            Node::Bool if b == b'f' => Some(Frame::Lit { rest: b"alse" }),
            Node::Null if b == b'n' => Some(Frame::Lit { rest: b"ull" }),
            _ => None,
        }
    }

    /// Known properties of an object node (empty for free objects) and whether others are allowed.
    fn props(&self, node: NodeId) -> (&[(String, NodeId)], &[String], bool) {
        match self.schema.nodes.get(node) {
            Some(Node::Object { props, required, additional }) => (props, required, *additional),
            _ => (&[], &[], true),
        }
    }

    fn obj(&mut self, node: NodeId, state: ObjState, seen: u64, b: u8) -> bool {
        let (props, required, additional) = self.props(node);
        let unseen = props.iter().enumerate().any(|(i, _)| seen & (1 << i) == 0);
        let all_required = required.iter().all(|r| props.iter().position(|(n, _)| n == r).is_some_and(|i| seen & (1 << i) != 0));
        match (state, b) {
            (ObjState::Start | ObjState::Next, b'}') if all_required => {
                self.complete();
                true
            }
            (ObjState::Start | ObjState::Key, b'"') if additional || unseen => {
                self.stack.push(Frame::Key { buf: Vec::new(), escape: 0 });
                true
            }
            (ObjState::Next, b',') if additional || unseen => {
                self.replace(Frame::Obj { node, state: ObjState::Key, seen });
                true
            }
            (ObjState::Colon(prop), b':') => {
                let value_node = prop.map_or(self.any_node(), |i| props[i].1);
                let seen = prop.map_or(seen, |i| seen | (1 << i));
                self.replace(Frame::Obj { node, state: ObjState::Next, seen });
                self.stack.push(Frame::Value(value_node));
                true
            }
            _ => false,
        }
    }

    /// A node id that accepts anything: ids past the table read as [`Node::Any`].
    fn any_node(&self) -> NodeId {
        usize::MAX
    }

    fn key(&mut self, mut buf: Vec<u8>, escape: u8, b: u8) -> bool {
        let n = self.stack.len();
        let Some(Frame::Obj { node, seen, .. }) = self.stack.get(n.wrapping_sub(2)).cloned() else { return false };
        let (props, _, additional) = self.props(node);
        let candidates = || props.iter().enumerate().filter(|(i, _)| seen & (1 << i) == 0);
        if escape == 0 && b == b'"' {
            let exact = candidates().find(|(_, (name, _))| name.as_bytes() == buf.as_slice()).map(|(i, _)| i);
            // A key already used is refused even for free objects with known properties.
            let dup = props.iter().enumerate().any(|(i, (name, _))| seen & (1 << i) != 0 && name.as_bytes() == buf.as_slice());
            if dup || (exact.is_none() && !additional) {
                return false;
            }
            self.stack.pop();
            self.replace(Frame::Obj { node, state: ObjState::Colon(exact), seen });
            return true;
        }
        let Some(escape) = string_byte(escape, b) else { return false };
        buf.push(b);
        if !additional && !candidates().any(|(_, (name, _))| name.as_bytes().starts_with(&buf)) {
            return false;
        }
        self.replace(Frame::Key { buf, escape });
        true
    }

    fn arr(&mut self, node: NodeId, state: ArrState, b: u8) -> bool {
        let items = match self.schema.nodes.get(node) {
            Some(Node::Array(items)) => *items,
            _ => self.any_node(),
        };
        match (state, b) {
            (ArrState::Start | ArrState::Next, b']') => {
                self.complete();
                true
            }
            (ArrState::Next, b',') => {
                self.replace(Frame::Arr { node, state: ArrState::Value });
                true
            }
            (ArrState::Start | ArrState::Value, _) => {
                let Some(frame) = self.open(items, b) else { return false };
                self.replace(Frame::Arr { node, state: ArrState::Next });
                self.stack.push(frame);
                true
            }
            _ => false,
        }
    }

    fn string(&mut self, choices: Option<NodeId>, mut buf: Vec<u8>, escape: u8, b: u8) -> bool {
        let values = match choices.and_then(|c| self.schema.nodes.get(c)) {
            Some(Node::Str(Some(v))) => Some(v),
            _ => None,
        };
        if escape == 0 && b == b'"' {
            if values.is_some_and(|v| !v.iter().any(|s| s.as_bytes() == buf.as_slice())) {
                return false;
            }
            self.complete();
            return true;
        }
        let Some(escape) = string_byte(escape, b) else { return false };
        if let Some(values) = values {
            buf.push(b);
            if escape != 0 || !values.iter().any(|s| s.as_bytes().starts_with(&buf)) {
                return false;
            }
        }
        self.replace(Frame::Str { choices, buf, escape });
        true
    }

    fn num(&mut self, integer: bool, state: NumState, b: u8) -> bool {
        use NumState as N;
        let next = match (state, b) {
            (N::Sign, b'0') => Some(N::Zero),
            (N::Sign, b'1'..=b'9') => Some(N::Int),
            (N::Int, b'0'..=b'9') => Some(N::Int),
            (N::Zero | N::Int, b'.') if !integer => Some(N::Dot),
            (N::Dot | N::Frac, b'0'..=b'9') => Some(N::Frac),
            (N::Zero | N::Int | N::Frac, b'e' | b'E') if !integer => Some(N::Exp),
            (N::Exp, b'+' | b'-') => Some(N::ExpSign),
            (N::Exp | N::ExpSign | N::ExpDigits, b'0'..=b'9') => Some(N::ExpDigits),
            _ => None,
        };
        if let Some(state) = next {
            self.replace(Frame::Num { integer, state });
            return true;
        }
        if !state.terminal() || self.stack.len() == 1 {
            return false;
        }
        // The number ended at this byte: close it and let the container read the byte.
        self.complete();
        self.feed(b)
    }
}

fn num_start(integer: bool, b: u8) -> Frame {
    let state = match b {
        b'-' => NumState::Sign,
        b'0' => NumState::Zero,
        _ => NumState::Int,
    };
    Frame::Num { integer, state }
}

/// The escape state after `b` inside a string, or None when `b` is not allowed there.
/// 0 = plain, 1 = after a backslash, 2..=5 = hex digits of `\u` still to come.
fn string_byte(escape: u8, b: u8) -> Option<u8> {
    match escape {
        0 if b == b'\\' => Some(1),
        0 if b < 0x20 => None,
        0 => Some(0),
        1 if b == b'u' => Some(5),
        1 if b"\"\\/bfnrt".contains(&b) => Some(0),
        2..=5 if b.is_ascii_hexdigit() => Some(if escape == 2 { 0 } else { escape - 1 }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accepts(schema: &Schema, text: &str) -> bool {
        let mut m = Matcher::new(Arc::new(schema.clone()));
        text.bytes().all(|b| m.feed(b)) && m.is_complete()
    }

    #[test]
    fn any_object() {
        let s = Schema::any_object();
        for ok in [r#"{}"#, r#"{"a": 1, "b": [true, null, -1.5e3, "x\"y"], "c": {"d": {}}}"#, "{ \"k\" : \"\\u00e9\" }"] {
            assert!(accepts(&s, ok), "{ok}");
        }
        for bad in [r#"[1]"#, r#"{"a" 1}"#, r#"{"a":01}"#, r#"{"a":tru}"#, r#"{"a":1,}"#, r#"{} x"#, "{\"a\":\"\n\"}"] {
            assert!(!accepts(&s, bad), "{bad}");
        }
    }

    #[test]
    fn schema_properties_required_enum() {
        let s = Schema::compile(&json!({
            "type":"object",
            "properties":{"name":{"type":"string"},"age":{"type":"integer"},"kind":{"enum":["cat","dog"]},
                          "tags":{"type":"array","items":{"type":"number"}}},
            "required":["name","age"]
        }))
        .unwrap();
        assert!(accepts(&s, r#"{"name":"x","age":3}"#));
        assert!(accepts(&s, r#"{"age":3,"name":"x","kind":"dog","tags":[1,2.5]}"#));
        assert!(!accepts(&s, r#"{"name":"x"}"#), "age is required");
        assert!(!accepts(&s, r#"{"name":"x","age":3.5}"#), "integer");
        assert!(!accepts(&s, r#"{"name":"x","age":3,"kind":"cow"}"#), "enum");
        assert!(!accepts(&s, r#"{"name":"x","age":3,"extra":1}"#), "no unknown keys");
        assert!(!accepts(&s, r#"{"name":"x","name":"y","age":1}"#), "no duplicate keys");
        assert!(!accepts(&s, r#"{"name":1,"age":3}"#), "string type");
    }

    #[test]
    fn whitespace_is_bounded() {
        let s = Schema::any_object();
        assert!(accepts(&s, "{\n  \"a\": 1\n}"));
        assert!(!accepts(&s, "{          }"));
    }
}
