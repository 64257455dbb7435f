//! `ApiJson<T>`: reads the body as JSON whatever the Content-Type (as Ollama does) and turns
//! every failure into a 400 that names the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::bad("request body too large")
            } else {
                ApiError::bad(format!("cannot read request body: {e}"))
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a body, naming the path of a field with the wrong type. The body must be one JSON
/// object: serde would otherwise fill a request from an array (`["model", "prompt"]`) and
/// ignore whatever follows the first value (`{...}{...}`), which Ollama's Go decoder refuses
/// or never sees; unknown fields are still ignored, as Ollama ignores them.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::bad("missing request body")),
        Some(b'{') => {}
        Some(_) => return Err(ApiError::bad("invalid request: the body must be a JSON object")),
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad(format!("invalid JSON: {inner}"))
        } else if path == "." || path.is_empty() {
            ApiError::bad(format!("invalid request: {inner}"))
        } else {
            ApiError::bad(format!("invalid value for {path:?}: {inner}"))
        }
    })?;
    de.end().map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ollmlx_api::ollama::GenerateRequest;

    #[test]
    fn errors_name_the_field() {
        let e = parse::<GenerateRequest>(br#"{"model":"m","stream":"yes"}"#).err().unwrap().to_string();
        assert!(e.contains("\"stream\""), "{e}");
        let e = parse::<GenerateRequest>(br#"{"model":"m","options":{"top_p":"x"}}"#).err().unwrap().to_string();
        assert!(e.contains("top_p"), "{e}");
        let e = parse::<GenerateRequest>(b"{not json").err().unwrap().to_string();
        assert!(e.starts_with("invalid JSON"), "{e}");
        assert_eq!(parse::<GenerateRequest>(b"  ").err().unwrap().to_string(), "missing request body");
    }

    #[test]
    fn one_object_only() {
        for bad in [&br#"["m", "p"]"#[..], b"42", b"null", br#"{"model":"m"}{"model":"n"}"#, br#"{"model":"m"} x"#] {
            let e = parse::<GenerateRequest>(bad).err().unwrap().to_string();
            assert!(e.contains("JSON object") || e.contains("trailing characters"), "{e}");
        }
        let ok = parse::<GenerateRequest>(b" {\"model\":\"m\",\"unknown\":[1]}\r\n").unwrap();
        assert_eq!(ok.model, "m");
    }
}
