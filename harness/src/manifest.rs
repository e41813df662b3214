//! A submission's manifest, `sockcheck.toml`: for each program, the command of each role.
//!
//! ```toml
//! [echo3]
//! server = "python3 echo3_server.py"
//! client = "python3 echo3_client.py"
//! # addr = "127.0.0.1:8080"      # default: the suite's (SPEC.md's)
//! # weight = 10                   # its points in `--gradescope` (default: a point a case)
//! ```
//! `{host}`, `{port}` and `{addr}` in a command are replaced by the address.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub server: Option<String>,
    pub client: Option<String>,
    pub addr: Option<String>,
    pub weight: Option<f64>,
}

/// A program's implementation: the commands of the roles it provides, and its address.
#[derive(Debug, Clone, PartialEq)]
pub struct Implementation {
    pub server: Option<String>,
    pub client: Option<String>,
    pub addr: Option<SocketAddr>,
    /// Its points in a Gradescope report, shared among its cases.
    pub weight: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Bad { path: String, message: String },
}

/// The points of the programs that give a `weight`, for a Gradescope report.
pub fn weights(impls: &BTreeMap<String, Implementation>) -> BTreeMap<String, f64> {
    impls
        .iter()
        .filter_map(|(id, i)| Some((id.clone(), i.weight?)))
        .collect()
}

/// Reads a manifest and checks it against the known program ids.
pub fn load(
    path: &Path,
    known: &[&str],
) -> Result<BTreeMap<String, Implementation>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, known).map_err(|message| ManifestError::Bad {
        path: path.display().to_string(),
        message,
    })
}

pub fn parse(text: &str, known: &[&str]) -> Result<BTreeMap<String, Implementation>, String> {
    let raw: BTreeMap<String, Entry> =
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    if raw.is_empty() {
        return Err(
            "no program listed (add a table such as `[echo1]` with `server = \"...\"`)".into(),
        );
    }
    let mut out = BTreeMap::new();
    for (id, entry) in raw {
        if !known.contains(&id.as_str()) {
            return Err(format!(
                "unknown program `{id}` (known: {})",
                known.join(", ")
            ));
        }
        let command = |role: &str, c: Option<String>| -> Result<Option<String>, String> {
            match c {
                Some(c) if c.trim().is_empty() => {
                    Err(format!("`[{id}] {role}` is an empty command"))
                }
                other => Ok(other),
            }
        };
        let server = command("server", entry.server)?;
        let client = command("client", entry.client)?;
        if server.is_none() && client.is_none() {
            return Err(format!("`[{id}]` gives neither `server` nor `client`"));
        }
        let addr = entry
            .addr
            .map(|a| {
                a.parse::<SocketAddr>().map_err(|_| {
                    format!("`[{id}] addr`: bad address `{a}` (HOST:PORT, e.g. 127.0.0.1:8080)")
                })
            })
            .transpose()?;
        if let Some(w) = entry.weight {
            if !(w.is_finite() && w > 0.0) {
                return Err(format!(
                    "`[{id}] weight` is {w}: a number of points above 0"
                ));
            }
        }
        out.insert(
            id,
            Implementation {
                server,
                client,
                addr,
                weight: entry.weight,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["echo1", "echo2"];

    #[test]
    fn reads_roles_and_addresses() {
        let m = parse(
            "[echo1]\nserver = \"python3 s.py\"\naddr = \"127.0.0.1:9999\"\n[echo2]\nclient = \"python3 c.py\"\n",
            KNOWN,
        )
        .unwrap();
        assert_eq!(m["echo1"].server.as_deref(), Some("python3 s.py"));
        assert_eq!(m["echo1"].addr, Some("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(m["echo2"].server, None);
    }

    #[test]
    fn names_what_is_wrong() {
        for (text, needle) in [
            ("[echo9]\nserver = \"x\"\n", "unknown program `echo9`"),
            ("[echo1]\nsrever = \"x\"\n", "srever"),
            ("[echo1]\n", "neither `server` nor `client`"),
            ("[echo1]\nserver = \"\"\n", "empty command"),
            (
                "[echo1]\nserver = \"x\"\naddr = \"localhost\"\n",
                "bad address `localhost`",
            ),
            ("", "no program listed"),
            ("[echo1]\nserver = \"x\"\nweight = 0\n", "weight` is 0"),
            ("[echo1]\nserver = \"x\"\nweight = \"ten\"\n", "weight"),
            ("[echo1\n", "unclosed table"),
        ] {
            let e = parse(text, KNOWN).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
