//! Terminals. The runtime allocates the pty inside the container and hands the master back
//! over `--console-socket`: a unix socket the shim listens on, receiving one message whose
//! SCM_RIGHTS payload is the master fd. The shim then owns the master for the process's life:
//! it reads output from it, writes stdin to it and sets the window size on it.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::cmsg_space;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::Winsize;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tokio::io::unix::AsyncFd;
use tokio::net::UnixListener;

use crate::error::{Error, Result};

/// How long to wait for the runtime to send the master after `create`/`exec` returned.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening console socket; removed from disk when dropped.
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Listen at `path` (replacing a stale socket file).
    pub fn bind(path: &Path) -> Result<Self> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(Error::io("bind console socket", path))?;
        Ok(Self {
            path: path.to_owned(),
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept the runtime's connection and take the pty master it sends.
    pub async fn receive_master(&self) -> Result<Master> {
        let recv = async {
            let (stream, _) = self.listener.accept().await?;
            loop {
                stream.readable().await?;
                match stream.try_io(tokio::io::Interest::READABLE, || {
                    recv_fd(stream.as_raw_fd())
                }) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            }
        };
        let fd = tokio::time::timeout(RECEIVE_TIMEOUT, recv)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))
            .and_then(|r| r)
            .map_err(Error::io("receive pty master from", &self.path))?;
        Master::new(fd)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Receive one message carrying exactly one fd.
fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table for us; nobody else
                // owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "console socket message carried no fd",
    ))
}

/// The master side of a container's pty, non-blocking and registered with tokio.
#[derive(Debug)]
pub struct Master {
    fd: AsyncFd<std::fs::File>,
}

impl Master {
    fn new(fd: OwnedFd) -> Result<Self> {
        let flags = fcntl(&fd, FcntlArg::F_GETFL).map_err(Error::sys("fcntl(F_GETFL) pty"))?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&fd, FcntlArg::F_SETFL(flags)).map_err(Error::sys("fcntl(F_SETFL) pty"))?;
        // SAFETY: the File owns the fd for as long as the AsyncFd lives and never swaps it.
        let fd = unsafe { AsyncFd::register(std::fs::File::from(fd)) }
            .map_err(|e| Error::io("register pty", "pty")(e.into()))?;
        Ok(Self { fd })
    }

    /// Read output; `Ok(0)` once the slave side is closed (the kernel says EIO).
    pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|f| (&mut f.get_ref()).read(buf)) {
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Write all of `data` (stdin).
    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|f| (&mut f.get_ref()).write(data)) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Set the window size (TIOCSWINSZ); the process gets SIGWINCH.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let ws = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `struct winsize` from the pointer, which is valid for
        // the duration of the call; the fd is a pty master we own.
        let rc = unsafe { libc::ioctl(self.fd.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        if rc < 0 {
            return Err(Error::sys("ioctl(TIOCSWINSZ)")(nix::Error::last()));
        }
        Ok(())
    }
}
