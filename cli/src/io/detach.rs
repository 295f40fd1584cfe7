//! The detach-key matcher: stdin bytes in, (bytes for the container, detach?) out.
//!
//! Unlike Docker (moby#12510), a partial escape sequence is not swallowed: the matched prefix is
//! held back and, as soon as a byte does not continue the sequence, released unchanged ahead of
//! it. So a lone Ctrl-P followed by `a` reaches the process as Ctrl-P `a`. A sequence may be split
//! across reads; the held prefix survives between calls. Invariant: `held < keys.len()`, and the
//! held bytes are exactly `keys[..held]`.

/// Docker's default, Ctrl-P Ctrl-Q.
pub(crate) const DEFAULT_KEYS: &[u8] = &[0x10, 0x11];

#[derive(Debug, thiserror::Error)]
#[error("Invalid detach keys ({0}) provided")]
pub(crate) struct InvalidDetachKeys(String);

/// Docker's `term.ToBytes`: comma-separated single characters or `ctrl-X` (X in `a`-`z`, `@`,
/// `[`, `\`, `]`, `^`, `_`).
pub(crate) fn parse_keys(spec: &str) -> Result<Vec<u8>, InvalidDetachKeys> {
    let bad = || InvalidDetachKeys(spec.to_string());
    let mut out = Vec::new();
    for key in spec.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let rest = lower.strip_prefix("ctrl-").ok_or_else(bad)?;
        let code = match rest.as_bytes() {
            [c @ b'a'..=b'z'] => c - b'a' + 1,
            [b'@'] => 0,
            [b'['] => 27,
            [b'\\'] => 28,
            [b']'] => 29,
            [b'^'] => 30,
            [b'_'] => 31,
            _ => return Err(bad()),
        };
        out.push(code);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The result of feeding one read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Fed {
    /// Bytes to send to the container now.
    pub(crate) forward: Vec<u8>,
    /// The full sequence was typed; anything after it in the read is dropped.
    pub(crate) detach: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct DetachMatcher {
    keys: Vec<u8>,
    held: usize,
}

impl DetachMatcher {
    /// `keys` must not be empty (an empty sequence would detach at once).
    pub(crate) fn new(keys: Vec<u8>) -> Self {
        assert!(!keys.is_empty(), "detach keys are never empty");
        DetachMatcher { keys, held: 0 }
    }

    pub(crate) fn feed(&mut self, input: &[u8]) -> Fed {
        let mut forward = Vec::with_capacity(input.len());
        for &b in input {
            if self.step(b, &mut forward) {
                return Fed {
                    forward,
                    detach: true,
                };
            }
        }
        Fed {
            forward,
            detach: false,
        }
    }

    /// At stdin EOF: whatever prefix is held goes to the container after all.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let out = self.keys[..self.held].to_vec();
        self.held = 0;
        out
    }

    /// Advances by one byte; true when the sequence completes.
    fn step(&mut self, b: u8, forward: &mut Vec<u8>) -> bool {
        if b == self.keys[self.held] {
            self.held += 1;
            if self.held == self.keys.len() {
                self.held = 0;
                return true;
            }
            return false;
        }
        if self.held == 0 {
            forward.push(b);
            return false;
        }
        // Mismatch: release the first held byte, then re-scan the rest of the held prefix and
        // `b` from the start, since a later suffix may itself begin the sequence
        // (Ctrl-P Ctrl-P Ctrl-Q forwards one Ctrl-P, then detaches).
        let mut replay = self.keys[1..self.held].to_vec();
        replay.push(b);
        forward.push(self.keys[0]);
        self.held = 0;
        replay.into_iter().any(|r| self.step(r, forward))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u8 = 0x10;
    const Q: u8 = 0x11;

    fn feed_all(m: &mut DetachMatcher, reads: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        for r in reads {
            let fed = m.feed(r);
            out.extend(fed.forward);
            if fed.detach {
                return (out, true);
            }
        }
        (out, false)
    }

    /// keys, reads, bytes forwarded, detached?
    type Case<'a> = (&'a [u8], &'a [&'a [u8]], &'a [u8], bool);

    #[test]
    fn table() {
        let cases: &[Case] = &[
            (DEFAULT_KEYS, &[&[P, Q]], &[], true),
            (DEFAULT_KEYS, &[b"ab", &[P, Q], b"zz"], b"ab", true),
            (DEFAULT_KEYS, &[&[P, b'a']], &[P, b'a'], false),
            (DEFAULT_KEYS, &[&[P], b"a"], &[P, b'a'], false),
            (DEFAULT_KEYS, &[&[P], &[Q]], &[], true),
            (DEFAULT_KEYS, &[&[P, P, Q]], &[P], true),
            (DEFAULT_KEYS, &[&[P], &[P], b"x"], &[P, P, b'x'], false),
            (DEFAULT_KEYS, &[&[Q, P]], &[Q], false),
            (&[1], &[b"x", &[1]], b"x", true),
            (b"abc", &[b"aabx"], b"aabx", false),
            (b"abc", &[b"aab", b"c"], b"a", true),
            (b"aab", &[b"aaab"], b"a", true),
        ];
        for (i, (keys, reads, want, detach)) in cases.iter().enumerate() {
            let mut m = DetachMatcher::new(keys.to_vec());
            assert_eq!(
                feed_all(&mut m, reads),
                (want.to_vec(), *detach),
                "case {i}"
            );
        }
    }

    #[test]
    fn held_prefix_is_flushed_at_eof() {
        let mut m = DetachMatcher::new(DEFAULT_KEYS.to_vec());
        assert_eq!(m.feed(b"hi\x10").forward, b"hi");
        assert_eq!(m.finish(), vec![P]);
        assert_eq!(m.finish(), Vec::<u8>::new());
    }

    #[test]
    fn parses_docker_key_syntax() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").ok(), Some(vec![P, Q]));
        assert_eq!(parse_keys("ctrl-a").ok(), Some(vec![1]));
        assert_eq!(parse_keys("ctrl-@,a,Z").ok(), Some(vec![0, b'a', b'Z']));
        assert_eq!(
            parse_keys("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_").ok(),
            Some(vec![27, 28, 29, 30, 31])
        );
        assert_eq!(parse_keys("CTRL-X").ok(), Some(vec![24]));
        for bad in ["", "ctrl-", "ctrl-1", "ab", "ctrl-p,", "alt-x"] {
            assert!(parse_keys(bad).is_err(), "{bad}");
        }
    }
}
