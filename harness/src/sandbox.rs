//! Isolation of one case: a network namespace of its own (a fresh loopback, so hard-coded
//! `127.0.0.1:8080` servers never collide and leave no `TIME_WAIT` behind for the next case)
//! and a pid namespace (the implementation is its init: when it dies, everything it started
//! dies with it, even a child that left its process group with `setsid`).
//!
//! Both are entered by the thread that runs the case, with `unshare`; its children inherit
//! them, other threads keep theirs. A thread that unshared the pid namespace can spawn one
//! child (the namespace's init) and no more threads, so the engine is single-threaded per
//! case and spawns the implementation once.
//!
//! Where namespaces are unavailable (no privilege), cases share the host's loopback: cases
//! on the same address then take a file lock on it and run one at a time.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// How a case is isolated.
#[derive(Debug)]
pub enum Isolation {
    /// Private network and pid namespaces.
    Namespaces,
    /// The host's network, serialised per address by a lock held until the case ends.
    Shared { why: String, _lock: File },
}

impl Isolation {
    pub fn is_private(&self) -> bool {
        matches!(self, Isolation::Namespaces)
    }

    /// A sentence for the report when the case is not isolated.
    pub fn note(&self) -> Option<String> {
        match self {
            Isolation::Namespaces => None,
            Isolation::Shared { why, .. } => Some(why.clone()),
        }
    }
}

/// The command line's switch (`SOCKCHECK_NO_NAMESPACES=1`) that forces the fallback; the
/// library itself only ever takes a [`Policy`] value.
pub const NO_NAMESPACES_ENV: &str = "SOCKCHECK_NO_NAMESPACES";

/// How a case may be isolated: chosen once by the caller and passed in, never read from
/// the environment behind its back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Namespaces where the privilege allows, the shared network otherwise.
    #[default]
    Auto,
    /// The shared network, as in a container without namespaces.
    Shared,
}

impl Policy {
    /// The policy the environment asks for (the command line reads it once).
    pub fn from_env() -> Policy {
        if std::env::var_os(NO_NAMESPACES_ENV).is_some_and(|v| v == "1") {
            Policy::Shared
        } else {
            Policy::Auto
        }
    }
}

/// Moves the calling thread into fresh network and pid namespaces with loopback up, or
/// (where that is not allowed, or `policy` says so) takes the lock of `addr` on the shared
/// network.
pub fn enter(addr: SocketAddr, policy: Policy) -> io::Result<Isolation> {
    if policy == Policy::Shared {
        return shared(addr, "the shared network was asked for".to_string());
    }
    // SAFETY: unshare only changes this thread's namespaces.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWPID) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return shared(addr, format!("namespaces unavailable ({err})"));
    }
    loopback_up()?;
    Ok(Isolation::Namespaces)
}

fn shared(addr: SocketAddr, reason: String) -> io::Result<Isolation> {
    let path = lock_path(addr);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    lock.lock()?;
    Ok(Isolation::Shared {
        why: format!(
            "not isolated: {reason}; cases on `{addr}` ran one at a time (lock `{}`), and a \
             process that left its process group could not be tracked",
            path.display()
        ),
        _lock: lock,
    })
}

fn lock_path(addr: SocketAddr) -> PathBuf {
    let name = format!("sockcheck-{}-{}.lock", addr.ip(), addr.port()).replace(':', "_");
    std::env::temp_dir().join(name)
}

/// Raises `lo` in the current network namespace (a new one starts with it down).
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket and ioctl calls on a zeroed `ifreq` that names `lo`; the fd is
    // closed on every path.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            result = Err(io::Error::last_os_error());
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                result = Err(io::Error::last_os_error());
            }
        }
        libc::close(fd);
        result
    }
}

/// The TCP sockets listening in the calling thread's network namespace (in a private
/// namespace: exactly the implementation's).
pub fn tcp_listeners() -> Vec<SocketAddr> {
    let mut found = Vec::new();
    for (file, v6) in [
        ("/proc/thread-self/net/tcp", false),
        ("/proc/thread-self/net/tcp6", true),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            found.extend(parse_proc_net(&text, v6, "0A"));
        }
    }
    found
}

/// The UDP sockets bound in the calling thread's network namespace (`/proc/net/udp{,6}`
/// lists them in state 07), whatever their address.
pub fn udp_sockets() -> Vec<SocketAddr> {
    let mut found = Vec::new();
    for (file, v6) in [
        ("/proc/thread-self/net/udp", false),
        ("/proc/thread-self/net/udp6", true),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            found.extend(parse_proc_net(&text, v6, "07"));
        }
    }
    found
}

/// How many datagrams reached a UDP port of this network namespace where no socket was
/// bound (the kernel's `Udp: NoPorts` counter, each answered with ICMP port unreachable).
pub fn udp_no_ports() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp").ok()?;
    parse_udp_no_ports(&text)
}

fn parse_udp_no_ports(text: &str) -> Option<u64> {
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next()?;
    let values = udp.next()?;
    let column = names.split_whitespace().position(|n| n == "NoPorts")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// Parses `/proc/net/tcp{,6}` and keeps the local addresses of sockets in `state` (hex).
fn parse_proc_net(text: &str, v6: bool, state: &str) -> Vec<SocketAddr> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&state) {
                return None;
            }
            let (ip, port) = fields.get(1)?.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let ip = if v6 {
                let mut octets = [0u8; 16];
                for (word, chunk) in octets.chunks_mut(4).enumerate() {
                    let w = u32::from_str_radix(ip.get(word * 8..word * 8 + 8)?, 16).ok()?;
                    chunk.copy_from_slice(&w.to_le_bytes());
                }
                let v6 = Ipv6Addr::from(octets);
                v6.to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6))
            } else {
                let w = u32::from_str_radix(ip, 16).ok()?;
                IpAddr::V4(Ipv4Addr::from(w.to_le_bytes()))
            };
            Some(SocketAddr::new(ip, port))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_udp_no_ports_counter() {
        let snmp = "Tcp: RtoAlgorithm RtoMin\nTcp: 1 200\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams\nUdp: 12 3 0 15\n\
                    UdpLite: InDatagrams NoPorts\nUdpLite: 0 0\n";
        assert_eq!(parse_udp_no_ports(snmp), Some(3));
        assert_eq!(parse_udp_no_ports("Tcp: A\nTcp: 1\n"), None);
    }

    #[test]
    fn parses_listening_sockets_of_proc_net() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue\n\
   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 \n\
   1: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0 \n";
        assert_eq!(
            parse_proc_net(v4, false, "0A"),
            ["127.0.0.1:8081".parse::<SocketAddr>().unwrap()]
        );
        let v6 = "  sl  local_address\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(
            parse_proc_net(v6, true, "0A"),
            ["[::]:8080".parse::<SocketAddr>().unwrap()]
        );
    }
}
