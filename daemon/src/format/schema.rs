//! JSON Schema (the subset `format` supports) compiled into a small node table the matcher
//! walks: object (properties, required, additionalProperties), array (items), string (enum),
//! number / integer, boolean, null, enum / const of scalars, and type unions / anyOf / oneOf
//! whose branches start with different characters.

use serde_json::Value;

/// Index of a node in [`Schema::nodes`].
pub type NodeId = usize;

/// One schema node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Any JSON value.
    Any,
    /// An object.
    Object {
        /// Known properties in order.
        props: Vec<(String, NodeId)>,
        /// Names that must appear before `}`.
        required: Vec<String>,
        /// Other keys allowed (values of any type).
        additional: bool,
    },
    /// An array of `items`.
    Array(NodeId),
    /// A string, optionally one of these values.
    Str(Option<Vec<String>>),
    /// A number; integers only when true.
    Number(bool),
    /// true / false.
    Bool,
    /// null.
    Null,
    /// One of several nodes, chosen by the first character.
    Union(Vec<NodeId>),
}

/// A compiled schema; node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The nodes.
    pub nodes: Vec<Node>,
}

/// The most properties an object schema may list (seen keys are a 64-bit mask).
pub const MAX_PROPS: usize = 64;

impl Schema {
    /// `format: "json"`: any JSON object at the top.
    pub fn any_object() -> Schema {
        Schema { nodes: vec![Node::Object { props: Vec::new(), required: Vec::new(), additional: true }] }
    }

    /// Compiles a JSON Schema object.
    pub fn compile(schema: &Value) -> Result<Schema, String> {
        let mut s = Schema { nodes: Vec::new() };
        s.add(schema, 0)?;
        Ok(s)
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn add(&mut self, v: &Value, depth: usize) -> Result<NodeId, String> {
        if depth > 32 {
            return Err("format schema is nested too deeply".into());
        }
        let Some(obj) = v.as_object() else {
            return match v {
                Value::Bool(true) => Ok(self.push(Node::Any)),
                _ => Err(format!("format schema: expected an object, got {v}")),
            };
        };
        let id = self.push(Node::Any);
        let node = if let Some(values) = obj.get("enum").and_then(Value::as_array) {
            self.enum_node(values, depth)?
        } else if let Some(c) = obj.get("const") {
            self.enum_node(std::slice::from_ref(c), depth)?
        } else if let Some(alts) = obj.get("anyOf").or_else(|| obj.get("oneOf")).and_then(Value::as_array) {
            Node::Union(alts.iter().map(|a| self.add(a, depth + 1)).collect::<Result<_, _>>()?)
        } else {
            match obj.get("type") {
                Some(Value::String(t)) => self.typed(t, obj, depth)?,
                Some(Value::Array(ts)) => {
                    let mut alts = Vec::new();
                    for t in ts {
                        let t = t.as_str().ok_or("format schema: type list must hold strings")?;
                        let node = self.typed(t, obj, depth)?;
                        alts.push(self.push(node));
                    }
                    Node::Union(alts)
                }
                None if obj.contains_key("properties") => self.typed("object", obj, depth)?,
                None => Node::Any,
                Some(other) => return Err(format!("format schema: bad type {other}")),
            }
        };
        self.nodes[id] = node;
        Ok(id)
    }

    fn typed(&mut self, t: &str, obj: &serde_json::Map<String, Value>, depth: usize) -> Result<Node, String> {
        Ok(match t {
            "object" => {
                let mut props = Vec::new();
                if let Some(p) = obj.get("properties").and_then(Value::as_object) {
                    for (name, sub) in p {
                        props.push((name.clone(), self.add(sub, depth + 1)?));
                    }
                }
                if props.len() > MAX_PROPS {
                    return Err(format!("format schema: at most {MAX_PROPS} properties per object"));
                }
                let required = obj
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                // Without listed properties any key is allowed; with them, only those (a
                // constrained model should not invent fields).
                let additional = props.is_empty()
                    || obj.get("additionalProperties").is_some_and(|a| a != &Value::Bool(false));
                Node::Object { props, required, additional }
            }
            "array" => {
                let items = match obj.get("items") {
                    Some(i) => self.add(i, depth + 1)?,
                    None => self.push(Node::Any),
                };
                Node::Array(items)
            }
            "string" => Node::Str(None),
            "number" => Node::Number(false),
            "integer" => Node::Number(true),
            "boolean" => Node::Bool,
            "null" => Node::Null,
            other => return Err(format!("format schema: unsupported type {other:?}")),
        })
    }

    fn enum_node(&mut self, values: &[Value], _depth: usize) -> Result<Node, String> {
        if values.iter().all(Value::is_string) {
            return Ok(Node::Str(Some(values.iter().filter_map(Value::as_str).map(str::to_string).collect())));
        }
        let mut alts = Vec::new();
        for v in values {
            let node = match v {
                Value::String(s) => Node::Str(Some(vec![s.clone()])),
                Value::Bool(_) => Node::Bool,
                Value::Null => Node::Null,
                Value::Number(n) => Node::Number(n.is_i64() || n.is_u64()),
                _ => return Err("format schema: enum values must be scalars".into()),
            };
            alts.push(self.push(node));
        }
        Ok(Node::Union(alts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_objects_and_unions() {
        let s = Schema::compile(&json!({
            "type":"object",
            "properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","b"]}},
                          "x":{"type":["string","null"]}},
            "required":["name"]
        }))
        .unwrap();
        let Node::Object { props, required, additional } = &s.nodes[0] else { panic!() };
        assert_eq!(props.len(), 4);
        assert_eq!(required, &["name"]);
        assert!(!additional);
        assert!(Schema::compile(&json!({"type":"tuple"})).is_err());
        assert!(Schema::compile(&json!(3)).is_err());
    }
}
