//! Reading `/proc/net` and `/proc/<pid>/fd`: the sockets of the namespace, whose they
//! are, and the UDP `NoPorts` counter. The listeners and single connections are asked of
//! sock_diag first (`diag`), which costs the kernel far less.

use super::*;

pub(super) const LISTEN: u8 = 0x0A;
/// TIME_WAIT, FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK: states that keep the local port bound.
pub(super) const LEFTOVER_STATES: [u8; 5] = [0x06, 0x04, 0x05, 0x0B, 0x09];

/// One line of `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ProcSocket {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) state: u8,
    pub(super) inode: u64,
}

pub(super) fn proc_net_tcp() -> Vec<ProcSocket> {
    let mut found = Vec::new();
    for (file, v6) in [
        ("/proc/thread-self/net/tcp", false),
        ("/proc/thread-self/net/tcp6", true),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            found.extend(parse_proc_net(&text, v6));
        }
    }
    unique(found)
}

/// The kernel reads its socket tables for `/proc/net` a page at a time, and a socket that
/// moves in the table between two reads is listed twice (seen: one `TIME_WAIT` twice,
/// purged and reported twice). A socket is one line here.
fn unique(sockets: Vec<ProcSocket>) -> Vec<ProcSocket> {
    let mut seen = std::collections::HashSet::new();
    sockets
        .into_iter()
        .filter(|s| seen.insert((s.local, s.remote, s.state, s.inode)))
        .collect()
}

/// Whether the calling thread's network namespace lists a TCP socket from `local` to
/// `remote`, in any state.
pub fn connection_listed(local: SocketAddr, remote: SocketAddr) -> bool {
    diag::connection_exists(local, remote).unwrap_or_else(|_| {
        proc_net_tcp()
            .iter()
            .any(|s| s.local == local && s.remote == remote)
    })
}

/// The TCP sockets listening in the calling thread's network namespace (in a private
/// namespace: exactly the implementation's).
pub fn tcp_listeners() -> Vec<SocketAddr> {
    listening().into_iter().map(|l| l.local).collect()
}

/// The namespace's listeners, from sock_diag where the kernel answers it, else from `/proc`.
fn listening() -> Vec<diag::Listener> {
    diag::tcp_listeners().unwrap_or_else(|_| {
        proc_net_tcp()
            .into_iter()
            .filter(|s| s.state == LISTEN)
            .map(|s| diag::Listener {
                local: s.local,
                inode: s.inode,
            })
            .collect()
    })
}

/// The TCP sockets listening that process `root` or one of its descendants holds: on the
/// shared network, the program's own (its processes descend from the case's init, which
/// is a subreaper, so even a daemon's do).
pub fn listeners_of(root: u32) -> Vec<SocketAddr> {
    let inodes = socket_inodes(&descendants(root));
    listening()
        .into_iter()
        .filter(|l| inodes.contains(&l.inode))
        .map(|l| l.local)
        .collect()
}

/// `root` and every process that descends from it, from the parent pids in `/proc`.
pub(super) fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let ppid = stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found
}

/// The inodes of the sockets processes `pids` hold open.
pub(super) fn socket_inodes(pids: &[u32]) -> Vec<u64> {
    let mut inodes = Vec::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy();
            if let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|i| i.parse().ok())
            {
                inodes.push(inode);
            }
        }
    }
    inodes
}

/// The UDP sockets bound in the calling thread's network namespace (`/proc/net/udp{,6}`),
/// whatever their address.
pub fn udp_sockets() -> Vec<SocketAddr> {
    proc_net_udp().into_iter().map(|s| s.local).collect()
}

pub(super) fn proc_net_udp() -> Vec<ProcSocket> {
    let mut found = Vec::new();
    for (file, v6) in [
        ("/proc/thread-self/net/udp", false),
        ("/proc/thread-self/net/udp6", true),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            // Every state: a socket that connect()ed shows as established, not as 07.
            found.extend(parse_proc_net(&text, v6));
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

pub(super) fn parse_udp_no_ports(text: &str) -> Option<u64> {
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next()?;
    let values = udp.next()?;
    let column = names.split_whitespace().position(|n| n == "NoPorts")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// Parses `/proc/net/tcp{,6}`.
pub(super) fn parse_proc_net(text: &str, v6: bool) -> Vec<ProcSocket> {
    let addr = |field: &str| -> Option<SocketAddr> {
        let (ip, port) = field.split_once(':')?;
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
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(ProcSocket {
                local: addr(fields.get(1)?)?,
                remote: addr(fields.get(2)?)?,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                inode: fields.get(9).and_then(|i| i.parse().ok()).unwrap_or(0),
            })
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
    fn a_socket_listed_twice_is_one_socket() {
        let line =
            "   0: 0100007F:1F90 0100007F:A000 06 00000000:00000000 00:00000000 00000000     0 \n";
        let text = format!("  sl  local_address rem_address   st\n{line}{line}");
        let twice = parse_proc_net(&text, false);
        assert_eq!(twice.len(), 2);
        assert_eq!(unique(twice).len(), 1);
    }

    #[test]
    fn parses_listening_sockets_of_proc_net() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue\n\
   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 \n\
   1: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0 \n";
        let parsed = parse_proc_net(v4, false);
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[0].local,
            "127.0.0.1:8081".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parsed[0].state, LISTEN);
        assert_eq!(
            parsed[1].remote,
            "127.0.0.1:40960".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parsed[1].state, 1);
        let v6 = "  sl  local_address\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0\n";
        let parsed = parse_proc_net(v6, true);
        assert_eq!(parsed[0].local, "[::]:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(parsed[0].state, LISTEN);
    }
}
