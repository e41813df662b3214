//! The TCP sockets of the calling thread's network namespace asked of the kernel through
//! sock_diag(7): the listeners (a dump of the one state), and whether one connection is
//! still there (a lookup by its two addresses).
//!
//! Why not `/proc/net/tcp`: to list a namespace's sockets the kernel walks its whole
//! connection hash table, which a case's namespace shares with the host's (262144 buckets
//! here), once per read call and per file: about 1.6 ms of CPU a look, a fifth of the
//! corpus's CPU when every connect and every reset looked that way. A dump of listeners
//! only walks the listening table, and a lookup is one hash probe. Where the kernel has
//! no sock_diag (its module cannot load in some containers) these give an error and the
//! caller reads `/proc` instead.

use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

/// A listening socket: where it listens, and its inode (to tell whose it is).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Listener {
    pub(super) local: SocketAddr,
    pub(super) inode: u64,
}

/// The TCP sockets listening in this namespace, IPv4 and IPv6 (a v4-mapped address is
/// given as IPv4, as `/proc` parsing gives it).
pub(super) fn tcp_listeners() -> io::Result<Vec<Listener>> {
    let mut found = Vec::new();
    for family in [AF_INET, AF_INET6] {
        let request = InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::LISTEN,
            socket_id: if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            },
        };
        found.extend(ask(request, true)?.into_iter().map(|s| Listener {
            local: plain(SocketAddr::new(
                s.socket_id.source_address,
                s.socket_id.source_port,
            )),
            inode: u64::from(s.inode),
        }));
    }
    Ok(found)
}

/// Whether this namespace holds a TCP socket from `local` to `remote`, in any state
/// (`TIME_WAIT` included, as the kernel's lookup finds those too; `LISTEN` not, which has
/// no remote address).
pub(super) fn connection_exists(local: SocketAddr, remote: SocketAddr) -> io::Result<bool> {
    let family = match local.ip() {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    };
    let request = InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::all(),
        socket_id: SocketId {
            source_port: local.port(),
            destination_port: remote.port(),
            source_address: local.ip(),
            destination_address: remote.ip(),
            interface_id: 0,
            // INET_DIAG_NOCOOKIE: any socket with these addresses, whatever its cookie.
            cookie: [0xff; 8],
        },
    };
    // The kernel's lookup falls back to a listener on `local` when no connection matches:
    // that one is not the connection.
    let is_it = |s: &InetResponseHeader| {
        plain(SocketAddr::new(
            s.socket_id.destination_address,
            s.socket_id.destination_port,
        )) == plain(remote)
    };
    match ask(request, false) {
        Ok(found) => Ok(found.iter().any(is_it)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sends one request and collects the sockets of its answer: a dump ends with `DONE`, a
/// lookup answers one socket or an error.
fn ask(request: InetRequest, dump: bool) -> io::Result<Vec<InetResponseHeader>> {
    let socket = Socket::new(NETLINK_SOCK_DIAG)?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
    let mut packet = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes);
    socket.send_to(&bytes, &netlink_sys::SocketAddr::new(0, 0), 0)?;

    let mut found = Vec::new();
    // The kernel fills a dump's answers up to its page-sized buffer; 32 KiB holds one.
    let mut answer = vec![0u8; 32 * 1024];
    loop {
        let size = socket.recv(&mut &mut answer[..], 0)?;
        let mut rest = &answer[..size];
        while !rest.is_empty() {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(rest)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(socket)) => {
                    found.push(socket.header);
                    if !dump {
                        return Ok(found);
                    }
                }
                NetlinkPayload::Done(_) => return Ok(found),
                NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                _ => {}
            }
            // Messages are padded to 4 bytes.
            let length = (message.header.length as usize).next_multiple_of(4);
            if length == 0 || length > rest.len() {
                break;
            }
            rest = &rest[length..];
        }
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sock_diag ended its answer without DONE",
            ));
        }
    }
}

/// A v4-mapped IPv6 address as the IPv4 one, as the rest of the harness compares them.
fn plain(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    fn inode_of(fd: std::os::fd::RawFd) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        let link = link.to_string_lossy();
        link.trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse()
            .unwrap()
    }

    #[test]
    fn lists_a_listener_with_its_inode_and_finds_a_connection_until_it_is_gone() {
        use std::os::fd::AsRawFd;
        let Ok(listeners) = tcp_listeners() else {
            println!("SKIPPED here: this kernel answers no sock_diag request");
            return;
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(!listeners.iter().any(|l| l.local == addr));
        let now = tcp_listeners().unwrap();
        let ours = now.iter().find(|l| l.local == addr).expect("our listener");
        assert_eq!(ours.inode, inode_of(listener.as_raw_fd()));

        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (c, s) = (client.local_addr().unwrap(), server.local_addr().unwrap());
        assert!(connection_exists(s, c).unwrap());
        assert!(connection_exists(c, s).unwrap());
        let elsewhere = SocketAddr::new(c.ip(), c.port().wrapping_add(1).max(1));
        assert!(!connection_exists(s, elsewhere).unwrap());
        // Abortive closes remove both ends at once, whatever the RSTs meet on their way:
        // nothing lingers in TIME_WAIT.
        for end in [&client, &server] {
            socket2::SockRef::from(end)
                .set_linger(Some(std::time::Duration::ZERO))
                .unwrap();
        }
        drop(client);
        drop(server);
        assert!(!connection_exists(s, c).unwrap());
        assert!(!connection_exists(c, s).unwrap());
    }

    #[test]
    fn an_ipv6_listener_is_listed_too() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            println!("SKIPPED here: no IPv6 loopback");
            return;
        };
        let Ok(listeners) = tcp_listeners() else {
            println!("SKIPPED here: this kernel answers no sock_diag request");
            return;
        };
        let addr = listener.local_addr().unwrap();
        assert!(listeners.iter().any(|l| l.local == addr));
    }

    #[test]
    fn a_v4_mapped_address_is_the_ipv4_one() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        assert_eq!(plain(mapped), "127.0.0.1:8080".parse().unwrap());
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(plain(v6), v6);
    }
}
