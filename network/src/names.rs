//! Docker's rule for the names of containers and networks.

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is accepted and dropped).
pub fn valid_name(name: &str) -> Option<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = n.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    (first_ok && rest_ok).then(|| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rules() {
        assert_eq!(valid_name("/web").as_deref(), Some("web"));
        assert_eq!(valid_name("a.b_c-d").as_deref(), Some("a.b_c-d"));
        for bad in ["", "a", "-x", "x y", "x/y", "_x"] {
            assert!(valid_name(bad).is_none(), "{bad}");
        }
    }
}
