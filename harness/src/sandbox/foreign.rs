//! Naming what stands in a case's way on the shared network: a listener, a datagram
//! socket or a connection of another process on the case's address, with its owner.

use super::*;

/// A program listening on `addr` in the calling thread's network namespace, described by
/// its pid and command line where `/proc` shows them.
pub fn foreign_listener(addr: SocketAddr) -> Option<String> {
    let sockets = proc_net_tcp();
    let found = sockets
        .iter()
        .find(|s| s.state == LISTEN && s.local.port() == addr.port() && same_ip(s.local, addr))?;
    Some(describe_owner(found.inode))
}

/// "pid N, `command line`" of the process holding socket `inode`, where `/proc` shows it.
pub(super) fn describe_owner(inode: u64) -> String {
    match owner_of(inode) {
        Some((pid, cmdline)) => format!("pid {pid}, `{cmdline}`"),
        None => UNSEEN.to_string(),
    }
}

/// How a holder that `/proc` does not show is described.
pub(super) const UNSEEN: &str = "a process this user cannot see";

/// A UDP socket bound on `addr` (UDP leaves nothing behind a closed socket, so any is a
/// live program's), described as [`foreign_listener`] does.
pub(super) fn foreign_datagram_socket(addr: SocketAddr) -> Option<String> {
    let sockets = proc_net_udp();
    let found = sockets
        .iter()
        .find(|s| s.local.port() == addr.port() && same_ip(s.local, addr))?;
    Some(describe_owner(found.inode))
}

/// A connection on `addr` that a live process owns (the harness holds no socket between
/// cases), described as [`foreign_listener`] does.
pub(super) fn foreign_connection(addr: SocketAddr) -> Option<String> {
    let sockets = proc_net_tcp();
    let found = sockets.iter().find(|s| {
        s.state != LISTEN && s.inode != 0 && s.local.port() == addr.port() && same_ip(s.local, addr)
    })?;
    Some(match owner_of(found.inode) {
        Some((pid, cmdline)) => format!("pid {pid}, `{cmdline}`, to `{}`", found.remote),
        None => format!("{UNSEEN}, to `{}`", found.remote),
    })
}

pub(super) fn same_ip(local: SocketAddr, addr: SocketAddr) -> bool {
    local.ip() == addr.ip() || local.ip().is_unspecified() || addr.ip().is_unspecified()
}

/// The pid and command line of the process holding socket `inode`.
pub(super) fn owner_of(inode: u64) -> Option<(u32, String)> {
    if inode == 0 {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if socket_inodes(&[pid]).contains(&inode) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline)
                .trim_end_matches('\0')
                .replace('\0', " ");
            return Some((pid, cmdline));
        }
    }
    None
}
