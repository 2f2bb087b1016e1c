//! Strict JSON bodies: one object, no duplicate keys, bounded nesting, no NUL characters.
//!
//! `serde_json::Value` keeps the last of two equal keys and a struct accepts an array in
//! place of an object (field by field, past `deny_unknown_fields`), so the body is read
//! through a visitor of our own first and only then shaped into the handler's type.

use axum::http::StatusCode;
use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::domain::error::FieldError;
use crate::http::error::ApiError;

/// Deepest nesting of arrays and objects accepted; real bodies use two or three levels.
pub const MAX_DEPTH: usize = 32;

const TOO_DEEP: &str = "portcullis:too_deep";
const DUPLICATE: &str = "portcullis:duplicate_key:";

/// Which top-level string fields may hold a NUL character: the login fields, which the
/// domain treats as an unknown account, so such attempts are counted like any failed login.
#[derive(Clone, Copy)]
pub enum NulRule {
    /// No string anywhere may hold NUL.
    Refuse,
    /// `email`, `username` and `password` at the top level may.
    LoginFields,
}

/// Parses a body with the error mapping described on [`super::ApiJson`].
pub fn parse<T: DeserializeOwned>(bytes: &[u8], nul: NulRule) -> Result<T, ApiError> {
    let value = strict_value(bytes)?;
    let Value::Object(map) = &value else {
        return Err(invalid("body", "invalid_type", "the body must be a JSON object"));
    };
    for (key, v) in map {
        let allowed = matches!(nul, NulRule::LoginFields) && matches!(key.as_str(), "email" | "username" | "password");
        if !allowed {
            check_nul(key, v)?;
        }
    }
    shape(value)
}

/// Reads any JSON value, refusing duplicate keys and deep nesting.
fn strict_value(bytes: &[u8]) -> Result<Value, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict(0).deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with(TOO_DEEP) || msg.starts_with("recursion limit exceeded") {
            ApiError::problem(
                StatusCode::BAD_REQUEST,
                "too_deep",
                format!("the JSON nests deeper than {MAX_DEPTH} levels"),
            )
        } else if let Some(rest) = msg.strip_prefix(DUPLICATE) {
            let key = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
            ApiError::problem(
                StatusCode::BAD_REQUEST,
                "duplicate_key",
                format!("the key {key:?} appears more than once in one object"),
            )
        } else {
            ApiError::problem(StatusCode::BAD_REQUEST, "malformed_json", "the body is not valid JSON")
        }
    })
}

/// Refuses NUL in any key or string below `path`: text columns of PostgreSQL cannot hold
/// it, and no field has a use for it.
fn check_nul(path: &str, value: &Value) -> Result<(), ApiError> {
    let refuse = || invalid(path, "nul_character", "must not contain a NUL character");
    match value {
        Value::String(s) if s.contains('\0') => Err(refuse()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_nul(&format!("{path}[{i}]"), v)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                return Err(refuse());
            }
            check_nul(&format!("{path}.{k}"), v)
        }),
        _ => Ok(()),
    }
}

fn invalid(field: &str, code: &str, message: &str) -> ApiError {
    ApiError::Problem {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "validation_failed",
        detail: "the request has invalid fields".into(),
        errors: vec![FieldError::new(field, code, message)],
    }
}

/// Shapes a checked object into `T`: wrong types, unknown and missing fields are a 422.
fn shape<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        // serde_path_to_error's path already ends with an unknown field's name, not a missing one's.
        let (field, code) = if msg.starts_with("unknown field `") {
            (path, "unknown_field")
        } else if let Some(name) = msg.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            (join_path(&path, name), "missing_field")
        } else {
            (if path == "." { "body".to_string() } else { path }, "invalid_type")
        };
        invalid(&field, code, &msg)
    })
}

fn join_path(path: &str, name: &str) -> String {
    if path.is_empty() || path == "." {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Builds a `Value` at a nesting depth, refusing what `serde_json::Value` would let pass.
struct Strict(usize);

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.0 >= MAX_DEPTH {
            return Err(A::Error::custom(TOO_DEEP));
        }
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict(self.0 + 1))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.0 >= MAX_DEPTH {
            return Err(A::Error::custom(TOO_DEEP));
        }
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format!("{DUPLICATE}{key}")));
            }
            let v = map.next_value_seed(Strict(self.0 + 1))?;
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Value, ApiError>) -> String {
        match r {
            Err(ApiError::Problem { code, errors, .. }) => {
                format!(
                    "{code}{}",
                    errors.first().map(|e| format!(":{}", e.code)).unwrap_or_default()
                )
            }
            other => format!("{:?}", other.map(|_| ()).err()),
        }
    }

    #[test]
    fn refuses_what_value_lets_pass() {
        assert_eq!(
            code(parse(br#"["a",null]"#, NulRule::Refuse)),
            "validation_failed:invalid_type"
        );
        assert_eq!(code(parse(br#"{"a":1,"a":2}"#, NulRule::Refuse)), "duplicate_key");
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            code(parse(format!("{{\"a\":{deep}}}").as_bytes(), NulRule::Refuse)),
            "too_deep"
        );
        let deeper = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(code(parse(deeper.as_bytes(), NulRule::Refuse)), "too_deep");
        assert_eq!(
            code(parse(br#"{"a":"x\u0000"}"#, NulRule::Refuse)),
            "validation_failed:nul_character"
        );
        assert_eq!(
            code(parse(br#"{"a":{"b\u0000":1}}"#, NulRule::Refuse)),
            "validation_failed:nul_character"
        );
        assert_eq!(code(parse(br#"{"a":1} x"#, NulRule::Refuse)), "malformed_json");
        assert!(parse::<Value>(br#"{"email":"x\u0000"}"#, NulRule::LoginFields).is_ok());
        assert!(parse::<Value>(br#"{"tenant":"x\u0000"}"#, NulRule::LoginFields).is_err());
        assert!(parse::<Value>(br#"{"a":[1,2.5,{"b":null}],"c":true}"#, NulRule::Refuse).is_ok());
    }
}
