//! Inputs made from a target's seeds: one seed, edited.
//!
//! Random bytes rarely get past the first byte of a TOML or YAML parser; edits of a
//! valid file reach the checks behind the syntax (missing keys, wrong types, values
//! out of range, odd escapes), where a parser is likelier to be wrong.

use bolero::generator::TypeGenerator;

/// Tokens that matter to the formats fuzzed, inserted whole.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"'",
    b"[",
    b"]",
    b"[[",
    b"]]",
    b"{",
    b"}",
    b"=",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\t",
    b"#",
    b"- ",
    b"  ",
    b"\\",
    b"\\u0000",
    b"\\x",
    b"0",
    b"-1",
    b"1e309",
    b"NaN",
    b"+Inf",
    b"-Inf",
    b"18446744073709551616",
    b"99999999999999999999d",
    b"0.000000001",
    b"true",
    b"null",
    b"~",
    b"&a",
    b"*a",
    b"!!str",
    b"---",
    b"...",
    b"=~",
    b"!=",
    b"!~",
    b"le=\"",
    b"_bucket",
    b"_count",
    b"_total",
    b"sum(",
    b"rate(",
    b"[5m]",
    b")",
    b" / ",
    b"ms",
    b"s",
    b"m",
    b"h",
    b"d",
    b"w",
    b"y",
    b"\xff",
    b"\xc3",
    b"\0",
    b"\xef\xbf\xbe",
    b"HISTFAAA",
    b"#[StartTime: ",
    b"#[BaseTime: ",
    b"Tag=",
    b"req.",
    b"flow.",
    b"{{",
    b"}}",
    b"{{params.",
    b"{{user.id}}",
    b"$.",
    b"$[\"",
    b"[0]",
    b"[[steps]]",
    b"[[setup]]",
    b"[steps.repeat]",
    b"sign_in = ",
    b"capture = { x = \"$.a\" }",
];

/// One edit of a seed. Positions wrap around the current length.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Edit {
    /// Replaces one byte.
    Set {
        /// Where.
        at: u16,
        /// The new byte.
        byte: u8,
    },
    /// Inserts bytes.
    Insert {
        /// Where.
        at: u16,
        /// What.
        bytes: Vec<u8>,
    },
    /// Inserts a token of the formats.
    Token {
        /// Where.
        at: u16,
        /// Which ([`TOKENS`], wrapping).
        token: u8,
    },
    /// Removes a run of bytes.
    Remove {
        /// Where.
        at: u16,
        /// How many.
        len: u8,
    },
    /// Copies a run of the input over another place (repeats a table, a line).
    Duplicate {
        /// From where.
        from: u16,
        /// To where.
        to: u16,
        /// How many bytes.
        len: u16,
    },
    /// Cuts the input short.
    Truncate {
        /// Where.
        at: u16,
    },
}

/// A seed and the edits made to it.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Input {
    /// Which seed (wrapping).
    pub seed: u16,
    /// The edits, in order.
    pub edits: Vec<Edit>,
}

fn wrap(at: u16, len: usize) -> usize {
    if len == 0 { 0 } else { at as usize % (len + 1) }
}

impl Edit {
    fn apply(&self, out: &mut Vec<u8>) {
        let len = out.len();
        match self {
            Edit::Set { at, byte } if len > 0 => out[*at as usize % len] = *byte,
            Edit::Set { .. } => out.push(0),
            Edit::Insert { at, bytes } => {
                let at = wrap(*at, len);
                out.splice(at..at, bytes.iter().copied());
            }
            Edit::Token { at, token } => {
                let at = wrap(*at, len);
                let token = TOKENS[*token as usize % TOKENS.len()];
                out.splice(at..at, token.iter().copied());
            }
            Edit::Remove { at, len: n } => {
                let at = wrap(*at, len);
                let end = (at + *n as usize).min(len);
                out.drain(at..end);
            }
            Edit::Duplicate { from, to, len: n } => {
                let from = wrap(*from, len);
                let end = (from + *n as usize).min(len);
                let run: Vec<u8> = out[from..end].to_vec();
                let to = wrap(*to, len);
                out.splice(to..to, run);
            }
            Edit::Truncate { at } => out.truncate(wrap(*at, len)),
        }
    }
}

impl Input {
    /// The bytes of this input over `seeds` (an empty seed when there are none).
    pub fn bytes(&self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut out = match seeds.len() {
            0 => Vec::new(),
            n => seeds[self.seed as usize % n].clone(),
        };
        for edit in &self.edits {
            edit.apply(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_in_bounds_and_change_the_seed() {
        let seeds = vec![b"name = \"x\"\n".to_vec()];
        let input = Input {
            seed: 7,
            edits: vec![
                Edit::Token { at: 3, token: 0 },
                Edit::Remove {
                    at: 60000,
                    len: 200,
                },
                Edit::Duplicate {
                    from: 2,
                    to: 9999,
                    len: 5000,
                },
                Edit::Set {
                    at: 65535,
                    byte: b'!',
                },
                Edit::Truncate { at: 4 },
            ],
        };
        let out = input.bytes(&seeds);
        assert_eq!(out.len(), 4);
        assert!(
            Input {
                seed: 0,
                edits: vec![]
            }
            .bytes(&[])
            .is_empty()
        );
    }
}
