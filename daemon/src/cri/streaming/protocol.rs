//! Sub-protocol negotiation, as `httpstream.Handshake` does it: the client lists what it
//! speaks (`X-Stream-Protocol-Version` for SPDY, `Sec-WebSocket-Protocol` for WebSockets,
//! repeated or comma-separated, best first) and the first one we also speak wins.

/// remotecommand over SPDY: v4 (JSON status on the error stream) down to v1.
pub const SPDY_REMOTECOMMAND: &[&str] = &[V4, V3, V2, V1];
pub const SPDY_PORTFORWARD: &[&str] = &[PORTFORWARD];
/// remotecommand over WebSockets (v5 adds the stream-close signal; base64 for text clients).
pub const WS_REMOTECOMMAND: &[&str] = &[V5, V4, V4_BASE64, V1_BASE64, V1];
/// Port-forward over WebSockets: SPDY tunnelled in binary messages (kubectl ≥ 1.30, critest
/// `-websocket-portforward`); the older channel protocol with `?port=` is not served.
pub const WS_PORTFORWARD: &[&str] = &[SPDY_TUNNEL];

pub const V1: &str = "channel.k8s.io";
pub const V2: &str = "v2.channel.k8s.io";
pub const V3: &str = "v3.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";
pub const V5: &str = "v5.channel.k8s.io";
pub const V4_BASE64: &str = "v4.base64.channel.k8s.io";
pub const V1_BASE64: &str = "base64.channel.k8s.io";
pub const PORTFORWARD: &str = "portforward.k8s.io";
pub const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

/// How an exec or attach session talks, once negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// v4+: the error stream carries a metav1.Status as JSON (else the bare message).
    pub json_status: bool,
    /// v3+: a resize stream exists.
    pub resize: bool,
    /// v5 (WebSockets): channel 255 closes a stream.
    pub close_signal: bool,
    /// WebSocket base64 variants: text messages, channel as an ASCII digit.
    pub base64: bool,
}

impl Version {
    pub fn of(name: &str) -> Version {
        let n = match name {
            V5 => 5,
            V4 | V4_BASE64 => 4,
            V3 => 3,
            V2 => 2,
            _ => 1,
        };
        Version {
            json_status: n >= 4,
            resize: n >= 3,
            close_signal: n >= 5,
            base64: name == V4_BASE64 || name == V1_BASE64,
        }
    }
}

/// The client offered protocols, none of them ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoCommonProtocol;

/// The first protocol the client offers that we support; `Ok(None)` when it offers none
/// (old clients: v1), `Err` when nothing it offers is ours.
pub fn negotiate<I, S>(
    offered: I,
    ours: &[&'static str],
) -> Result<Option<&'static str>, NoCommonProtocol>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut any = false;
    for line in offered {
        for p in line
            .as_ref()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            any = true;
            if let Some(ours) = ours.iter().find(|o| o.eq_ignore_ascii_case(p)) {
                return Ok(Some(ours));
            }
        }
    }
    if any {
        Err(NoCommonProtocol)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_first_supported_choice_wins() {
        let offered = ["v5.channel.k8s.io", "v4.channel.k8s.io, v3.channel.k8s.io"];
        assert_eq!(negotiate(offered, SPDY_REMOTECOMMAND), Ok(Some(V4)));
        assert_eq!(negotiate([V2, V4], SPDY_REMOTECOMMAND), Ok(Some(V2)));
        assert_eq!(negotiate([V5, V4], WS_REMOTECOMMAND), Ok(Some(V5)));
        assert_eq!(
            negotiate(["portforward.k8s.io"], SPDY_PORTFORWARD),
            Ok(Some(PORTFORWARD))
        );
    }

    #[test]
    fn nothing_offered_is_v1_and_nothing_shared_is_refused() {
        assert_eq!(
            negotiate(Vec::<String>::new(), SPDY_REMOTECOMMAND),
            Ok(None)
        );
        assert_eq!(negotiate(["", " "], SPDY_REMOTECOMMAND), Ok(None));
        assert_eq!(
            negotiate(["v9.channel.k8s.io"], SPDY_REMOTECOMMAND),
            Err(NoCommonProtocol)
        );
    }

    #[test]
    fn versions_differ_in_status_resize_and_close() {
        let v4 = Version::of(V4);
        assert!(v4.json_status && v4.resize && !v4.close_signal && !v4.base64);
        assert!(Version::of(V5).close_signal);
        assert!(!Version::of(V2).json_status && !Version::of(V2).resize);
        assert!(Version::of(V4_BASE64).base64);
    }
}
