//! The local terminal: raw mode for `-it` sessions and the window size.
//!
//! [`RawMode`] restores the saved settings when dropped, so every way out of a session (return,
//! `?`, panic unwind) restores the terminal; the session loop turns SIGTERM/SIGHUP into a return
//! for the same reason, and `main` only calls `process::exit` after the session is dropped.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use nix::sys::termios::{self, SetArg, Termios};

/// `run -it` / `exec -it` with stdin redirected: Docker refuses before creating anything.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("the input device is not a TTY")]
pub(crate) struct NotATty;

/// Docker's `In.CheckTty`: a TTY with stdin attached needs stdin to be a terminal, or the
/// keys typed could not reach the container's terminal as typed.
pub(crate) fn check_tty(
    attach_stdin: bool,
    tty: bool,
    stdin_is_terminal: bool,
) -> Result<(), NotATty> {
    if tty && attach_stdin && !stdin_is_terminal {
        return Err(NotATty);
    }
    Ok(())
}

/// [`check_tty`] against the real stdin.
pub(crate) fn check_stdin_tty(attach_stdin: bool, tty: bool) -> Result<(), NotATty> {
    check_tty(attach_stdin, tty, std::io::stdin().is_terminal())
}

/// The terminal in raw mode until dropped.
#[derive(Debug)]
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode; `None` when stdin is not a terminal.
    pub(crate) fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// (rows, cols) of the terminal on stdout (or stdin), if either is one.
pub(crate) fn window_size() -> Option<(u32, u32)> {
    [libc::STDOUT_FILENO, libc::STDIN_FILENO]
        .into_iter()
        .find_map(|fd| {
            let mut ws = libc::winsize {
                ws_row: 0,
                ws_col: 0,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass, which points at a
            // live, properly aligned local; the fd is one of the process's standard streams.
            let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
            (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0)
                .then(|| (u32::from(ws.ws_row), u32::from(ws.ws_col)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tty_with_stdin_needs_a_terminal() {
        assert_eq!(check_tty(true, true, false), Err(NotATty));
        assert_eq!(NotATty.to_string(), "the input device is not a TTY");
        assert_eq!(check_tty(true, true, true), Ok(()));
        assert_eq!(check_tty(false, true, false), Ok(()), "-t alone");
        assert_eq!(check_tty(true, false, false), Ok(()), "-i alone");
    }
}
