//! What the error stream says when a session ends. v4+ clients read a metav1.Status as JSON
//! (`Success`; `Failure` with reason `NonZeroExitCode` and an `ExitCode` cause, which
//! kubectl turns into its own exit code; or `Failure` with a message); v1–v3 read the bare
//! message, and nothing at all on success.

use serde_json::json;

/// How the session's process ended, or why it could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Failed(String),
}

/// The bytes to write on the error stream (empty: write nothing).
pub fn encode(outcome: &Outcome, json_status: bool) -> Vec<u8> {
    let v = match outcome {
        Outcome::Exited(0) if json_status => json!({"metadata": {}, "status": "Success"}),
        Outcome::Exited(0) => return Vec::new(),
        Outcome::Exited(code) => {
            let message = format!("command terminated with non-zero exit code: exit status {code}");
            if !json_status {
                return message.into_bytes();
            }
            json!({
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            })
        }
        Outcome::Failed(msg) if !json_status => return msg.clone().into_bytes(),
        Outcome::Failed(msg) => json!({
            "metadata": {},
            "status": "Failure",
            "message": msg,
            "reason": "InternalError",
            "code": 500,
        }),
    };
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn v4_says_success_or_the_exit_code() {
        assert_eq!(
            parse(&encode(&Outcome::Exited(0), true))["status"],
            "Success"
        );
        let v = parse(&encode(&Outcome::Exited(3), true));
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(v["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(v["details"]["causes"][0]["message"], "3");
        let v = parse(&encode(&Outcome::Failed("no such container".into()), true));
        assert_eq!(v["message"], "no such container");
    }

    #[test]
    fn older_versions_get_bare_messages() {
        assert!(encode(&Outcome::Exited(0), false).is_empty());
        assert_eq!(encode(&Outcome::Failed("x".into()), false), b"x");
        assert!(String::from_utf8(encode(&Outcome::Exited(2), false))
            .unwrap()
            .contains("exit status 2"));
    }
}
